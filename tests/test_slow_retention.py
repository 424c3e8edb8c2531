"""Slow-call retention (issue 12 item 3): min_duration and keep_slow per sink, the
"omitted" records that keep self times exact, the held-records bound, the accounting."""

import json

import pytest

from helpers import (
    ONLY_MAIN,
    check_nesting,
    read_jsonl,
    report_rows_by_name,
    run_cli,
    run_traced_program,
    shown_qualname,
    write,
)

# A program of known shape: top() makes 5 fast calls and calls mid(), which makes 3
# fast calls and one slow() that sleeps 60 ms.  A 20 ms threshold keeps top, mid and
# slow (ancestors and the slow call) and leaves the 8 fast calls out.
KNOWN = """
import time
def fast():
    return 1
def slow():
    time.sleep(0.06)
def mid():
    for _ in range(3):
        fast()
    slow()
def top():
    for _ in range(5):
        fast()
    mid()
top()
"""


def _trace(tmp_path, body, thin_options, *, backend="auto", tracing_args="", setup="",
           formats=("jsonl",)):
    """Trace `body` (__main__ only) to full.jsonl (every record) and thin.jsonl (with
    `thin_options`), plus full.itr / thin.itr with "binary" in `formats` and thin.txt
    with "text"; returns (full records, thin records, the sinks' stats by name)."""
    sinks = ["file://%s?format=jsonl" % (tmp_path / "full.jsonl"),
             "file://%s?format=jsonl&%s" % (tmp_path / "thin.jsonl", thin_options)]
    if "binary" in formats:
        sinks += ["binary://%s" % (tmp_path / "full.itr"),
                  "binary://%s?%s" % (tmp_path / "thin.itr", thin_options)]
    if "text" in formats:
        sinks += ["file://%s?%s" % (tmp_path / "thin.txt", thin_options)]
    end = ("import json\n"
           "print(json.dumps({s['sink'].partition(':')[2]: s "
           "for s in infi_tracing.tracing_stats()['sinks']}))")
    proc = run_traced_program(tmp_path, body, backend=backend, setup=ONLY_MAIN + setup,
                              sinks="infi_tracing.configure_sinks(%r)" % sinks,
                              tracing_args="filter=only_main, overflow='block', " + tracing_args,
                              end=end)
    stats = json.loads(proc.stdout.splitlines()[-1])
    return (read_jsonl(tmp_path / "full.jsonl"), read_jsonl(tmp_path / "thin.jsonl"),
            {name.rpartition("/")[2]: s for name, s in stats.items()})


def _calls(records):
    return [(r["event"], r["qualname"]) for r in records if r["event"] in ("call", "return")]


def _omitted_at(records):
    """{qualname of the call whose exit follows: (calls, ns)} of each "omitted" record."""
    out = {}
    for rec, nxt in zip(records, records[1:], strict=False):
        if rec["event"] == "omitted":
            assert nxt["event"] == "return" and nxt["depth"] == rec["depth"], (rec, nxt)
            out[nxt["qualname"]] = (rec["omitted_calls"], rec["omitted_ns"])
    return out


def _fast_time_under(full, parent):
    """Sum of the durations of the fast() calls made directly by `parent` (full trace)."""
    total, stack = 0, []
    for rec in full:
        if rec["event"] == "call":
            stack.append(rec["qualname"])
        elif rec["event"] == "return":
            stack.pop()
            if rec["qualname"] == "fast" and stack and stack[-1] == parent:
                total += rec["duration_ns"]
    return total


def test_min_duration_keeps_slow_calls_and_their_ancestors(tmp_path, backend):
    """min_duration writes exactly the slow call and its ancestors, in order and nested."""
    _, thin, _ = _trace(tmp_path, KNOWN, "min_duration=20ms", backend=backend)
    assert _calls(thin) == [("call", "top"), ("call", "mid"), ("call", "slow"),
                            ("return", "slow"), ("return", "mid"), ("return", "top")]
    check_nesting([r for r in thin if r["event"] != "omitted"])


def test_omitted_records_count_the_children_left_out(tmp_path):
    """Each kept call's exit is preceded by the count and exact time of its fast children."""
    full, thin, _ = _trace(tmp_path, KNOWN, "min_duration=20ms")
    assert _omitted_at(thin) == {"mid": (3, _fast_time_under(full, "mid")),
                                 "top": (5, _fast_time_under(full, "top"))}


def test_sink_accounting_with_omitted_records(tmp_path):
    """Per sink: written + lost + pending + omitted = the records handed to it."""
    _, _, stats = _trace(tmp_path, KNOWN, "min_duration=20ms")
    full, thin = stats["full.jsonl"], stats["thin.jsonl"]
    assert (thin["records"], thin["omitted"], thin["lost"], thin["pending"]) == (6, 16, 0, 0)
    assert thin["records"] + thin["lost"] + thin["pending"] + thin["omitted"] == full["records"]
    assert "omitted" not in full


def test_report_self_times_match_an_unfiltered_trace(tmp_path):
    """report's self and total times of the kept functions are those of the full trace."""
    _trace(tmp_path, KNOWN, "min_duration=20ms", formats=("jsonl", "binary", "text"))
    full = report_rows_by_name(tmp_path, "full.itr")
    for thin_file in ("thin.itr", "thin.jsonl"):
        thin = report_rows_by_name(tmp_path, thin_file)
        assert set(thin) == {"__main__.top", "__main__.mid", "__main__.slow"}
        for name, row in thin.items():
            assert row["wall"]["self"] == full[name]["wall"]["self"], (thin_file, name)
            assert row["wall"]["total"] == full[name]["wall"]["total"], (thin_file, name)
    text = report_rows_by_name(tmp_path, "thin.txt")  # text durations have 4 digits
    for name, row in text.items():
        assert row["wall"]["self"] == pytest.approx(full[name]["wall"]["self"], rel=1e-3,
                                                    abs=1000)


THREADS_AND_GREENLETS = """
import threading, time, greenlet
def fast():
    return 1
def slow(s):
    time.sleep(s)
def work(s):
    fast()
    slow(s)
    fast()
    slow(0)
def in_greenlets():
    a = greenlet.greenlet(lambda: work(0.05))
    b = greenlet.greenlet(lambda: work(0.0))
    a.switch()
    b.switch()
threads = [threading.Thread(target=work, args=(0.05,)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
in_greenlets()
"""


def test_min_duration_in_threads_and_greenlets(tmp_path, backend):
    """Each thread and greenlet keeps its own slow calls and ancestors, nothing else (the
    main greenlet's in_greenlets() waited 50 ms for greenlet a: slow in wall time)."""
    _, thin, _ = _trace(tmp_path, THREADS_AND_GREENLETS, "min_duration=20ms", backend=backend)
    pairs = check_nesting([r for r in thin if r["event"] != "omitted"])
    by_stream = {}
    for rec in thin:
        if rec["event"] == "call":
            by_stream.setdefault((rec["tid"], rec["greenlet"]), []).append(rec["qualname"])
    kept = sorted(tuple(names) for names in by_stream.values())
    assert kept == sorted([("work", "slow")] * 2 + [("in_greenlets",)]
                          + [(shown_qualname("in_greenlets.<locals>.<lambda>"), "work", "slow")]), by_stream
    assert sum(pairs.values()) == 8


KEEP_SLOW = """
import time
def fast():
    return 1
def handle(s):
    for _ in range(4):
        fast()
    time.sleep(s)
def serve():
    handle(0)
    handle(0.06)
    handle(0)
serve()
fast()
"""


def test_keep_slow_keeps_the_whole_subtree_of_slow_roots_only(tmp_path):
    """keep_slow writes a slow root with all its calls, its caller as context, and
    counts the fast roots as omitted."""
    full, thin, stats = _trace(tmp_path, KEEP_SLOW, "keep_slow=__main__.handle>30ms")
    assert _calls(thin) == ([("call", "serve"), ("call", "handle")]
                            + [("call", "fast"), ("return", "fast")] * 4
                            + [("return", "handle"), ("return", "serve")])
    handles = [r["duration_ns"] for r in full
               if r["event"] == "return" and r["qualname"] == "handle"]
    assert _omitted_at(thin) == {"serve": (2, handles[0] + handles[2])}
    assert stats["thin.jsonl"]["omitted"] == 2 * 5 * 2 + 2  # two fast roots, module's fast()


def test_keep_slow_held_bound_counts_lost(tmp_path):
    """A root holding more than max_held records gives up its closed subtrees: counted
    lost in the stats and in a "lost" record, never dropped silently."""
    body = KEEP_SLOW.replace("range(4)", "range(3000)")
    _, thin, stats = _trace(tmp_path, body, "keep_slow=__main__.handle>30ms&max_held=100")
    sink = stats["thin.jsonl"]
    lost_notices = sum(r["count"] for r in thin if r["event"] == "lost")
    assert sink["lost"] == lost_notices > 5000
    assert sink["records"] + sink["lost"] + sink["pending"] + sink["omitted"] == \
        stats["full.jsonl"]["records"]
    check_nesting([r for r in thin if r["event"] not in ("omitted", "lost")])


def test_python_sink_gets_omitted_records(tmp_path):
    """A Python sink with min_duration receives the kept records and "omitted" dicts."""
    setup = """
import json
class Collect:
    def __init__(self):
        self.records = []
    def write(self, batch):
        self.records.extend(batch)
    def flush(self):
        pass
    def close(self):
        pass
SINK = Collect()
"""
    proc = run_traced_program(tmp_path, KNOWN, setup=ONLY_MAIN + setup,
                              sinks="infi_tracing.set_sinks([SINK])",
                              tracing_args="filter=only_main, min_duration='20ms'",
                              end="print(json.dumps(SINK.records))")
    records = json.loads(proc.stdout.splitlines()[-1])
    assert _calls(records)[:3] == [("call", "top"), ("call", "mid"), ("call", "slow")]
    assert [(r["omitted_calls"], r["depth"]) for r in records if r["event"] == "omitted"] == \
        [(3, 1), (5, 0)]


def _thin_calls_and_returns(tmp_path, body):
    """Run `body` (only __main__ traced) to a jsonl sink with min_duration=1s; its
    (event, qualname) pairs."""
    trace = tmp_path / "thin.jsonl"
    run_traced_program(tmp_path, body, setup=ONLY_MAIN,
                       sinks="infi_tracing.configure_sinks(['file://%s?format=jsonl"
                             "&min_duration=1s'])" % trace,
                       tracing_args="filter=only_main")
    return [(r["event"], r["qualname"]) for r in read_jsonl(trace)]


def test_calls_open_when_tracing_stops_are_written(tmp_path):
    """A call still open when tracing stops is written, not held forever."""
    body = """
    def fast():
        return 1
    def main():
        fast()
        infi_tracing.unset_tracing()
    main()
    """
    assert _thin_calls_and_returns(tmp_path, body) == [("call", "main")]


def test_run_min_duration_option(tmp_path):
    """run --min-duration applies to every sink without its own setting."""
    script = write(tmp_path / "prog.py", KNOWN)
    trace = tmp_path / "run.jsonl"
    proc = run_cli(tmp_path, "run", "--min-duration", "20ms", "--include", str(script),
                   "--sink", "file://%s?format=jsonl" % trace, str(script))
    assert proc.returncode == 0, proc.stderr
    calls = [q for e, q in _calls(read_jsonl(trace)) if e == "call"]
    assert calls == ["<module>", "top", "mid", "slow"]


def test_environment_min_duration(tmp_path):
    """INFI_TRACING_MIN_DURATION applies to set_tracing() without min_duration."""
    trace = tmp_path / "env.jsonl"
    run_traced_program(tmp_path, KNOWN, setup=ONLY_MAIN,
                       sinks="infi_tracing.configure_sinks(['file://%s?format=jsonl'])" % trace,
                       tracing_args="filter=only_main",
                       env={"INFI_TRACING_MIN_DURATION": "20ms"})
    assert [q for e, q in _calls(read_jsonl(trace)) if e == "call"] == ["top", "mid", "slow"]


@pytest.mark.parametrize("args, message", [
    (("--min-duration", "fast"), "--min-duration: expected a duration"),
    (("--keep-slow", "handle"), "--keep-slow: expected GLOB>DURATION"),
    (("--keep-slow", "handle>soon"), "--keep-slow: expected a duration"),
])
def test_run_rejects_bad_retention_options(tmp_path, args, message):
    """A bad --min-duration / --keep-slow is a usage error naming the option."""
    script = write(tmp_path / "prog.py", "pass\n")
    proc = run_cli(tmp_path, "run", *args, str(script))
    assert proc.returncode == 2
    assert message in proc.stderr


def test_sink_url_rejects_a_bad_min_duration():
    """A sink URL's bad min_duration raises ValueError naming the sink and the option."""
    import infi_tracing
    with pytest.raises(ValueError, match=r"sink stderr\?min_duration=soon: min_duration"):
        infi_tracing.configure_sinks(["stderr?min_duration=soon"])


def test_forked_child_starts_with_nothing_held(tmp_path):
    """A forked child writes its own slow calls, never the calls its parent held."""
    body = """
    import os, time
    def slow():
        time.sleep(0.05)
    def main():
        infi_tracing.flush_tracing()  # main's call is held by the filter when it forks
        pid = os.fork()
        if pid == 0:
            slow()
            infi_tracing._api.finish()  # as at exit: the drain's last pass writes what is held
            os._exit(0)
        os.waitpid(pid, 0)
        slow()
    main()
    """
    trace = tmp_path / "thin.jsonl"
    proc = run_traced_program(tmp_path, body, setup=ONLY_MAIN + "import os\nPARENT = os.getpid()",
                              sinks="infi_tracing.configure_sinks(['file://%s?format=jsonl"
                                    "&min_duration=20ms'])" % trace,
                              tracing_args="filter=only_main", end="print(PARENT)")
    parent = int(proc.stdout.split()[-1])
    by_pid = {}
    for rec in read_jsonl(trace):
        by_pid.setdefault(rec["pid"] == parent, []).append((rec["event"], rec["qualname"]))
    assert by_pid[True] == [("call", "main"), ("call", "slow"), ("return", "slow"),
                            ("return", "main")]
    assert by_pid[False] == [("call", "slow"), ("return", "slow")]


def test_keep_slow_and_min_duration_together(tmp_path):
    """keep_slow decides inside its roots (all or nothing: a 21 ms call inside a fast root
    is left out), min_duration outside them."""
    body = """
import time
def fast():
    return 1
def slow_inside():
    time.sleep(0.021)
def slow_outside():
    time.sleep(0.03)
def handle(s, inner):
    fast()
    if inner:
        slow_inside()
    time.sleep(s)
def serve():
    handle(0, True)
    handle(0.08, False)
serve()
slow_outside()
fast()
"""
    _, thin, _ = _trace(tmp_path, body, "keep_slow=__main__.handle>50ms&min_duration=20ms")
    assert [q for e, q in _calls(thin) if e == "call"] == ["serve", "handle", "fast",
                                                          "slow_outside"]


def test_syslog_stream_carries_only_kept_calls(tmp_path):
    """A syslog sink with min_duration sends the kept calls and an "omitted" message."""
    from syslog_peers import StreamPeer, parse_5424
    peer = StreamPeer()
    try:
        run_traced_program(tmp_path, KNOWN, setup=ONLY_MAIN,
                           sinks="infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d"
                                 "?min_duration=20ms'])" % peer.port,
                           tracing_args="filter=only_main")
        messages = [parse_5424(m) for m in peer.wait(8)]
    finally:
        peer.close()
    assert [m["msgid"] for m in messages] == ["call"] * 3 + ["return", "omitted", "return",
                                                             "omitted", "return"]
    assert messages[4]["msg"].endswith(" - omitted 3 calls [%s ns]"
                                       % messages[4]["msg"].rpartition("[")[2][:-4])


def test_replaced_sink_writes_what_it_held(tmp_path):
    """A sink taken out of the sink list writes the calls its retention held open."""
    body = """
    def main():
        infi_tracing.configure_sinks(["stderr"])
    main()
    """
    assert _thin_calls_and_returns(tmp_path, body) == [("call", "main")]
