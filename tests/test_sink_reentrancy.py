"""A Python sink calling back into the tracer (issue #14, item 2): a clear
RuntimeError inside the sink, counted as a sink error, and never a wait
that lasts forever."""

import signal
import time

import pytest

from helpers import finish, run_python, start_program, wait_for_line

pytestmark = pytest.mark.native  # make test-asan runs these

REENTRANT = """
import sys, infi_tracing
seen = []
class Reentrant:
    def write(self, batch):
        if %(where)r == "write":
            self.call_back()
    def flush(self):
        if %(where)r == "flush":
            self.call_back()
    def call_back(self):
        try:
            infi_tracing.%(call)s()
        except RuntimeError as exc:
            seen.append(str(exc))
            raise
    def close(self):
        pass
infi_tracing.set_sinks([Reentrant()])
def work():
    pass
infi_tracing.set_tracing()
work()
infi_tracing.flush_tracing()
infi_tracing.unset_tracing()
errors = infi_tracing.tracing_stats()["sinks"][0]["errors"]
print("tracing", infi_tracing.tracing_stats()["active"])
print("errors", errors)
print("seen", seen[0] if seen else None)
"""


@pytest.mark.parametrize("where", ["write", "flush"])
@pytest.mark.parametrize("call", ["flush_tracing", "unset_tracing", "tracing_stats"])
def test_tracing_call_from_a_python_sink_raises_runtime_error(tmp_path, call, where):
    """flush/unset/stats from a sink's write() or flush(): RuntimeError, counted, no hang."""
    proc = run_python(tmp_path, REENTRANT % {"call": call, "where": where}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert fields["seen"].startswith("infi_tracing: %s() called from inside a sink" % call)
    assert int(fields["errors"]) >= 1 and fields["tracing"] == "False"


CROSSING = """
import infi_tracing
refused = []
written = []
class CallsBack:
    def write(self, batch):
        try:
            infi_tracing.flush_tracing()
        except RuntimeError:
            refused.append(1)
        written.extend(r for r in batch if r["event"] != "lost")
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([CallsBack()])
def work(i):
    return i
infi_tracing.set_tracing(overflow="block")
for i in range(20000):
    work(i)
    if i % 100 == 0:
        infi_tracing.flush_tracing()   # the main thread waits while the drain is in write()
infi_tracing.unset_tracing()
stats = infi_tracing.tracing_stats()
print("refused", len(refused) > 0)
print("accounted", len(written) == stats["sinks"][0]["records"] == stats["records"])
"""


def test_sink_write_and_main_thread_flush_crossing_never_hang(tmp_path):
    """The main thread flushes while the drain's sink write calls flush_tracing(): both go on."""
    proc = run_python(tmp_path, CROSSING, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["refused", "True", "accounted", "True"]


STUCK = """
import threading, infi_tracing
release, flushing = threading.Event(), threading.Event()
class Stuck:
    def write(self, batch):
        flushing.wait(120)
        print("in-write", flush=True)
        release.wait(120)
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([Stuck()])
def work():
    pass
infi_tracing.set_tracing()
work()
flushing.set()
try:
    infi_tracing.flush_tracing()
except KeyboardInterrupt:
    print("interrupted", flush=True)
release.set()
infi_tracing.unset_tracing()
"""


def test_sigint_interrupts_a_flush_waiting_for_a_stuck_sink(tmp_path):
    """Ctrl-C frees a flush_tracing() waiting on a sink that does not return."""
    proc = start_program(tmp_path, STUCK)
    wait_for_line(proc, "in-write")
    time.sleep(0.5)  # the main thread goes from flushing.set() into flush_tracing()
    proc.send_signal(signal.SIGINT)
    returncode, out, err = finish(proc, timeout=30)
    assert returncode == 0 and "interrupted" in out.split(), err
