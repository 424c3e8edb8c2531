"""Live sinks show each exit's call duration, paired by the drain thread (issue #11, item 2):
text " [1.132456 ms]", JSON lines and Python sinks "duration_ns", syslog as text; after a
gap a duration is left out, never wrong; finished greenlets and forks leave nothing behind."""

import json
import re
from collections import defaultdict

import pytest

from infi_tracing._format import format_duration

from helpers import (
    DURATION_TEXT,
    FORKED_CHILD,
    ONLY_MAIN,
    SINK_CLASSES,
    read_jsonl,
    run_traced,
    run_traced_program,
)
from syslog_daemons import rsyslogd_fixture  # noqa: F401

pytestmark = pytest.mark.native

SLEEP_S = 0.02
MS = 1_000_000

# leaf sleeps SLEEP_S; mid calls it twice
SLEEPS = """
import time
def leaf():
    time.sleep(%r)
def mid():
    leaf()
    leaf()
mid()
""" % SLEEP_S


def exact_durations(records):
    """Check every duration shown: it is the exit's time less that of its call (the latest
    call at the exit's depth in its greenlet since the thread's last "lost" record).
    Returns how many exits showed one."""
    open_calls = defaultdict(dict)  # (pid, tid, greenlet) -> {depth: call record}
    shown = 0
    for rec in records:
        if rec["event"] == "lost":
            for key in [k for k in open_calls if k[:2] == (rec["pid"], rec["tid"])]:
                del open_calls[key]
            continue
        calls = open_calls[rec["pid"], rec["tid"], rec["greenlet"]]
        if rec["event"] in ("call", "resume"):
            calls[rec["depth"]] = rec
        elif "duration_ns" in rec:
            call = calls.get(rec["depth"])
            assert call is not None and call["qualname"] == rec["qualname"], \
                "a duration with no call seen since the last gap: %r" % (rec,)
            assert rec["duration_ns"] == rec["mono_ns"] - call["mono_ns"], (call, rec)
            shown += 1
    return shown


def _main(records):
    return [r for r in records if r.get("module") == "__main__"]


def test_jsonl_durations_are_exit_minus_call_times(tmp_path, backend):
    """JSON lines: every return has duration_ns = its time - its call's; sleeps show in them."""
    traced = run_traced(tmp_path, SLEEPS, backend=backend)
    records = _main(traced.records)
    assert exact_durations(records) == 3
    durations = {r["qualname"]: r["duration_ns"] for r in records if r["event"] == "return"}
    assert durations["leaf"] >= SLEEP_S * 1e9 and durations["mid"] >= 2 * SLEEP_S * 1e9
    assert not any("duration_ns" in r for r in records if r["event"] == "call")


def test_text_durations_are_written_as_format_duration_writes_them(tmp_path, backend):
    """Text lines show " [20.113456 ms]" after the return: _format.format_duration's text."""
    sinks = "infi_tracing.set_sinks(['file://%s?format=jsonl', 'file://%s'])" % (
        tmp_path / "t.jsonl", tmp_path / "t.txt")
    run_traced_program(tmp_path, SLEEPS, backend=backend, sinks=sinks)
    records = _main(read_jsonl(tmp_path / "t.jsonl"))
    lines = [line for line in (tmp_path / "t.txt").read_text().splitlines() if "__main__." in line]
    assert len(lines) == len(records) == 6
    for rec, line in zip(records, lines, strict=True):
        shown = DURATION_TEXT.findall(line)
        if rec["event"] == "return":
            assert shown == [" [%s]" % format_duration(rec["duration_ns"])], line
            assert re.search(r"< __main__\.\w+ \[[\d.]+ ms\] \S+:\d+$", line), line
        else:
            assert not shown, line


def test_python_sink_records_carry_duration_ns(tmp_path):
    """A Python sink's return dicts have duration_ns (return - call time); calls have none."""
    proc = run_traced_program(tmp_path, SLEEPS, setup=SINK_CLASSES + "\nsink = Collect()",
                              sinks="infi_tracing.set_sinks([sink])",
                              end="import json; print(json.dumps(sink.records))")
    records = _main(json.loads(proc.stdout))
    assert exact_durations(records) == 3
    assert all(r["duration_ns"] >= SLEEP_S * 1e9 for r in records if r["event"] == "return")


def test_syslog_messages_show_durations_like_text(tmp_path, rsyslogd):
    """rsyslogd receives return messages ending "< __main__.leaf [20.xxxxxx ms] FILE:LINE"."""
    sink = "syslog+tcp://127.0.0.1:%d" % rsyslogd.tcp_port
    run_traced_program(tmp_path, SLEEPS, sinks="infi_tracing.configure_sinks([%r])" % sink)
    messages = [m["msg"] for m in rsyslogd.messages(6) if "__main__." in m["msg"]]
    shown = [re.search(r"< __main__\.(\w+) \[([\d.]+) ms\] \S+:\d+$", m) for m in messages]
    found = {m.group(1): float(m.group(2)) for m in shown if m}
    assert set(found) == {"leaf", "mid"}, messages
    assert found["leaf"] >= SLEEP_S * 1e3 and found["mid"] >= 2 * SLEEP_S * 1e3


# Calls two levels deep, fast enough that a 64 KiB ring behind a Slow sink overflows; now
# and then f pauses before it returns, so that the ring has room again in the middle of a
# call (a gap between its call and its return).
NESTED_CALLS = """
import time
def g(i):
    return i
def f(i):
    g(i)
    if i %% 5000 == 0:
        time.sleep(0.01)
    return i
for i in range(%d):
    f(i)
""" % 100000


def test_durations_after_drops_are_never_wrong(tmp_path):
    """overflow="drop" with a tiny ring: each duration shown is exact; after a gap none is made up."""
    trace = tmp_path / "t.jsonl"
    run_traced_program(tmp_path, NESTED_CALLS, setup=SINK_CLASSES,
                       sinks="infi_tracing.set_sinks([Slow(), 'file://%s?format=jsonl'])" % trace,
                       tracing_args="overflow='drop', buffer_size=65536")
    records = read_jsonl(trace)
    lost = [r for r in records if r["event"] == "lost"]
    assert lost, "the ring never overflowed: the test checks nothing"
    assert exact_durations(records) > 1000
    unknown = [r for r in records if r["event"] == "return" and "duration_ns" not in r]
    assert unknown, "no return lost its call to a gap"


MANY_GREENLETS = """
import greenlet
def work(i):
    return i
def run(i):
    return work(i)
for i in range(100000):
    greenlet.greenlet(run).switch(i)
"""


def test_finished_greenlets_leave_no_open_call_stacks(tmp_path):
    """100,000 short-lived greenlets: the drain's pairing keeps nothing of them afterwards."""
    proc = run_traced_program(
        tmp_path, MANY_GREENLETS,
        end="s = infi_tracing.tracing_stats()\n"
            "print(s['open_call_stacks'], s['greenlets_seen'], s['records'])")
    open_stacks, greenlets, records = map(int, proc.stdout.split())
    assert greenlets > 100000 and records >= 400000
    assert open_stacks <= 1  # the main thread's own node


HELD_GREENLETS = """
import greenlet
def wait():
    greenlet.getcurrent().parent.switch()
def hold():
    wait()
held = [greenlet.greenlet(hold) for _ in range(50)]
for g in held:
    g.switch()
print("parent", infi_tracing.tracing_stats()["open_call_stacks"], flush=True)
def in_child():
    print("child", infi_tracing.tracing_stats()["open_call_stacks"], flush=True)
""" + FORKED_CHILD


def test_forked_child_starts_with_an_empty_pairing(tmp_path):
    """A child forked while 50 greenlets hold open calls does not keep the parent's pairing."""
    proc = run_traced_program(tmp_path, HELD_GREENLETS)
    counts = dict(line.split() for line in proc.stdout.splitlines())
    assert int(counts["parent"]) >= 50
    assert int(counts["child"]) <= 2  # its own thread, and in_child() open in its main greenlet


# f is called with pairing on (a Python sink) and returns with only a binary file (no
# pairing); called again unseen, it switches the Python sink back on before returning.
PAIRING_OFF_AND_ON = """
def f(sinks):
    infi_tracing.set_sinks(sinks)
f([%(binary)r])
f([sink, %(binary)r])
"""


def test_pairing_switched_off_and_on_never_pairs_across_the_gap(tmp_path):
    """A binary file alone pairs nothing; when pairing resumes, an exit whose call it did not
    see has no duration (it is not paired with an older call)."""
    program = PAIRING_OFF_AND_ON % {"binary": "binary://%s" % (tmp_path / "t.itr")}
    proc = run_traced_program(tmp_path, program, setup=SINK_CLASSES + ONLY_MAIN + "sink = Collect()",
                              sinks="infi_tracing.set_sinks([sink])",
                              tracing_args="filter=only_main",
                              end="import json; print(json.dumps(sink.records))")
    events = [(r["event"], "duration_ns" in r) for r in _main(json.loads(proc.stdout))]
    assert events == [("call", False), ("return", False)]
