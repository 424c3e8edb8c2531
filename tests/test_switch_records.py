"""Greenlet switch records (issue #11, item 2): the switch callback writes one per switch into
the thread's ring; binary files keep them (the pairing and analysis need them), the other
sinks skip them, and they are notices, not records, in every sink's accounting."""

import json

import pytest

from helpers import (
    ONLY_MAIN,
    SINK_CLASSES,
    decode_binary,
    run_traced_program,
)
from reference_binary import read_records

pytestmark = pytest.mark.native

# Two greenlets sleeping in turn, three times each.
ALTERNATE = """
import gevent
def nap():
    gevent.sleep(0.01)
def a():
    for _ in range(3):
        nap()
def b():
    for _ in range(3):
        nap()
main_id = infi_tracing.native._core.current_greenlet_id()
gevent.joinall([gevent.spawn(a), gevent.spawn(b)])
"""

REPORT = """
import json
events = sorted({r["event"] for r in sink.records}) if "sink" in globals() else []
print(json.dumps({"main": main_id, "stats": stats, "python_sink_events": events}))
"""


def _traced(tmp_path, backend, sinks, setup=""):
    """Run ALTERNATE into `sinks` (a list of sink URLs or objects, as source); return
    (main greenlet id, tracing_stats() taken before tracing stopped, the events a Python
    sink named `sink` got)."""
    proc = run_traced_program(
        tmp_path, ALTERNATE + "stats = infi_tracing.tracing_stats()\n", backend=backend,
        setup="import infi_tracing.native._core\n" + setup + ONLY_MAIN,
        sinks="infi_tracing.set_sinks(%s)" % sinks, tracing_args="filter=only_main", end=REPORT)
    out = json.loads(proc.stdout.splitlines()[-1])
    return out["main"], out["stats"], out["python_sink_events"]


def test_binary_trace_holds_each_switch_in_order_with_its_greenlets(tmp_path, backend):
    """Switches chain (each leaves the greenlet the last one entered), every record runs in
    the greenlet the last switch entered, and a and b take turns through the hub."""
    path = tmp_path / "t.itr"
    main_id, stats, _ = _traced(tmp_path, backend, "['binary://%s']" % path)
    records = list(read_records(str(path)))
    switches = [r for r in records if r["event"] == "switch"]
    assert len(switches) == stats["greenlet_switches"] >= 12
    running = main_id
    for rec in records:
        if rec["event"] == "switch":
            assert rec["from_greenlet"] == running, rec
            running = rec["greenlet"]
        else:
            assert rec["greenlet"] == running, rec
    ga, gb = ({r["greenlet"] for r in records if r.get("qualname") == name} for name in "ab")
    assert len(ga) == len(gb) == 1 and ga != gb and main_id not in ga | gb
    turns = [r["greenlet"] for r in switches if r["greenlet"] in ga | gb]
    assert turns == [*ga, *gb] * 4  # started, then back after each of 3 sleeps


def test_switches_are_notices_not_records_in_every_sink(tmp_path, backend):
    """Binary, JSON-lines and Python sinks each account for exactly the records produced;
    only the binary file holds switches."""
    path, jsonl = tmp_path / "t.itr", tmp_path / "t.jsonl"
    sinks = "[sink, 'binary://%s', 'file://%s?format=jsonl']" % (path, jsonl)
    _, stats, python_events = _traced(tmp_path, backend, sinks,
                                      setup=SINK_CLASSES + "sink = Collect()\n")
    produced = stats["records"]
    assert stats["greenlet_switches"] > 0 and len(stats["sinks"]) == 3
    for sink in stats["sinks"]:
        assert (sink["records"], sink["lost"], sink["pending"]) == (produced, 0, 0), sink
    in_file = [r["event"] for r in read_records(str(path))]
    assert in_file.count("switch") == stats["greenlet_switches"]
    assert len(in_file) - in_file.count("switch") == produced
    assert python_events == ["call", "return"]
    assert "switch" not in {json.loads(line)["event"] for line in jsonl.read_text().splitlines()}


def test_decode_leaves_switches_out_and_matches_the_live_jsonl(tmp_path):
    """`decode --format jsonl` of a trace with switches gives the JSON-lines sink's records."""
    path, jsonl = tmp_path / "t.itr", tmp_path / "t.jsonl"
    _traced(tmp_path, "auto", "['binary://%s', 'file://%s?format=jsonl']" % (path, jsonl))
    live = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert decode_binary(path, tmp_path) == live  # the reader pairs as the drain does
