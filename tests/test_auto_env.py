"""Zero-code enablement: INFI_TRACING_* variables for `run` and `import infi_tracing.auto`."""

import textwrap

import pytest

from infi_tracing import _env

from helpers import read_jsonl, run_cli, run_interpreter


def _calls(trace):
    """The call records in `trace`; none if the program never wrote it."""
    return [r for r in read_jsonl(trace, missing_ok=True) if r["event"] == "call"]


PROGRAM = textwrap.dedent("""
    def double(x):
        return 2 * x
    double(21)
""")


def test_run_needs_no_options_with_the_environment(tmp_path):
    """`run script.py` takes sinks, level and globs from INFI_TRACING_* alone."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    trace = tmp_path / "trace.jsonl"
    proc = run_cli(tmp_path, "run", "prog.py", env={
        "INFI_TRACING_SINKS": "file://%s?format=jsonl" % trace,
        "INFI_TRACING_LEVEL": "primitives", "INFI_TRACING_INCLUDE": "__main__",
        "INFI_TRACING_OVERFLOW": "block", "INFI_TRACING_BUFFER_SIZE": "64K"})
    assert proc.returncode == 0, proc.stderr
    calls = [(r["qualname"], r.get("args")) for r in _calls(trace)]
    assert calls == [("<module>", None), ("double", {"x": "21"})]
    assert "sink file:%s: 4 records written" % trace in proc.stderr


def test_command_line_options_override_the_environment(tmp_path):
    """--level and --include replace their variables."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    trace = tmp_path / "trace.jsonl"
    proc = run_cli(tmp_path, "run", "--level", "name", "--include",
                  "*/prog.py", "prog.py", env={
                      "INFI_TRACING_SINKS": "file://%s?format=jsonl" % trace,
                      "INFI_TRACING_LEVEL": "repr", "INFI_TRACING_INCLUDE": "nothing_at_all"})
    assert proc.returncode == 0, proc.stderr
    calls = _calls(trace)
    assert [r["qualname"] for r in calls] == ["<module>", "double"]
    assert "args" not in calls[1]


def test_import_auto_starts_tracing_from_the_environment(tmp_path):
    """`import infi_tracing.auto` traces the rest of the program with the variables' settings."""
    trace = tmp_path / "trace.jsonl"
    proc = run_interpreter(tmp_path, "-c", "import infi_tracing.auto\n" + PROGRAM, env={
        "INFI_TRACING_SINKS": "file://%s?format=jsonl" % trace,
        "INFI_TRACING_LEVEL": "TRACE_FUNC_PRIMITIVES", "INFI_TRACING_INCLUDE": "__main__"})
    assert proc.returncode == 0, proc.stderr
    calls = [(r["qualname"], r.get("args")) for r in _calls(trace)]
    assert calls == [("double", {"x": "21"})]


def test_import_auto_does_nothing_without_sinks(tmp_path):
    """Without INFI_TRACING_SINKS, importing auto leaves tracing off (safe in sitecustomize)."""
    proc = run_interpreter(tmp_path, "-c", "import infi_tracing, infi_tracing.auto as a\n"
                  "print(a.started, infi_tracing.tracing_stats()['active'])",
                  env={"INFI_TRACING_LEVEL": "repr"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_start_no_prepares_and_toggle_starts_with_the_environment(tmp_path):
    """INFI_TRACING_START=no: nothing traced until toggle_tracing() starts the env settings."""
    trace = tmp_path / "trace.jsonl"
    proc = run_interpreter(tmp_path, "-c", textwrap.dedent("""
        import infi_tracing, infi_tracing.auto
        def before():
            pass
        def after(x):
            pass
        before()
        assert infi_tracing.toggle_tracing() is True
        after(1)
        infi_tracing.unset_tracing()
    """), env={"INFI_TRACING_SINKS": "file://%s?format=jsonl" % trace,
               "INFI_TRACING_START": "no", "INFI_TRACING_LEVEL": "primitives",
               "INFI_TRACING_INCLUDE": "__main__"})
    assert proc.returncode == 0, proc.stderr
    calls = [(r["qualname"], r.get("args")) for r in _calls(trace)]
    assert calls == [("after", {"x": "1"})]


@pytest.mark.parametrize("variable, value, fragment", [
    ("INFI_TRACING_LEVEL", "loud", "unknown trace level 'loud'"),
    ("INFI_TRACING_BACKEND", "ptrace", "must be one of"),
    ("INFI_TRACING_OVERFLOW", "wait", "must be one of drop, block"),
    ("INFI_TRACING_BUFFER_SIZE", "12Q", "bad buffer size '12Q'"),
    ("INFI_TRACING_BUFFER_SIZE", "1K", "buffer size must be between"),
    ("INFI_TRACING_GENERATORS", "maybe", "expected yes or no"),
    ("INFI_TRACING_SIGNALS", "toggle=SIGNOPE", "unknown signal 'SIGNOPE'"),
    ("INFI_TRACING_SIGNALS", "toggle=SEGV", "signal 'SEGV' reports a fault"),
    ("INFI_TRACING_CLOCK", "sundial", "must be one of auto, monotonic, got 'sundial'"),
    ("INFI_TRACING_START", "later", "expected yes or no"),
    ("INFI_TRACING_SINKS", "nosuch://x", "unknown scheme 'nosuch'"),
    ("INFI_TRACING_SINKS", "[1,", "is not valid JSON"),
])
def test_bad_variable_raises_value_error_naming_it(tmp_path, variable, value, fragment):
    """`import infi_tracing.auto` with a bad value raises ValueError naming the variable."""
    env = {"INFI_TRACING_SINKS": "file://%s" % (tmp_path / "t.log"), variable: value}
    proc = run_interpreter(tmp_path, "-c", "import infi_tracing.auto", env=env)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: %s" % variable), last
    assert fragment in last


def test_run_reports_a_bad_variable_before_the_program_starts(tmp_path):
    """`run` with a bad variable exits 2 naming it, without running the program."""
    (tmp_path / "prog.py").write_text("print('ran')\n")
    proc = run_cli(tmp_path, "run", "prog.py",
                  env={"INFI_TRACING_OVERFLOW": "sometimes"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert "INFI_TRACING_OVERFLOW: must be one of drop, block, got 'sometimes'" in proc.stderr


@pytest.mark.parametrize("text, expected", [
    ("65536", 65536), ("64K", 64 << 10), ("8m", 8 << 20), ("1GiB", 1 << 30), (" 2 MB ", 2 << 20),
])
def test_buffer_sizes_accept_binary_units(text, expected):
    """Buffer sizes are bytes, or K/M/G (binary) multiples."""
    assert _env.parse_buffer_size(text, "X") == expected


def test_signal_specs_name_both_signals():
    """'yes' is toggle=SIGUSR2, stats=SIGUSR1; explicit specs take names, numbers, RTMIN+n."""
    import signal
    assert _env.parse_signals("yes", "X") == {"toggle": signal.SIGUSR2, "stats": signal.SIGUSR1}
    assert _env.parse_signals("toggle=HUP, stats=SIGRTMIN+2", "X") == {
        "toggle": signal.SIGHUP, "stats": signal.SIGRTMIN + 2}
    assert _env.parse_signals("stats=10", "X") == {"toggle": None, "stats": 10}
    with pytest.raises(ValueError, match="different signals"):
        _env.parse_signals("toggle=USR1,stats=USR1", "X")


def test_module_globs_cover_submodules_but_not_name_prefixes():
    """'myapp' matches myapp and myapp.db, not myapplication; a -m module matches by its name."""
    keep = _env.filter_from_globs(include=["myapp"], exclude=["myapp.secret*"])

    class Frame:
        def __init__(self, name, spec_name=None):
            self.f_code = compile("pass", "/src/%s.py" % name, "exec")
            self.f_globals = {"__name__": name,
                              "__spec__": type("Spec", (), {"name": spec_name})()}

    assert keep(Frame("myapp")) and keep(Frame("myapp.db"))
    assert not keep(Frame("myapplication")) and not keep(Frame("myapp.secrets"))
    assert keep(Frame("__main__", spec_name="myapp.cli"))
    assert _env.filter_from_globs() is None
