"""`python -m infi_tracing run` and the signals that stop a program: SIGTERM, SIGHUP and
SIGINT flush every record and print the summary, then the program dies of the signal."""

import re
import signal

import pytest

from helpers import check_nesting, finish, read_jsonl, start_program, wait_for_line

BUSY_PROGRAM = """
def work(i):
    return i

i = 0
while True:
    work(i)
    i += 1
    if i == 20_000:
        print("ready", flush=True)
"""

SUMMARY = re.compile(r"^infi_tracing: ([\d,]+) records, ([\d,]+) lost in ", re.M)


def _run_args(tmp_path, backend):
    """Lossless tracing of the program's work() calls with their argument."""
    return ["--sink", "file://%s?format=jsonl" % (tmp_path / "trace.jsonl"),
            "--include", "__main__", "--level", "primitives", "--overflow", "block",
            "--buffer-size", "64K", "--backend", backend]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_stop_signal_flushes_prints_summary_and_dies_of_it(tmp_path, backend, sig):
    """A stop signal: every record is written, the summary counts them, the exit status is -sig."""
    proc = start_program(tmp_path, BUSY_PROGRAM, run_args=_run_args(tmp_path, backend))
    wait_for_line(proc, "ready")
    code, _, err = finish(proc, sig)
    assert code == -sig, err
    summary = SUMMARY.search(err)
    assert summary, "no summary:\n%s" % err
    records = read_jsonl(tmp_path / "trace.jsonl")
    assert int(summary.group(1).replace(",", "")) == len(records)
    assert summary.group(2) == "0" and not [r for r in records if r["event"] == "lost"]
    calls = [r["args"]["i"] for r in records if r["qualname"] == "work" and r["event"] == "call"]
    assert len(calls) >= 20_000
    assert calls == [str(i) for i in range(len(calls))]
    if sig != signal.SIGINT:  # KeyboardInterrupt unwinds <module> before the exit flush
        assert records[-1]["event"] in ("call", "return")


def test_programs_own_sigterm_handler_wins(tmp_path):
    """A program that handles SIGTERM itself keeps its handler: it runs and sets the exit code."""
    proc = start_program(tmp_path, """
import signal, sys, time

def on_term(signum, frame):
    print("mine", flush=True)
    sys.exit(3)

signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(0.01)
""", run_args=_run_args(tmp_path, "auto"))
    wait_for_line(proc, "ready")
    code, out, err = finish(proc, signal.SIGTERM)
    assert (code, out) == (3, "mine\n"), err
    assert SUMMARY.search(err), err


def test_ignored_sigterm_stays_ignored(tmp_path):
    """SIGTERM ignored when run starts (nohup-like parents) is still ignored by the program."""
    proc = start_program(tmp_path, """
import os, signal
os.kill(os.getpid(), signal.SIGTERM)
print("alive", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN, flush=True)
""", run_args=_run_args(tmp_path, "auto"),
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    code, out, err = finish(proc)
    assert (code, out) == (0, "alive True\n"), err


def test_sigterm_in_a_forked_child_flushes_it_without_a_summary(tmp_path):
    """A forked child killed by SIGTERM writes its records and dies of it; only run prints a summary."""
    proc = start_program(tmp_path, """
import os, signal

def work(i):
    return i

pid = os.fork()
if pid == 0:
    for i in range(5000):
        work(i)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(99)  # not reached
_, status = os.waitpid(pid, 0)
print("child", os.WTERMSIG(status) if os.WIFSIGNALED(status) else "exit", flush=True)
""", run_args=_run_args(tmp_path, "auto"))
    code, out, err = finish(proc)
    assert (code, out) == (0, "child %d\n" % signal.SIGTERM), err
    assert len(SUMMARY.findall(err)) == 1, err
    records = read_jsonl(tmp_path / "trace.jsonl")
    assert len([r for r in records if r["qualname"] == "work"]) == 10_000
    check_nesting(records)
