"""`python -m infi_tracing run`: a program runs traced as python would run it;
`decode` shows progress on large files."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    AWAITING_LEAF,
    check_nesting,
    jsonl_sink,
    read_jsonl,
    run_cli,
    run_interpreter,
    summary_table,
    write,
)
from helpers import cli_env as _env
from syslog_peers import DatagramPeer, parse_5424

PROGRAM_INFO = """
import json, sys
import __main__
print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0],
                  "main_is_me": __main__.__dict__ is globals()}))
"""


def records(tmp_path, name="trace.jsonl"):
    """The records of tmp_path/name; none if run never made the file."""
    return read_jsonl(tmp_path / name, missing_ok=True)


def calls(recs):
    return [(r["module"], r["qualname"]) for r in recs if r["event"] == "call"]


def test_script_sees_its_argv_main_and_path(tmp_path):
    """A script gets the argv python would give it (option-like words included),
    runs as __main__ and has its own directory first on sys.path."""
    write(tmp_path / "sub" / "prog.py", PROGRAM_INFO)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "sub/prog.py", "a", "--level", "-m", "x")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info == {"argv": ["sub/prog.py", "a", "--level", "-m", "x"], "name": "__main__",
                    "path0": os.path.realpath(tmp_path / "sub"), "main_is_me": True}


def test_module_sees_its_argv_main_and_path(tmp_path):
    """-m runs a module as __main__ with python -m's argv and the cwd first on sys.path."""
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "tool.py", PROGRAM_INFO)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "-m", "pkg.tool", "one", "--sink", "two")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["argv"] == [str(tmp_path / "pkg" / "tool.py"), "one", "--sink", "two"]
    assert info["name"] == "__main__" and info["main_is_me"]
    assert info["path0"] == str(tmp_path)


def test_program_is_traced_from_depth_zero(tmp_path):
    """The program's <module> is the first record, at depth 0: run's machinery is not traced."""
    write(tmp_path / "prog.py", """
        def leaf(n):
            return n
        def top():
            return leaf(1) + leaf(2)
        top()
    """)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "--include", "__main__", "prog.py")
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path)
    assert [(r["qualname"], r["depth"]) for r in recs if r["event"] == "call"] == \
        [("<module>", 0), ("top", 1), ("leaf", 2), ("leaf", 2)]
    check_nesting(recs)


def test_module_is_traced_from_depth_zero_without_the_import_search(tmp_path):
    """-m pkg.tool: its package's and its own <module> at depth 0, no runpy or importlib record."""
    write(tmp_path / "pkg" / "__init__.py", "X = 1\n")
    write(tmp_path / "pkg" / "tool.py", "def f():\n    return 1\nf()\n")
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "-m",
                   "pkg.tool")
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path)
    assert [(r["module"], r["qualname"], r["depth"]) for r in recs[:5]] == [
        ("pkg", "<module>", 0), ("pkg", "<module>", 0), ("__main__", "<module>", 0),
        ("__main__", "f", 1), ("__main__", "f", 1)]
    assert not [r for r in recs if r["module"].startswith(("runpy", "importlib"))]


def test_missing_module_says_what_python_says(tmp_path):
    """run -m nosuch prints python -m's message, exits 1 and records nothing."""
    python = run_interpreter(tmp_path, "-m", "nosuch", timeout=60)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "-m",
                   "nosuch")
    assert (proc.returncode, proc.stderr) == (python.returncode, python.stderr) == \
        (1, "%s: No module named nosuch\n" % sys.executable)
    assert records(tmp_path) == []


def test_exit_codes_of_sys_exit_propagate(tmp_path):
    """sys.exit(0) and sys.exit(3) in the program are run's exit codes."""
    write(tmp_path / "prog.py", "import sys\nsys.exit(int(sys.argv[1]))\n")
    for code in (0, 3):
        proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                       "prog.py", code)
        assert proc.returncode == code, proc.stderr


def test_unhandled_exception_prints_the_programs_traceback_and_exits_1(tmp_path):
    """An unhandled exception shows the program's traceback (not run's frames), exit code 1."""
    write(tmp_path / "prog.py", """
        def fail():
            raise ValueError("boom")
        fail()
    """)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "prog.py")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith('  File "prog.py", line 4, in <module>')
    assert lines[-1] == "ValueError: boom"
    assert "runpy" not in proc.stderr and "infi_tracing" not in proc.stderr
    assert ("__main__", "fail") in calls(records(tmp_path))


def test_keyboard_interrupt_shows_only_the_programs_frames(tmp_path):
    """An unhandled KeyboardInterrupt shows the program's traceback and dies of SIGINT, like python."""
    write(tmp_path / "prog.py", """
        def interrupted():
            raise KeyboardInterrupt
        interrupted()
    """)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "prog.py")
    assert proc.returncode == -signal.SIGINT, proc.stderr
    lines = proc.stderr.splitlines()
    assert (lines[0], lines[-1]) == ("Traceback (most recent call last):", "KeyboardInterrupt")
    assert [line for line in lines if line.startswith("  File ")] == [
        '  File "prog.py", line 4, in <module>', '  File "prog.py", line 3, in interrupted']


@pytest.mark.parametrize("target, app_name", [(["sub/prog.py"], "prog.py"),
                                               (["-m", "sub.prog"], "sub.prog")],
                         ids=["script", "module"])
def test_syslog_app_name_is_the_programs(tmp_path, target, app_name):
    """A syslog sink of run names the program (script file or -m module) as APP-NAME."""
    write(tmp_path / "sub" / "__init__.py", "")
    write(tmp_path / "sub" / "prog.py", "def f():\n    pass\nf()\n")
    peer = DatagramPeer()
    try:
        proc = run_cli(tmp_path, "run", "--no-summary", "--include", "__main__", "--sink",
                       "syslog+udp://127.0.0.1:%d" % peer.port, *target)
        assert proc.returncode == 0, proc.stderr
        messages = [parse_5424(m) for m in peer.wait(4)]
    finally:
        peer.close()
    assert len(messages) == 4 and {m["app"] for m in messages} == {app_name}


def test_stdin_is_left_to_the_program(tmp_path):
    """The program reads the standard input run was given."""
    write(tmp_path / "prog.py", "import sys\nprint(sys.stdin.read().upper(), end='')\n")
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "prog.py",
                   input="hello\nworld\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "HELLO\nWORLD\n"


def _three_modules(tmp_path):
    write(tmp_path / "mylib" / "__init__.py", "")
    write(tmp_path / "mylib" / "core.py", "def lib_func():\n    return 1\n")
    write(tmp_path / "other.py", "def other_func():\n    return 2\n")
    write(tmp_path / "prog.py", """
        from mylib.core import lib_func
        from other import other_func
        def main_func():
            return lib_func() + other_func()
        main_func()
    """)


def test_include_traces_only_matching_modules(tmp_path):
    """--include with a package name traces that package (submodules too) and nothing else."""
    _three_modules(tmp_path)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "--include", "mylib", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert {m for m, _ in calls(records(tmp_path))} == {"mylib", "mylib.core"}


def test_exclude_drops_matching_modules(tmp_path):
    """--exclude removes what it matches from the included set."""
    _three_modules(tmp_path)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "--include", "__main__", "--include", "other", "--include", "mylib",
                   "--exclude", "mylib.*", "prog.py")
    assert proc.returncode == 0, proc.stderr
    names = set(calls(records(tmp_path)))
    assert ("__main__", "main_func") in names and ("other", "other_func") in names
    assert ("mylib", "<module>") in names and ("mylib.core", "lib_func") not in names


def test_path_globs_match_files(tmp_path):
    """A glob with a '/' matches file paths; relative ones are taken from the cwd."""
    _three_modules(tmp_path)
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                   "--include", "./mylib/*.py", "--include", "*/other.py", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert {m for m, _ in calls(records(tmp_path))} == {"mylib", "mylib.core", "other"}


SUMMARY_PROGRAM = """
import threading
import gevent

def work(i):
    return i

def job(n):
    for i in range(n):
        work(i)
        gevent.sleep(0)

gevent.joinall([gevent.spawn(job, 20) for _ in range(3)])
t = threading.Thread(target=job, args=(5,))
t.start()
t.join()
"""


def test_summary_reports_sinks_threads_greenlets_and_top_functions(tmp_path):
    """The exit summary counts records per sink, threads, greenlets and the most called."""
    write(tmp_path / "prog.py", SUMMARY_PROGRAM)
    proc = run_cli(tmp_path, "run", "--sink", jsonl_sink(tmp_path), "--include", "__main__",
                   "--top", "2", "prog.py")
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path)
    summary = proc.stderr.splitlines()
    assert summary[0].startswith("infi_tracing: %s records, 0 lost in " % format(len(recs), ","))
    assert summary[1] == "  sink file:%s: %s records written, 0 lost, 0 errors, %s bytes" % (
        tmp_path / "trace.jsonl", format(len(recs), ","),
        format((tmp_path / "trace.jsonl").stat().st_size, ","))
    # every greenlet given an id (the gevent hub too), at least those that recorded calls
    greenlets = {(r["pid"], r["greenlet"]) for r in recs if r["event"] == "call"}
    assert len(greenlets) == 5
    threads, seen = re.match(r"  threads seen: (\d+), greenlets seen: (\d+)$", summary[2]).groups()
    assert int(threads) == 2 and int(seen) >= len(greenlets)
    assert summary[3] == "  top functions by calls:"
    assert summary_table(proc.stderr, "calls") == [
        "            65  __main__.work", "             4  __main__.job"]


def test_summary_counts_each_call_of_an_awaiting_coroutine_once(tmp_path, backend):
    """A coroutine called 10,000 times, suspended in each call: the summary says 10,000."""
    write(tmp_path / "prog.py", AWAITING_LEAF)
    proc = run_cli(tmp_path, "run", "--backend", backend, "--sink", jsonl_sink(tmp_path),
                   "--include", "__main__", "--top", "3", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert summary_table(proc.stderr, "calls") == [
        "        10,000  __main__.leaf", "             1  __main__.main",
        "             1  __main__.<module>"]
    assert len([r for r in records(tmp_path) if r["event"] == "call"]) == 10002


def test_no_generators_records_re_entries_as_calls(tmp_path):
    """--no-generators: a generator's re-entries and suspensions are call/return pairs."""
    write(tmp_path / "prog.py", "def numbers():\n    yield 1\n\nlist(numbers())\n")
    proc = run_cli(tmp_path, "run", "--no-generators", "--sink", jsonl_sink(tmp_path),
                   "--include", "__main__", "prog.py")
    assert proc.returncode == 0, proc.stderr
    events = [r["event"] for r in records(tmp_path) if r.get("qualname") == "numbers"]
    assert events == ["call", "return", "call", "return"]


def test_summary_escapes_control_characters_in_function_names(tmp_path):
    """A function named with a line break and ESC shows escaped in the exit summary."""
    write(tmp_path / "prog.py", """
        import types
        def f():
            pass
        g = types.FunctionType(f.__code__.replace(co_name="a\\nb\\x1b"), globals())
        if hasattr(g.__code__, "co_qualname"):
            g = types.FunctionType(g.__code__.replace(co_qualname="a\\nb\\x1b"), globals())
        g()
    """)
    proc = run_cli(tmp_path, "run", "--sink", jsonl_sink(tmp_path), "--include", "__main__",
                   "--top", "1", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert summary_table(proc.stderr, "calls") == ["             1  __main__.a\\nb\\x1b"]


def test_no_summary_prints_nothing_of_its_own(tmp_path):
    """--no-summary leaves stderr to the program."""
    write(tmp_path / "prog.py", "import sys\nprint('only this', file=sys.stderr)\n")
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", jsonl_sink(tmp_path), "prog.py")
    assert proc.returncode == 0 and proc.stderr == "only this\n"


def test_console_script_runs_programs(tmp_path):
    """`infi-tracing run` is the same command."""
    write(tmp_path / "prog.py", "def f():\n    return 1\nf()\n")
    script = Path(sys.executable).parent / "infi-tracing"
    proc = subprocess.run([str(script), "run", "--no-summary", "--sink", jsonl_sink(tmp_path),
                           "--include", "__main__", "prog.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert calls(records(tmp_path)) == [("__main__", "<module>"), ("__main__", "f")]


def test_bad_option_value_is_a_usage_error(tmp_path):
    """A bad --level stops run before the program starts, naming the option (exit 2)."""
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = run_cli(tmp_path, "run", "--level", "loud", "prog.py")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--level: unknown trace level 'loud'" in proc.stderr


@pytest.mark.parametrize("args, env, message", [
    (["--signals", "toggle=SEGV"], {}, "--signals: signal 'SEGV' reports a fault"),
    (["--paused"], {}, "--paused: nothing would start tracing"),
    ([], {"INFI_TRACING_START": "no"}, "INFI_TRACING_START=no: nothing would start tracing"),
    (["--signals", "yes", "--stats-file", "no-dir/stats.json"], {},
     "--stats-file: cannot append to 'no-dir/stats.json'"),
    ([], {"INFI_TRACING_STATS_FILE": "no-dir/stats.json"},
     "INFI_TRACING_STATS_FILE: cannot append to 'no-dir/stats.json'"),
    ([], {"INFI_TRACING_CLOCK": "sundial"}, "INFI_TRACING_CLOCK: must be one of auto, monotonic"),
], ids=["fault-signal", "paused", "start-no", "stats-file", "stats-file-variable", "clock"])
def test_bad_setting_stops_run_before_the_program_starts(tmp_path, args, env, message):
    """A setting that cannot work is a usage error (exit 2) naming it, before the program runs."""
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = run_cli(tmp_path, "run", *args, "prog.py", env=env)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert message in proc.stderr


def test_missing_script_is_a_usage_error(tmp_path):
    """A script that does not exist is reported like python does (exit 2)."""
    proc = run_cli(tmp_path, "run", "nothere.py")
    assert proc.returncode == 2
    assert "can't open file 'nothere.py'" in proc.stderr


def test_decode_shows_progress_on_large_files(tmp_path):
    """Decoding a trace over 1 MiB ends with a 'decoding: 100% (N records)' line on stderr."""
    write(tmp_path / "prog.py", """
        def f(i):
            return i
        for i in range(250000):  # binary records pack into ~5 bytes: well over 1 MiB
            f(i)
    """)
    trace = tmp_path / "trace.itr"
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", "binary://%s" % trace,
                   "--overflow", "block", "--include", "__main__", "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert trace.stat().st_size > 1 << 20
    out = run_cli(tmp_path, "decode", trace, "--format", "jsonl", "-o", tmp_path / "t.jsonl",
                  text=False)  # bytes: keep the \r
    assert out.returncode == 0, out.stderr
    assert out.stderr.endswith(b"\rdecoding: 100% (500002 records)\n")
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 500002


def test_decode_is_quiet_on_small_files(tmp_path):
    """Small files decode without a progress line."""
    write(tmp_path / "prog.py", "def f():\n    return 1\nf()\n")
    trace = tmp_path / "trace.itr"
    proc = run_cli(tmp_path, "run", "--no-summary", "--sink", "binary://%s" % trace, "prog.py")
    assert proc.returncode == 0, proc.stderr
    out = run_cli(tmp_path, "decode", trace)
    assert out.returncode == 0 and out.stderr == "" and "__main__.f" in out.stdout
