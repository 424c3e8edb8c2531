"""Summaries: the run command's exit summary and readable tracing statistics.

``format_summary()`` is what ``python -m infi_tracing run`` prints at exit:
records and drops per sink, threads and greenlets seen, and the top functions
by calls, by total and by self time (counted natively by the drain thread).  ``stats_snapshot()`` / ``format_stats()``
turn tracing_stats() into the JSON written by the stats signal and into
the text ``python -m infi_tracing stats FILE`` prints.
"""

import json
import os
import time

from infi_tracing._format import escape_text, format_time, round_duration
from infi_tracing.native import _core

__all__ = ["RunSummary", "format_summary", "stats_snapshot", "compact_snapshot",
           "format_stats", "read_stats_file", "STATS_LOGGER"]

STATS_LOGGER = "infi_tracing.stats"
COMPACT_LIMIT = 1500  # bytes of the stats log record (fits a UDP syslog datagram)


class RunSummary:
    """What the exit summary needs beyond tracing_stats(): when the run
    started.  Call counts and times come from the drain
    (``_core.top_functions``), so the summary adds no sink and costs the
    traced program nothing."""

    def __init__(self):
        self.started = time.monotonic()
        _core.keep_call_times(True)  # total and self times, whatever the sinks


def _n(value):
    return format(value, ",")


def format_summary(stats, summary, top=10):
    """The text `run` prints at exit: records and drops per sink (written,
    lost, pending, why records were given up), threads and greenlets seen,
    the top functions by calls, by total and by self time."""
    elapsed = time.monotonic() - summary.started
    lines = ["infi_tracing: %s records, %s lost in %.2f s (pid %d, backend %s)"
             % (_n(stats["records"]), _n(stats["lost"]), elapsed, os.getpid(),
                stats.get("backend") or "-")]
    for sink in stats["sinks"]:
        line = "  sink %s: %s records written, %s lost, %s errors, %s bytes" % (
            sink["sink"], _n(sink["records"]), _n(sink["lost"]), _n(sink["errors"]),
            _n(sink["bytes"]))
        if sink.get("pending"):
            line += ", %s pending" % _n(sink["pending"])
        if sink.get("error"):
            line += ", last error %s" % sink["error"]
        if sink.get("given_up_at_exit"):
            line += ", given up at exit (%s)" % sink["given_up_at_exit"]
        lines.append(line)
    lines.append("  threads seen: %d, greenlets seen: %d"
                 % (stats["threads_seen"], stats["greenlets_seen"]))
    untraced = stats.get("stack_low_untraced_calls", 0)
    if stats.get("stack_low_fallbacks"):
        lines.append("  backend: %s" % stats["backend_note"])
    if untraced:
        lines.append("  %s calls not traced (%s records counted lost): deep recursion, the C "
                     "stack was low" % (_n(untraced), _n(2 * untraced)))
    if stats["lost"] > 2 * untraced and stats.get("overflow") != "block":
        lines.append("  (records were lost: a ring was full; try --overflow block or a larger "
                     "--buffer-size)")
    if top > 0:
        lines.extend(_top_table("calls", "calls", top, _n))
        lines.extend(_top_table("total", "total time", top, round_duration))
        lines.extend(_top_table("self", "self time", top, round_duration))
    return "\n".join(lines) + "\n"


_COLUMN = {"calls": 2, "total": 3, "self": 4}  # in _core.top_functions' rows


def _top_table(by, title, top, show):
    """Lines of one summary table: the `top` functions by `by` (none: no table).
    Self time is the time a function itself ran: less its callees', less the time
    its greenlet was switched out."""
    rows = _core.top_functions(top, by)
    if not rows:
        return []
    return ["  top functions by %s:" % title] + [
        "  %12s  %s.%s" % (show(row[_COLUMN[by]]), escape_text(row[0]), escape_text(row[1]))
        for row in rows]


def stats_snapshot(stats):
    """tracing_stats() with the pid and the time, for the stats file and log."""
    now = time.time_ns()
    snapshot = {"pid": os.getpid(), "time": format_time(now)}
    snapshot.update(stats)
    return snapshot


def compact_snapshot(snapshot, limit=COMPACT_LIMIT):
    """JSON text of a snapshot small enough for one log record: per-thread
    counters are cut to the three busiest threads (then left out, then the
    sinks are summed) while the text is longer than `limit`."""
    text = json.dumps(snapshot, separators=(",", ":"))
    if len(text) <= limit:
        return text
    small = dict(snapshot)
    threads = sorted(snapshot.get("threads", ()), key=lambda t: -t.get("records", 0))
    small["threads"] = {"count": len(threads), "busiest": threads[:3]}
    text = json.dumps(small, separators=(",", ":"))
    if len(text) <= limit:
        return text
    small["threads"] = {"count": len(threads)}
    text = json.dumps(small, separators=(",", ":"))
    if len(text) <= limit:
        return text
    sinks = snapshot.get("sinks", ())
    small["sinks"] = {"count": len(sinks)}
    for key in ("records", "bytes", "errors", "lost"):
        small["sinks"][key] = sum(s.get(key, 0) for s in sinks)
    return json.dumps(small, separators=(",", ":"))


def format_stats(snapshot):
    """Readable text of one stats snapshot (see stats_snapshot)."""
    head = "pid %s" % snapshot.get("pid", os.getpid())
    if "time" in snapshot:
        head += " at %s" % snapshot["time"]
    lines = [head + ": tracing %s, backend %s, overflow %s" % (
        "on" if snapshot.get("active") else "off", snapshot.get("backend") or "-",
        snapshot.get("overflow", "-"))]
    lines.append("  records %s, lost %s" % (_n(snapshot.get("records", 0)),
                                             _n(snapshot.get("lost", 0))))
    threads = snapshot.get("threads", [])
    if isinstance(threads, dict):  # a compact snapshot from the trace stream
        lines.append("  threads: %d" % threads.get("count", 0))
        threads = threads.get("busiest", [])
    for thread in threads:
        lines.append("    thread %s: %s records, %s lost, buffer %s of %s bytes used" % (
            thread.get("tid", "?"), _n(thread.get("records", 0)), _n(thread.get("lost", 0)),
            _n(thread.get("buffer_used", 0)), _n(thread.get("buffer_bytes", 0))))
    exited = snapshot.get("exited_threads")
    if exited and exited.get("threads"):
        lines.append("    %s exited threads: %s records, %s lost" % (
            _n(exited["threads"]), _n(exited["records"]), _n(exited["lost"])))
    sinks = snapshot.get("sinks", [])
    if isinstance(sinks, dict):
        lines.append("  sinks: %d, %s records, %s lost, %s errors" % (
            sinks.get("count", 0), _n(sinks.get("records", 0)), _n(sinks.get("lost", 0)),
            _n(sinks.get("errors", 0))))
        sinks = []
    for sink in sinks:
        extra = "".join(", %s %s" % (_n(sink[key]), key)
                        for key in ("pending", "connects", "reconnects") if sink.get(key))
        if sink.get("error"):
            extra += ", last error %s" % sink["error"]
        lines.append("  sink %s: %s records, %s bytes, %s lost, %s errors%s" % (
            sink.get("sink", "?"), _n(sink.get("records", 0)), _n(sink.get("bytes", 0)),
            _n(sink.get("lost", 0)), _n(sink.get("errors", 0)), extra))
    lines.append("  code objects %s, filter calls %s, filter errors %s" % (
        _n(snapshot.get("code_objects", 0)), _n(snapshot.get("filter_calls", 0)),
        _n(snapshot.get("filter_errors", 0))))
    return "\n".join(lines) + "\n"


def _snapshot_from_record(rec):
    if rec.get("event") == "log":
        if rec.get("logger") != STATS_LOGGER:
            return None
        try:
            found = json.loads(rec["message"])
        except ValueError:
            return None
        return found if isinstance(found, dict) else None
    if "sinks" in rec and "records" in rec:  # a snapshot itself (the stats file)
        return rec
    return None


def _snapshots_from_text(path):
    marker = " %s: " % STATS_LOGGER
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    rec = json.loads(line)
                except ValueError:
                    rec = None
                if isinstance(rec, dict):
                    found = _snapshot_from_record(rec)
                    if found is not None:
                        yield found
                    continue
            head, sep, tail = line.partition(marker)
            if sep and tail.startswith("{"):
                try:
                    found = json.loads(tail)
                except ValueError:
                    continue
                if isinstance(found, dict):
                    yield found


def read_stats_file(path):
    """Stats snapshots, in file order, from a stats file (INFI_TRACING_STATS_FILE:
    one JSON object per line) or from a trace (text, JSON lines or binary)
    holding ``infi_tracing.stats`` log records.  ValueError for a damaged
    binary trace (after its readable part)."""
    from infi_tracing.analysis import Reader
    from infi_tracing.sinks.binary import MAGIC

    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head == MAGIC:
        reader = Reader([path])
        snapshots = [_snapshot_from_record(rec) for rec in reader.records()
                     if rec["event"] == "log"]
        if reader.errors:
            name, _, message = reader.errors[0]
            raise ValueError("%s: %s" % (name, message))
        return [s for s in snapshots if s is not None]
    return list(_snapshots_from_text(path))
