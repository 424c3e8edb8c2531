"""set_tracing() / unset_tracing() from several threads at once: serialised,
one sys.monitoring tool id at a time, always freed."""

import json
import sys

import pytest

from helpers import run_python

pytestmark = pytest.mark.native  # make test-asan runs these

TOGGLING = """
import json, sys, threading
import infi_tracing

BACKEND = %(backend)r
THREADS = %(threads)d
sys.setswitchinterval(1e-6)  # switch threads often: inside set_tracing too

def leaf(i):
    return i

def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"

def toggle(start):
    start.wait()
    for _ in range(500):
        for restart in range(2):  # the second set_tracing() restarts tracing
            infi_tracing.set_tracing(only_main, backend=BACKEND)
            for i in range(10):  # traced calls: chances to switch threads while tracing is on
                leaf(i)
        infi_tracing.unset_tracing()

infi_tracing.tracing_output_to_file("toggling.jsonl", format="jsonl")
start = threading.Barrier(THREADS)
threads = [threading.Thread(target=toggle, args=(start,)) for _ in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
monitoring = getattr(sys, "monitoring", None)
tools = [monitoring.get_tool(i) for i in range(6)] if monitoring else []
events = [monitoring.get_events(i) for i in range(6)] if monitoring else []
after = infi_tracing.tracing_stats()

infi_tracing.tracing_output_to_file("clean.jsonl", format="jsonl")
infi_tracing.set_tracing(only_main, backend=BACKEND)
for i in range(100):
    leaf(i)
infi_tracing.unset_tracing()
print(json.dumps({"tools": tools, "events": events, "active": after["active"],
                  "backend": after["backend"]}))
"""


def _toggle(tmp_path, backend, threads):
    proc = run_python(tmp_path, TOGGLING % {"backend": backend, "threads": threads})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("threads", [2, 4])
def test_threads_toggling_tracing_free_every_tool_id(tmp_path, backend, threads):
    """Threads toggling tracing at once leave no sys.monitoring tool id or event behind."""
    state = _toggle(tmp_path, backend, threads)
    assert state == {"tools": [None] * len(state["tools"]), "events": [0] * len(state["events"]),
                     "active": False, "backend": None}


@pytest.mark.parametrize("threads", [2, 4])
def test_run_after_threads_toggling_records_each_call_once(tmp_path, backend, threads):
    """After threads toggled tracing at once, a clean run records every call exactly once."""
    _toggle(tmp_path, backend, threads)
    records = [json.loads(line) for line in (tmp_path / "clean.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["qualname"] == "leaf"] == ["call", "return"] * 100


RESTART_MEETS_START = """
import json, sys, threading
import infi_tracing

BACKEND = %(backend)r
go, finished = threading.Event(), threading.Event()

class Meddler:
    \"\"\"A Python sink: its flush() runs inside set_tracing()'s restart, after the
    old backend is gone and before the new one is installed.\"\"\"
    armed = False
    def write(self, batch):
        pass
    def flush(self):
        if self.armed:
            self.armed = False
            go.set()
            finished.wait(2)  # bounded: a serialised set_tracing() cannot finish now
    def close(self):
        pass

def other():
    go.wait()
    infi_tracing.set_tracing(backend=BACKEND)
    finished.set()

meddler = Meddler()
infi_tracing.set_sinks([meddler])
thread = threading.Thread(target=other)
thread.start()
infi_tracing.set_tracing(backend=BACKEND)
meddler.armed = True
infi_tracing.set_tracing(backend=BACKEND)  # restart: meets other()'s start
thread.join()
infi_tracing.unset_tracing()
monitoring = getattr(sys, "monitoring", None)
print(json.dumps([monitoring.get_tool(i) for i in range(6)] if monitoring else []))
"""


def test_start_during_another_threads_restart_leaves_no_tool_id(tmp_path, backend):
    """set_tracing() from a thread while another restarts tracing: every tool id is freed after."""
    proc = run_python(tmp_path, RESTART_MEETS_START % {"backend": backend})
    assert proc.returncode == 0, proc.stderr
    tools = json.loads(proc.stdout)
    assert tools == [None] * len(tools)


HALF_INSTALLED = """
import json, sys
import infi_tracing

mon = sys.monitoring
register = mon.register_callback
calls = []

def failing_register(tool, event, callback):
    calls.append(event)
    if len(calls) == 3:
        raise RuntimeError("refused by the test")
    return register(tool, event, callback)

infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
mon.register_callback = failing_register
try:
    infi_tracing.set_tracing(backend="monitoring")
except RuntimeError as e:
    error = str(e)
mon.register_callback = register
print(json.dumps({"error": error, "tools": [mon.get_tool(i) for i in range(6)],
                  "events": [mon.get_events(i) for i in range(6)],
                  "backend": infi_tracing.tracing_stats()["backend"]}))
"""


if hasattr(sys, "monitoring"):  # 3.12+: defined only where it applies, never a skip
    def test_monitoring_install_failing_half_way_frees_its_tool_id(tmp_path):
        """An install that fails after claiming a tool id frees it and reports the error."""
        proc = run_python(tmp_path, HALF_INSTALLED)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"error": "refused by the test", "tools": [None] * 6,
                                           "events": [0] * 6, "backend": None}
