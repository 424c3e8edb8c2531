"""Shutdown: records up to the end reach the sink however the program ends (what
test_process_lifecycle.py does not cover), stopping and restarting, the starting
thread ending first, and what os._exit() and SIGKILL lose."""

import signal
import sys
import time

import pytest

from helpers import (
    check_nesting,
    decode_binary,
    finish,
    read_jsonl,
    run_python,
    start_program,
    wait_for_line,
)

pytestmark = pytest.mark.native  # make test-asan runs these

SIGTERM_PROGRAM = """
import atexit, signal, sys, time
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
NAMES = {"work", "on_sigterm"}
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in NAMES, backend=%r,
                         overflow="block")
done = 0

def work():
    return done

def on_sigterm(signum, frame):
    sys.exit(143)

signal.signal(signal.SIGTERM, on_sigterm)
# registered after infi_tracing's own handler, so it runs before the final flush
atexit.register(lambda: print("done", done, flush=True))
print("ready", flush=True)
while True:
    work()
    done += 1      # no signal check between work's return and this line
    if done %% 100 == 0:
        time.sleep(0.0002)
"""


def test_sigterm_handler_calling_sys_exit_keeps_every_record(tmp_path, backend):
    """SIGTERM handled by sys.exit(143) in a busy loop: exit code 143, every call recorded, nested."""
    proc = start_program(tmp_path, SIGTERM_PROGRAM % backend)
    wait_for_line(proc, "ready")
    time.sleep(0.15)
    code, out, err = finish(proc, signal.SIGTERM)
    assert code == 143, out + err
    print("SIGTERM after %s completed calls" % out.split("done")[1].split()[0])
    done = int(out.split("done")[1].split()[0])
    records = read_jsonl(tmp_path / "trace.jsonl")
    work = [r["event"] for r in records if r["qualname"] == "work"]
    assert work.count("return") == done > 1000
    # the signal may interrupt one last call of work() at its start
    assert work.count("call") == done + work.count("exception") <= done + 1
    handler = [r["event"] for r in records if r["qualname"] == "on_sigterm"]
    assert handler == ["call", "exception"]
    check_nesting(records)


def test_main_exiting_first_keeps_the_records_of_running_threads(tmp_path, backend):
    """sys.exit() in main while other threads still work: their records up to the end arrive."""
    proc = run_python(tmp_path, """
import sys, threading
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "late", backend=%r,
                         overflow="block", buffer_size=65536)

def late(i):
    return i

def worker(go):
    go.wait()
    for i in range(30_000):
        late(i)

go = threading.Event()
for _ in range(3):
    threading.Thread(target=worker, args=(go,)).start()
go.set()
sys.exit(5)
""" % backend, timeout=60)
    assert proc.returncode == 5, proc.stderr
    records = read_jsonl(tmp_path / "trace.jsonl")
    pairs = check_nesting(records)
    assert sorted(pairs.values()) == [30_000] * 3


@pytest.mark.parametrize("overflow", ["drop", "block"])
def test_exit_while_daemon_threads_still_trace(tmp_path, backend, overflow):
    """Exit with daemon threads tracing flat out into a small ring: no hang, no crash, clean lines."""
    program = """
import threading
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("spin", "last"),
                         backend=%r, overflow=%r, buffer_size=65536)

def spin(i):
    return i

def forever():
    i = 0
    while True:
        spin(i)
        i += 1

def last():
    return 1

for _ in range(4):
    threading.Thread(target=forever, daemon=True).start()
for _ in range(1000):
    last()
""" % (backend, overflow)
    for _ in range(3):
        (tmp_path / "trace.jsonl").unlink(missing_ok=True)
        proc = run_python(tmp_path, program, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "Fatal" not in proc.stderr, proc.stderr
        records = read_jsonl(tmp_path / "trace.jsonl")
        last_calls = [r for r in records if r.get("qualname") == "last"]
        assert len(last_calls) == 2000
        check_nesting(last_calls)
        spins = [r for r in records if r.get("qualname") == "spin"]
        assert len({r["tid"] for r in spins}) == 4


def test_unhandled_exception_delivers_to_python_and_binary_sinks_and_closes_them(tmp_path,
                                                                               backend):
    """Dying of an exception, greenlets mid-flight: Python and binary sinks get every record, then close."""
    proc = run_python(tmp_path, """
import greenlet
import infi_tracing
from infi_tracing.sinks.binary import BinaryFileSink

class Counting:
    def __init__(self):
        self.records = 0
    def write(self, batch):
        self.records += sum(1 for r in batch if r["event"] != "lost")
    def flush(self):
        pass
    def close(self):
        with open("closed.txt", "w") as f:
            f.write(str(self.records))

infi_tracing.set_sinks([Counting(), BinaryFileSink("trace.itr")])
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("work", "parked"),
                         backend=%r, overflow="block", buffer_size=65536)

def work(i):
    return i

def parked():
    for i in range(1000):
        work(i)
    main.switch()              # never resumed: still open at exit

main = greenlet.getcurrent()
suspended = [greenlet.greenlet(parked) for _ in range(10)]
for g in suspended:
    g.switch()
for i in range(20_000):
    work(i)
raise RuntimeError("bye")
""" % backend)
    assert proc.returncode == 1 and "RuntimeError: bye" in proc.stderr, proc.stderr
    expected = 2 * 20_000 + 10 * (1 + 2 * 1000)   # parked: a call, never a return
    assert (tmp_path / "closed.txt").read_text() == str(expected)
    records = decode_binary(tmp_path / "trace.itr", tmp_path)
    assert len(records) == expected


def test_unhandled_exception_in_a_thread_keeps_its_records(tmp_path, backend):
    """A thread dying of an exception: its unwinding is recorded; the program and tracing go on."""
    proc = run_python(tmp_path, """
import threading
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("doomed", "deeper", "after"),
                         backend=%r)

def deeper():
    raise KeyError("gone")

def doomed():
    for i in range(100):
        pass
    deeper()

def after():
    return 1

t = threading.Thread(target=doomed)
t.start()
t.join()
after()
""" % backend)
    assert proc.returncode == 0 and "KeyError: 'gone'" in proc.stderr, proc.stderr
    records = read_jsonl(tmp_path / "trace.jsonl")
    check_nesting(records)
    by_thread = {}
    for r in records:   # threads' records may interleave in any order: compare each one's
        by_thread.setdefault(r["tid"], []).append((r["event"], r["qualname"]))
    assert sorted(by_thread.values()) == [
        [("call", "after"), ("return", "after")],
        [("call", "doomed"), ("call", "deeper"), ("exception", "deeper"),
         ("exception", "doomed")]]


def test_unset_then_set_tracing_50_times(tmp_path, backend):
    """50 stop/start cycles (and 50 restarts without a stop) while a thread keeps calling: all fine."""
    proc = run_python(tmp_path, """
import threading, time
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
asked = []

def only_ours(frame):
    if frame.f_code.co_name in ("cycle", "background"):
        asked.append(frame.f_code.co_name)
        return True
    return False

def cycle(i):
    return i

def background(i):
    return i

def loop(stop):
    i = 0
    while not stop.is_set():
        background(i)
        i += 1
        time.sleep(0.0001)

stop = threading.Event()
t = threading.Thread(target=loop, args=(stop,))
t.start()
for i in range(50):
    infi_tracing.set_tracing(only_ours, backend=%r, level=infi_tracing.TRACE_FUNC_PRIMITIVES)
    cycle(i)
    time.sleep(0.002)               # the other thread runs while tracing is on
    infi_tracing.unset_tracing()
    cycle(-1)                       # not traced: tracing is off
for i in range(50, 100):            # restart without a stop in between
    infi_tracing.set_tracing(only_ours, backend=%r, level=infi_tracing.TRACE_FUNC_PRIMITIVES)
    cycle(i)
    time.sleep(0.002)
infi_tracing.unset_tracing()
stop.set()
t.join()
print("asked", asked.count("cycle"))
""" % (backend, backend), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["asked", "100"], "the filter is asked again in each session"
    records = read_jsonl(tmp_path / "trace.jsonl")
    cycles = [r for r in records if r["qualname"] == "cycle"]
    assert [r["args"]["i"] for r in cycles if r["event"] == "call"] == [str(i) for i in range(100)]
    check_nesting(cycles)
    background = [r for r in records if r["qualname"] == "background"]
    calls = sum(1 for r in background if r["event"] == "call")
    returns = sum(1 for r in background if r["event"] == "return")
    # a call cut by a stop has no return; a return whose call predates the session is not recorded
    assert 0 <= calls - returns <= 100 and returns > 0


def test_tracing_started_in_a_thread_that_ends_first(tmp_path, backend):
    """A short-lived thread configures and starts tracing; after it ends, others are still traced."""
    proc = run_python(tmp_path, """
import threading
import infi_tracing

def starter():
    infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
    infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "work", backend=%r,
                             overflow="block")

def work(i):
    return i

def worker():
    for i in range(5000):
        work(i)

s = threading.Thread(target=starter)
s.start()
s.join()
others = [threading.Thread(target=worker) for _ in range(2)]
for t in others:
    t.start()
worker()
for t in others:
    t.join()
stats = infi_tracing.tracing_stats()
print("drain", stats["drain_running"], stats["active"])
# no unset_tracing(): the exit flush delivers the rest
""" % backend, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["drain", "True", "True"]
    pairs = check_nesting(read_jsonl(tmp_path / "trace.jsonl"))
    assert sorted(pairs.values()) == [5000] * 3


RING_BYTES = 65536
RECORD_BYTES = 16          # the smallest record in the ring: a compact name-level one
SINK_BUFFER_BYTES = 256 * 1024


def _lost_bound(lines):
    """Records the design may lose at a sudden death: one ring of them, plus the
    formatted lines the drain had buffered for the file but not written yet."""
    shortest_line = min(len(line) for line in lines) if lines else 1
    return RING_BYTES // RECORD_BYTES + SINK_BUFFER_BYTES // shortest_line


def _flushed_prefix(backend, more_args):
    """Program start for the sudden-death tests: 40,000 records of kept() flushed, then
    maybe() defined for the records at risk."""
    return """import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("kept", "maybe"),
                         backend=%r, overflow="block", buffer_size=%d%s)

def kept(i):
    return i

def maybe(i):
    return i

for i in range(20_000):
    kept(i)
infi_tracing.flush_tracing()
""" % (backend, RING_BYTES, more_args)


def test_os_exit_keeps_every_flushed_record(tmp_path, backend):
    """os._exit(): everything flushed before is there; of the rest, at most what the drain held."""
    proc = run_python(tmp_path, """
import os
%sfor i in range(50_000):
    maybe(i)
os._exit(7)
""" % _flushed_prefix(backend, ""), timeout=60)
    assert proc.returncode == 7, proc.stderr
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    records = read_jsonl(tmp_path / "trace.jsonl", torn_tail=True)
    assert sum(1 for r in records if r["qualname"] == "kept") == 40_000
    written = [r for r in records if r["qualname"] == "maybe"]
    lost = 100_000 - len(written)
    print("os._exit: %d of 100,000 unflushed records lost" % lost)
    assert 0 <= lost <= _lost_bound([x for x in lines if '"maybe"' in x])
    # what arrived is the beginning of the stream, without holes
    assert [r["event"] for r in written] == ["call", "return"] * (len(written) // 2) + \
        ["call"] * (len(written) % 2)


def test_sigkill_keeps_every_flushed_record(tmp_path, backend):
    """SIGKILL mid-stream: flushed records all there; the rest is a hole-free prefix."""
    proc = start_program(tmp_path, """
import time
%sprint("flushed", flush=True)
i = 0
while True:
    maybe(i)
    i += 1
    if i %% 100 == 0:
        time.sleep(0.0002)
""" % _flushed_prefix(backend, ", level=infi_tracing.TRACE_FUNC_PRIMITIVES"))
    wait_for_line(proc, "flushed")
    time.sleep(0.15)
    code, _, err = finish(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    records = read_jsonl(tmp_path / "trace.jsonl", torn_tail=True)
    assert sum(1 for r in records if r["qualname"] == "kept") == 40_000
    calls = [r["args"]["i"] for r in records if r["qualname"] == "maybe" and r["event"] == "call"]
    print("SIGKILL: %d calls written before the kill" % len(calls))
    assert calls == [str(i) for i in range(len(calls))] and calls


EXEC_PROGRAM = """
import os, sys
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("work", "go"), backend=%r)

def work(i):
    return i

def go(target):
    for i in range(1000):
        work(i)
    os.execl(target, target, "-c", "print('exec ran')")

try:
    go(%r)
except OSError as exc:
    print("exec failed:", type(exc).__name__, flush=True)
work(-1)
infi_tracing.unset_tracing()
"""


def test_exec_keeps_every_record_made_before_it(tmp_path, backend):
    """os.exec* while tracing: the 2,001 records made before it are all in the file."""
    proc = run_python(tmp_path, EXEC_PROGRAM % (backend, sys.executable))
    assert (proc.returncode, proc.stdout) == (0, "exec ran\n"), proc.stderr
    records = read_jsonl(tmp_path / "trace.jsonl")
    assert [(r["event"], r["qualname"]) for r in records] == \
        [("call", "go")] + [("call", "work"), ("return", "work")] * 1000


def test_failed_exec_leaves_the_program_traced(tmp_path, backend):
    """An exec that fails raises OSError as usual, and tracing goes on."""
    proc = run_python(tmp_path, EXEC_PROGRAM % (backend, str(tmp_path / "no-such-program")))
    assert (proc.returncode, proc.stdout) == (0, "exec failed: FileNotFoundError\n"), proc.stderr
    records = read_jsonl(tmp_path / "trace.jsonl")
    assert [r["event"] for r in records[-3:]] == ["exception", "call", "return"]
    check_nesting(records)
