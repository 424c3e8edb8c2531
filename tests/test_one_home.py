"""Rules with one home: option checks, run's value options, stats totals, _api's accessors,
the line sources' reading loop."""

import ast
import os
import sys
from pathlib import Path

import pytest

import infi_tracing
from infi_tracing import _api, _cli, _env, _options, _run, _signals
from infi_tracing.native import _core


def _run_settings(*words):
    parser = _cli._parser()
    args = parser.parse_args(["run", *words, "script.py"])
    return _run._settings(args, parser.run_parser)


@pytest.fixture
def small_max_buffer(monkeypatch):
    for name in _env.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_options, "MAX_BUFFER_SIZE", 1 << 20)


def test_buffer_size_bound_governs_the_api(small_max_buffer):
    """set_tracing() takes its buffer_size bound from _options."""
    with pytest.raises(ValueError, match="buffer_size must be between 65536 and 1048576"):
        infi_tracing.set_tracing(buffer_size=2 << 20)
    assert _core.backend_in_use() is None


def test_buffer_size_bound_governs_the_environment(small_max_buffer):
    """INFI_TRACING_BUFFER_SIZE takes its bound from _options."""
    with pytest.raises(ValueError, match="INFI_TRACING_BUFFER_SIZE: buffer size must be "
                                         "between 65536 and 1048576 bytes, got '2M'"):
        _env.tracing_options_from_environment({"INFI_TRACING_BUFFER_SIZE": "2M"})


def test_buffer_size_bound_governs_run(small_max_buffer, capsys):
    """run's --buffer-size takes its bound from _options."""
    with pytest.raises(SystemExit):
        _run_settings("--buffer-size", "2M")
    assert "--buffer-size: buffer size must be between 65536 and 1048576" in \
        capsys.readouterr().err


def test_unavailable_backend_is_refused_naming_the_source():
    """check_backend_available() names the option or variable and what is available."""
    missing = next(b for b in _options.BACKENDS[1:] if b not in _core.available_backends())
    with pytest.raises(ValueError, match=r"^--backend: backend '%s' is not available on "
                                         r"Python %d\.%d \(available: " % (
                                             missing, *sys.version_info[:2])):
        _options.check_backend_available(missing, "--backend")


def test_split_run_argv_takes_value_options_from_the_parser():
    """An option added to run's parser takes its value without a second list to update."""
    run_parser = _cli._parser().run_parser
    run_parser.add_argument("--new-option", metavar="VALUE")
    options, module, target, rest = _run.split_run_argv(
        ["--new-option", "value.py", "prog.py", "--x"], run_parser)
    assert (options, module, target, rest) == (["--new-option", "value.py"], None,
                                               ["prog.py"], ["--x"])


def test_stats_without_flush_adds_the_totals():
    """stats_without_flush() totals records and lost over live and exited threads."""
    stats = _api.stats_without_flush()
    exited = stats["exited_threads"]
    assert stats["records"] == sum(t["records"] for t in stats["threads"]) + exited["records"]
    assert stats["lost"] == sum(t["lost"] for t in stats["threads"]) + exited["lost"]


def test_record_stats_takes_its_totals_from_api(monkeypatch):
    """The stats signal's snapshot uses _api's totals, not a second computation."""
    real = _api.stats_without_flush

    def marked():
        stats = real()
        stats["records"] += 1000
        return stats

    monkeypatch.setattr(_api, "stats_without_flush", marked)
    monkeypatch.delenv("INFI_TRACING_STATS_FILE", raising=False)
    snapshot = _signals.record_stats(os.devnull)
    assert snapshot["records"] == real()["records"] + 1000


def test_remember_arguments_is_what_last_tracing_arguments_returns():
    """remember_arguments() sets what last_tracing_arguments() hands back, as a copy."""
    saved = _api.last_tracing_arguments()
    try:
        _api.remember_arguments({"level": infi_tracing.TRACE_FUNC_REPR})
        assert _api.last_tracing_arguments() == {"level": infi_tracing.TRACE_FUNC_REPR}
    finally:
        _api.remember_arguments(saved)


def test_environment_module_imports_neither_api_nor_signals():
    """_env sits below _api and _signals: no import (not even a deferred one) runs back up."""
    with open(_env.__file__) as source:
        tree = ast.parse(source.read())
    names = {alias.name for node in ast.walk(tree)
             if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not names & {"_api", "_signals", "infi_tracing._api", "infi_tracing._signals"}


def test_filter_from_globs_has_a_module_of_its_own():
    """The public filter_from_globs lives in _globs, not in the environment module."""
    assert infi_tracing.filter_from_globs.__module__ == "infi_tracing._globs"


def test_line_sources_share_their_reading_loop():
    """The jsonl and text sources read lines and end their input in one place (it_rline.h)."""
    native = Path(__file__).resolve().parent.parent / "infi_tracing" / "analysis" / "native"
    callers = {path.name: path.read_text().count("it_rline_next(")
               for path in native.glob("it_r*.h")}
    assert {name for name, n in callers.items() if n} == {"it_rline.h"}
    assert sum(p.read_text().count("no trace records: ") for p in native.glob("*.h")) == 1
