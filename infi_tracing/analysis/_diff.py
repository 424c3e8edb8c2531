"""``diff A B``: two reports side by side, per function the change in calls
and in total/self time, biggest change first; ``--fail-if-slower PCT`` for
CI.  A and B are traces (one file or several, comma-separated), or a
``report --json`` output saved earlier (a baseline)."""

import json

from infi_tracing.analysis._common import show_ns
from infi_tracing.analysis._decode import report_errors
from infi_tracing.analysis._report import build_report

__all__ = ["DEFAULT_MIN_TOTAL_NS", "load_side", "compare", "format_diff", "slower",
           "diff_command"]

DEFAULT_MIN_TOTAL_NS = 1_000_000


def _saved_report(path):
    """The report a ``report --json`` run saved at `path`, or None if the
    file is something else (a trace)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if not head.lstrip().startswith(b'{\n "by"'):
                return None
            f.seek(0)
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "rows" in data else None


def load_side(spec, by="function", filters=None, readers=None):
    """The report of one side: a saved ``report --json`` file, or the
    traces named by `spec` (paths separated by commas), whose reader is
    appended to `readers` (for its errors)."""
    saved = _saved_report(spec) if "," not in spec else None
    if saved is not None:
        if saved.get("by") != by:
            raise ValueError("%s: a report by %s, expected one by %s"
                             % (spec, saved.get("by"), by))
        return saved
    report, reader = build_report(spec.split(","), by, filters)
    if readers is not None:
        readers.append(reader)
    return report


def compare(a, b, time="wall"):
    """A row per name in either report: calls, total and self of A and B
    and their changes (None where a side lacks it); plus the sum of self
    times, the time spent in traced code, as the row named "(all)"."""
    def index(report):
        return {row["name"]: row for row in report["rows"]}

    ia, ib = index(a), index(b)
    rows = []
    for name in sorted(set(ia) | set(ib)):
        ra, rb = ia.get(name), ib.get(name)
        rows.append(_row(name, ra and (ra["calls"], ra[time]["total"], ra[time]["self"]),
                         rb and (rb["calls"], rb[time]["total"], rb[time]["self"])))
    sums = [(sum(r["calls"] for r in report["rows"]), sum(r[time]["self"] for r in report["rows"]),
             sum(r[time]["self"] for r in report["rows"])) for report in (a, b)]
    return _row("(all)", *sums), rows


def _row(name, a, b):
    row = {"name": name}
    for i, key in enumerate(("calls", "total", "self")):
        va, vb = (a[i] if a else None), (b[i] if b else None)
        row[key] = [va, vb]
        row["d_" + key] = (vb or 0) - (va or 0)
        row["pct_" + key] = (100.0 * (vb - va) / va) if va and vb is not None else None
    return row


def slower(total, rows, pct, min_total_ns=DEFAULT_MIN_TOTAL_NS):
    """The rows whose total time grew by more than `pct` percent, among
    those whose total reached `min_total_ns` on either side (below it,
    noise), the "(all)" row (the time in traced code) first."""
    found = []
    for row in [total] + rows:
        a, b = row["total"]
        if a is None or b is None or max(a, b) < min_total_ns:
            continue
        if b > a * (1 + pct / 100.0):
            found.append(row)
    return found


def _pct(value):
    return "new" if value is None else "%+.1f%%" % value


def format_diff(total, rows, top=None):
    """Text: the "(all)" row then each function, biggest change of total
    time first."""
    ordered = sorted(rows, key=lambda row: (-abs(row["d_total"]), row["name"]))
    shown = ordered if top is None else ordered[:top]
    lines = ["%8s %8s %8s %12s %12s %12s %8s %12s %12s %8s  %s"
             % ("calls A", "calls B", "change", "total A", "total B", "change", "%",
                "self A", "self B", "%", "function")]
    for row in [total] + shown:
        ca, cb = row["calls"]
        ta, tb = row["total"]
        sa, sb = row["self"]
        lines.append("%8s %8s %+8d %12s %12s %12s %8s %12s %12s %8s  %s" % (
            "-" if ca is None else ca, "-" if cb is None else cb, row["d_calls"],
            "-" if ta is None else show_ns(ta), "-" if tb is None else show_ns(tb),
            ("+" if row["d_total"] >= 0 else "-") + show_ns(abs(row["d_total"])),
            _pct(row["pct_total"]) if ta is not None and tb is not None else
            ("new" if ta is None else "gone"),
            "-" if sa is None else show_ns(sa), "-" if sb is None else show_ns(sb),
            _pct(row["pct_self"]) if sa is not None and sb is not None else "",
            row["name"]))
    if len(shown) < len(ordered):
        lines.append("# %d more (--top)" % (len(ordered) - len(shown)))
    return "\n".join(lines) + "\n"


def diff_command(a, b, out, err, by="function", time="wall", top=None, fail_if_slower=None,
                 min_total_ns=DEFAULT_MIN_TOTAL_NS, as_json=False, filters=None):
    """Run ``diff`` writing to `out` (notes to `err`); returns the exit
    code: 1 when --fail-if-slower found a function (or the whole) slower,
    or an input could not be read."""
    readers = []
    total, rows = compare(load_side(a, by, filters, readers),
                          load_side(b, by, filters, readers), time)
    if as_json:
        out.write(json.dumps({"total": total, "rows": rows}, indent=1) + "\n")
    else:
        out.write(format_diff(total, rows, top))
    code = 0
    for reader in readers:
        code = report_errors("diff", reader, err) or code
    if fail_if_slower is not None:
        worse = slower(total, rows, fail_if_slower, min_total_ns)
        for row in worse:
            ta, tb = row["total"]
            err.write("infi_tracing diff: %s is %s slower (%s -> %s), over the %g%% allowed\n"
                      % (row["name"], _pct(row["pct_total"]), show_ns(ta), show_ns(tb),
                         fail_if_slower))
        if worse:
            code = 1
    return code
