"""``report``: one row per function (module, greenlet, thread or pid) with
calls, total, self, mean, p50, p95 and max, from the native aggregation
(report.pyx, native/it_report.h)."""

import json

from infi_tracing.analysis._common import open_reader, show_ns
from infi_tracing.analysis._decode import report_errors
from infi_tracing.analysis._reader import REPORT_BY, report_rows

__all__ = ["BY", "COLUMNS", "TIMES", "build_report", "format_report", "report_command"]

BY = tuple(REPORT_BY)
TIMES = ("wall", "active")
COLUMNS = ("calls", "total", "self", "mean", "p50", "p95", "max", "name")
PERCENTILE_NOTE = "percentiles from a log-linear histogram, within 0.4%"


def build_report(paths, by="function", filters=None):
    """(report dict, reader) for trace files `paths`: {"by", "summary",
    "rows"}; each row has "name" (the key as text), "calls" and per time
    kind ("wall", "active") total, self, mean, p50, p95, max in ns."""
    reader = open_reader(paths, filters)
    rows, summary = report_rows(reader, by)
    for row in rows:
        key = row["key"]
        if isinstance(key, tuple):
            row["name"] = " ".join(("pid %s", "tid %s", "g%s")[i] % part
                                   for i, part in enumerate(key))
        else:
            row["name"] = ("pid %s" % key) if by == "pid" else str(key)
        if not isinstance(key, (str, int)):
            row["key"] = list(key)
    return {"by": by, "summary": summary, "rows": rows}, reader


def sort_rows(rows, sort="total", time="wall"):
    """`rows` ordered by `sort` (a column of COLUMNS): names A to Z, numbers
    largest first."""
    if sort == "name":
        return sorted(rows, key=lambda row: row["name"])
    if sort == "calls":
        return sorted(rows, key=lambda row: (-row["calls"], row["name"]))
    return sorted(rows, key=lambda row: (-row[time][sort], row["name"]))


def format_report(report, sort="total", top=None, time="wall"):
    """The report as text lines (a header, then a row per key)."""
    summary = report["summary"]
    rows = sort_rows(report["rows"], sort, time)
    shown = rows if top is None else rows[:top]
    head = ("# %d records, %d calls returned over %s; %s time (self: the function itself ran, "
            "time switched out excluded); %s"
            % (summary["records"], summary["exits"], show_ns(summary["span_ns"]), time,
               PERCENTILE_NOTE))
    if summary["unknown"]:
        head += "; %d exits without a known duration (after a gap) left out" % summary["unknown"]
    lines = [head, "%8s %12s %12s %12s %12s %12s %12s  %s"
             % ("calls", "total", "self", "mean", "p50", "p95", "max", report["by"])]
    for row in shown:
        t = row[time]
        lines.append("%8d %12s %12s %12s %12s %12s %12s  %s"
                     % (row["calls"], show_ns(t["total"]), show_ns(t["self"]),
                        show_ns(t["mean"]), show_ns(t["p50"]), show_ns(t["p95"]),
                        show_ns(t["max"]), row["name"]))
    if len(shown) < len(rows):
        lines.append("# %d more (--top)" % (len(rows) - len(shown)))
    return "\n".join(lines) + "\n"


def report_command(paths, out, by="function", sort="total", top=None, time="wall",
                   as_json=False, filters=None):
    """Run ``report`` writing to `out`; returns the exit code."""
    report, reader = build_report(paths, by, filters)
    if as_json:
        report = dict(report, rows=sort_rows(report["rows"], sort, time)[:top])
        out.write(json.dumps(report, indent=1) + "\n")
    else:
        out.write(format_report(report, sort, top, time))
    return report_errors("report", reader)
