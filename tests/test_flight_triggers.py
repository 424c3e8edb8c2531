"""What writes a flight-recorder snapshot by itself: a signal, an unhandled exception (main
program, a thread, a greenlet), exit when asked; and the recorder started from the
environment.  Each snapshot names the function that was running."""

import signal

from helpers import (
    decode_binary,
    finish,
    run_interpreter,
    start_program,
    wait_for,
    wait_for_line,
)

PROGRAM_HEAD = """
import infi_tracing, os, sys, threading, time
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
def failing():
    raise ValueError("boom")
"""


def _start(spec):
    return "infi_tracing.set_tracing(filter=only_main, flight_recorder=%r)\n" % spec


def _snapshots(tmp_path):
    return sorted(tmp_path.glob("snap-*.itr"))


def _spec(tmp_path, extra=""):
    return "30s,4M,%spath=%s" % (extra, tmp_path / "snap-{pid}-{seq}.itr")


def _only_snapshot(tmp_path, proc_err):
    found = _snapshots(tmp_path)
    assert len(found) == 1, "snapshots: %r\n%s" % (found, proc_err)
    assert "flight-recorder snapshot" in proc_err and str(found[0]) in proc_err
    return decode_binary(found[0], tmp_path)


def _called(records):
    return [r["qualname"] for r in records if r["event"] == "call"]


def test_unhandled_exception_in_main_program(tmp_path):
    """sys.excepthook: the snapshot holds the call that raised; the traceback is still printed."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path)) + "failing()\n")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr
    records = _only_snapshot(tmp_path, proc.stderr)
    assert "failing" in _called(records)
    assert records[-1]["event"] == "exception" and records[-1]["qualname"] == "failing"


def test_unhandled_exception_in_a_thread(tmp_path):
    """threading.excepthook: a snapshot, then the thread's traceback as before."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path)) + """
t = threading.Thread(target=failing)
t.start(); t.join()
""")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0 and "ValueError: boom" in proc.stderr
    records = _only_snapshot(tmp_path, proc.stderr)
    assert "failing" in _called(records)


def test_unhandled_exception_in_a_greenlet(tmp_path):
    """gevent's hub error handler (gevent imported after the recorder started): a snapshot."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path)) + """
import gevent
g = gevent.spawn(failing)
g.join()
print("after", type(g.exception).__name__)
""")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0 and proc.stdout == "after ValueError\n", proc.stderr
    records = _only_snapshot(tmp_path, proc.stderr)
    failing = [r for r in records if r["qualname"] == "failing"]
    assert failing and failing[0]["greenlet"] != 1 and failing[-1]["event"] == "exception"


def test_no_snapshot_on_exception_when_switched_off(tmp_path):
    """on-exception=no: an unhandled exception writes no snapshot."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path, "on-exception=no,"))
                                   + "failing()\n")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr
    assert not _snapshots(tmp_path)


def test_snapshot_at_exit_when_asked(tmp_path):
    """at-exit: the interpreter's exit writes a snapshot with the program's last calls."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path, "at-exit,")) + """
def last():
    pass
last()
""")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0, proc.stderr
    assert _called(_only_snapshot(tmp_path, proc.stderr)) == ["last"]


def test_no_snapshot_at_exit_unless_asked(tmp_path):
    """Without at-exit a clean exit writes nothing."""
    (tmp_path / "p.py").write_text(PROGRAM_HEAD + _start(_spec(tmp_path)) + "pass\n")
    proc = run_interpreter(tmp_path, "p.py")
    assert proc.returncode == 0 and not _snapshots(tmp_path), proc.stderr


def test_dump_signal_under_run(tmp_path):
    """run --flight-recorder SPEC --signals dump=USR1: the signal writes a snapshot, twice."""
    proc = start_program(tmp_path, """
import time
def tick(i):
    return i
for i in range(100):
    tick(i)
print("ready", flush=True)
while True:
    time.sleep(0.01)
""", run_args=["--flight-recorder", _spec(tmp_path), "--signals", "dump=USR1",
               "--no-summary", "--include", "__main__"])
    wait_for_line(proc, "ready")
    for count in (1, 2):
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda n=count: len(_snapshots(tmp_path)) == n, "snapshot %d" % count)
    _, _, err = finish(proc, signal.SIGTERM)
    found = _snapshots(tmp_path)
    assert len(found) == 2, err
    for path in found:
        assert _called(decode_binary(path, tmp_path)).count("tick") == 100


def test_recorder_from_the_environment(tmp_path):
    """INFI_TRACING_FLIGHT_RECORDER with `import infi_tracing.auto`: recording starts, no sink."""
    (tmp_path / "p.py").write_text("""
import infi_tracing.auto, infi_tracing
def work():
    pass
work()
print(infi_tracing.dump_flight_recorder())
""")
    proc = run_interpreter(tmp_path, "p.py", env={
        "INFI_TRACING_FLIGHT_RECORDER": _spec(tmp_path), "INFI_TRACING_INCLUDE": "__main__"})
    assert proc.returncode == 0, proc.stderr
    assert "work" not in proc.stderr
    assert _called(decode_binary(proc.stdout.strip(), tmp_path)) == ["work"]


def test_spawned_child_records_into_a_recorder_of_its_own(tmp_path):
    """run --flight-recorder: a spawned child keeps its own past (its pid), streamed nowhere."""
    (tmp_path / "p.py").write_text("""
import multiprocessing, os
import infi_tracing

def work():
    pass

def child():
    work()
    print(infi_tracing.dump_flight_recorder(), flush=True)

if __name__ == "__main__":
    p = multiprocessing.get_context("spawn").Process(target=child)
    p.start()
    p.join(60)
    print(p.pid, p.exitcode)
""")
    proc = run_interpreter(tmp_path, "-m", "infi_tracing", "run", "--no-summary", "--include",
                           "p.py", "--flight-recorder", _spec(tmp_path), "p.py")
    assert proc.returncode == 0, proc.stderr
    path, pid_and_code = proc.stdout.splitlines()
    child_pid, exitcode = map(int, pid_and_code.split())
    assert exitcode == 0 and "work" not in proc.stderr
    records = decode_binary(path, tmp_path)
    assert _called(records)[-2:] == ["child", "work"]  # (after the import of p.py as __mp_main__)
    assert {r["pid"] for r in records} == {child_pid}


SLOW_PROGRAM = """
import time
def handle(ms):
    time.sleep(ms / 1000)
for ms in %s:
    handle(ms)
time.sleep(0.5)  # time for the waiter's snapshot before exit
print("done")
"""


def _run_slow(tmp_path, durations, rule="__main__.handle>100ms"):
    (tmp_path / "p.py").write_text(SLOW_PROGRAM % (durations,))
    proc = run_interpreter(tmp_path, "-m", "infi_tracing", "run", "--no-summary", "--include",
                           "p.py", "--flight-recorder", _spec(tmp_path), "--dump-on-slow", rule,
                           "p.py")
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr
    return proc


def test_slow_call_writes_one_snapshot_holding_it(tmp_path):
    """--dump-on-slow: a call over the threshold writes a snapshot with it; the next one within
    the window does not write another."""
    proc = _run_slow(tmp_path, [1, 1, 150, 1, 150, 1])
    records = _only_snapshot(tmp_path, proc.stderr)
    assert "slow call: __main__.handle took" in proc.stderr
    slow = [r for r in records if r["event"] == "return" and r["duration_ns"] >= 100e6]
    assert slow and slow[0]["qualname"] == "handle"


def test_fast_calls_write_no_snapshot(tmp_path):
    """--dump-on-slow: calls under the threshold (or of other functions) write nothing."""
    _run_slow(tmp_path, [1, 20, 1], rule="__main__.handle>100ms")
    _run_slow(tmp_path, [150], rule="__main__.other>100ms")
    assert not _snapshots(tmp_path)


def test_bad_slow_rule_is_refused(tmp_path):
    """--dump-on-slow names itself for a bad rule, and asks for the recorder when there is none."""
    (tmp_path / "p.py").write_text("pass\n")
    bad = run_interpreter(tmp_path, "-m", "infi_tracing", "run", "--flight-recorder", "30s,4M",
                          "--dump-on-slow", "handle", "p.py")
    alone = run_interpreter(tmp_path, "-m", "infi_tracing", "run", "--dump-on-slow",
                            "handle>1s", "p.py")
    assert bad.returncode == alone.returncode == 2
    assert "--dump-on-slow: expected FUNCTION>DURATION" in bad.stderr
    assert "--dump-on-slow needs the flight recorder" in alone.stderr
