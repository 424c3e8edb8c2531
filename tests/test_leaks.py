"""Leak checks in greenlet's style: live native objects (greenlet states, thread states, sink
handles; _core.live_objects()) counted around many set_tracing/unset_tracing and sink cycles.

Each check runs in a fresh interpreter: a few cycles first (one-time objects: the main
thread's state, the drain thread's), then the counts, CYCLES more cycles, the counts again.
"""

import json

import pytest

from helpers import run_python

pytestmark = pytest.mark.native  # make test-asan runs these

CYCLES = 50

PROGRAM = """
import gc, json, threading, time
import greenlet
import infi_tracing
from infi_tracing.native import _core

MODE, BACKEND, CYCLES, DIR = %(args)r


class Discard:
    def write(self, batch):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def leaf(n):
    return n + 1


def work():
    main = greenlet.getcurrent()

    def in_greenlet():
        for i in range(3):
            leaf(i)
            main.switch()

    greenlets = [greenlet.greenlet(in_greenlet) for _ in range(4)]
    for _ in range(4):
        for g in greenlets:
            g.switch()
    thread = threading.Thread(target=leaf, args=(1,))
    thread.start()
    thread.join()


def tracing_cycle():
    infi_tracing.set_tracing(backend=BACKEND)
    work()
    infi_tracing.unset_tracing()


def sinks_cycle():
    infi_tracing.configure_sinks(["file://%%s/t.log" %% DIR, "binary://%%s/t.itr" %% DIR,
                                  "syslog+udp://127.0.0.1:9?app_name=leaks"])
    infi_tracing.set_sinks([Discard()])


def live():
    # A joined thread's Python state (holding its ThreadState) may be cleared a moment
    # after join() returns: wait (bounded) for the counts to stop changing.
    counts, deadline = None, time.monotonic() + 10
    while time.monotonic() < deadline:
        gc.collect()
        now = _core.live_objects()
        if now == counts:
            break
        counts = now
        time.sleep(0.05)
    return counts


cycle = tracing_cycle if MODE == "tracing" else sinks_cycle
infi_tracing.set_sinks([Discard()])
for _ in range(3):
    cycle()
before = live()
for _ in range(CYCLES):
    cycle()
print(json.dumps({"before": before, "after": live()}))
"""


def live_counts(tmp_path, mode, backend="auto"):
    """Run PROGRAM's `mode` cycles; return (counts before, counts after)."""
    args = (mode, backend, CYCLES, str(tmp_path))
    proc = run_python(tmp_path, PROGRAM % {"args": args})
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.splitlines()[-1])
    return counts["before"], counts["after"]


def test_tracing_cycles_leak_no_native_objects(tmp_path, backend):
    """set_tracing/unset_tracing with greenlets and a thread leave no GState/ThreadState."""
    before, after = live_counts(tmp_path, "tracing", backend)
    assert after == before


def test_sink_reconfiguration_leaks_no_sink_handles(tmp_path):
    """Replacing native (file, binary, syslog) and Python sinks again and again frees them."""
    before, after = live_counts(tmp_path, "sinks")
    assert after == before
