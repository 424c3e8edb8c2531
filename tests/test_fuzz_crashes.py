"""Every input the reader's fuzzer (make test-fuzz) found crashing, kept in tests/fuzz/crashes/:
replayed through the harness (clang's ASan and UBSan: each failed there before its fix) and
through every command that reads a trace, in a subprocess (under make test-asan, gcc's
sanitizers too).  A command may report the file as damaged (status 1, naming it), never crash."""

import argparse
import os
import subprocess
from pathlib import Path

import pytest

from helpers import run_cli, tool_unavailable

pytestmark = pytest.mark.native  # make test-asan runs these

HERE = Path(__file__).resolve().parent
CRASHES = sorted((HERE / "fuzz" / "crashes").iterdir())

# Each command reading a trace, FILE standing for the input: decode's formats, replay with
# and without a threshold, the filters (--from/--to compare wall times), several inputs, and
# the analysis commands.
COMMANDS = {
    "decode-text": ["decode", "FILE"],
    "decode-jsonl": ["decode", "--format", "jsonl", "FILE"],
    "decode-perfetto": ["decode", "--format", "perfetto", "-o", "out.json", "FILE"],
    "decode-perfetto-proto": ["decode", "--format", "perfetto-proto", "-o", "out.pftrace",
                              "FILE"],
    "decode-filters": ["decode", "--from", "0", "--to", "1", "--depth", "2", "--pid", "1",
                       "--greenlet", "1", "--include", "*", "FILE"],
    "decode-twice": ["decode", "FILE", "FILE"],
    "replay": ["replay", "FILE"],
    "replay-min-duration": ["replay", "--min-duration", "0", "FILE"],
    "stats": ["stats", "FILE"],
    "report": ["report", "FILE"],
    "report-json-by-greenlet": ["report", "--json", "--by", "greenlet", "FILE"],
    "graph": ["graph", "*", "FILE"],
    "diff": ["diff", "FILE", "FILE"],
    "greenlets": ["greenlets", "FILE"],
}


def _in_this_build(args):
    """Whether this build's CLI has the command (and decode the format): the analysis commands
    and the Perfetto protobuf came on branches of their own."""
    from infi_tracing._cli import _parser
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    if args[0] not in sub.choices:
        return False
    if "--format" in args:
        fmt = sub.choices[args[0]]._option_string_actions["--format"]
        return args[args.index("--format") + 1] in fmt.choices
    return True


COMMANDS = {name: args for name, args in COMMANDS.items() if _in_this_build(args)}


# The harness carries clang's sanitizer runtimes: under make test-asan the environment preloads
# gcc's ASan (for the Python module) and points its reports to files, which the harness's own
# runtime must not inherit ("incompatible ASan runtimes"); its reports go to its stderr.
HARNESS_ENV = {k: v for k, v in os.environ.items()
               if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """tests/fuzz/fuzz_reader.c built as make test-fuzz builds it."""
    exe = tmp_path_factory.mktemp("fuzz") / "fuzz_reader"
    built = subprocess.run([str(HERE / "fuzz" / "build-harness"), str(exe)], capture_output=True,
                           text=True, timeout=300, env=HARNESS_ENV)
    if built.returncode == 127:
        tool_unavailable(built.stderr.strip())
    assert built.returncode == 0, built.stderr
    return exe


def test_crashes_are_kept():
    """The crash folder holds the inputs (a glob that matched nothing would test nothing)."""
    assert CRASHES and all(c.stat().st_size for c in CRASHES)


@pytest.mark.parametrize("crash", CRASHES, ids=[c.name for c in CRASHES])
def test_crash_input_runs_clean_in_the_harness(harness, crash):
    """The input goes through the reader, the writers and replay without a sanitizer report."""
    proc = subprocess.run([str(harness), str(crash)], capture_output=True, text=True, timeout=120,
                          env=HARNESS_ENV)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("crash", CRASHES, ids=[c.name for c in CRASHES])
def test_crash_input_through_every_command(tmp_path, crash, command):
    """The command reads what it can and reports the rest, naming the file; it never crashes."""
    args = [str(crash) if a == "FILE" else a for a in COMMANDS[command]]
    proc = run_cli(tmp_path, *args, text=False)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode in (0, 1), "status %d\n%s" % (proc.returncode, stderr[-5000:])
    assert "Traceback" not in stderr and "runtime error" not in stderr, stderr[-5000:]
    if proc.returncode:
        assert str(crash) in stderr, stderr
