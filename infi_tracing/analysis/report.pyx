# report: one row per function (module, greenlet, thread, pid), aggregated in
# C by native/it_report.h while the reader runs; Python gets the rows
# (infi_tracing/analysis/_report.py sorts, cuts and shows them).
# Included by _reader.pyx.

from infi_tracing.analysis.native.includes.it_hist cimport it_hist_quantile
from infi_tracing.analysis.native.includes.it_report cimport (
    IT_BY_FUNCTION, IT_BY_GREENLET, IT_BY_MODULE, IT_BY_PID, IT_BY_THREAD, it_report,
    it_report_add, it_report_destroy, it_report_init, it_report_row)
from infi_tracing.analysis.native.includes.it_rhost cimport IT_RREC_HOST, IT_RREC_PID_REAL

REPORT_BY = {"function": IT_BY_FUNCTION, "module": IT_BY_MODULE, "greenlet": IT_BY_GREENLET,
             "thread": IT_BY_THREAD, "pid": IT_BY_PID}


cdef object _pid_key(NativeReader reader, int64_t pid):
    """A pid as shown: the real pid, "host:pid" for a syslog-collected
    record (native/it_rhost.h)."""
    cdef uint32_t host = IT_RREC_HOST(pid)
    if not host:
        return pid
    return "%s:%d" % (reader.function(host)[1], IT_RREC_PID_REAL(pid))


def report_rows(NativeReader reader, by="function"):
    """Read every record of `reader` and aggregate by `by` (function,
    module, greenlet, thread or pid).  Returns (rows, summary): each row a
    dict with "key" (for functions and modules the name; pid, (pid, tid) or
    (pid, tid, greenlet) otherwise), "calls" and for "wall" and "active"
    each: total, self, mean, p50, p95, max in ns (see native/it_report.h
    for what each counts); summary: records, exits without a known
    duration, the trace's first wall time and its span in ns."""
    if by not in REPORT_BY:
        raise ValueError("by: expected one of %s, got %r" % (", ".join(REPORT_BY), by))
    cdef it_report rep
    cdef it_rrec rec
    cdef it_report_row *w
    if it_report_init(&rep, REPORT_BY[by], &reader.r.funcs):
        raise MemoryError()
    try:
        while reader.next(&rec):
            it_report_add(&rep, &rec)
        if rep.oom:
            raise MemoryError("report: out of memory while aggregating")
        rows = []
        for i in range(1, rep.nrows):
            w = &rep.rows[i]
            if by == "function":
                module, qualname, filename, line = reader.function(w.func)
                key = "%s.%s" % (module, qualname) if module else qualname
                extra = {"module": module, "qualname": qualname, "file": filename,
                         "line": line}
            elif by == "module":
                key = reader.function(w.func)[0]
                extra = {}
            elif by == "pid":
                key = _pid_key(reader, w.pid)
                extra = {}
            elif by == "thread":
                key = (_pid_key(reader, w.pid), w.tid)
                extra = {}
            else:
                key = (_pid_key(reader, w.pid), w.tid, w.greenlet)
                extra = {}
            calls = w.calls
            row = {"key": key, "calls": calls,
                   "wall": {"total": w.total, "self": w.self_active, "self_wall": w.self_wall,
                            "mean": w.total // calls if calls else 0,
                            "p50": it_hist_quantile(&w.hist, 0.5),
                            "p95": it_hist_quantile(&w.hist, 0.95), "max": w.max},
                   "active": {"total": w.total_active, "self": w.self_active,
                              "mean": w.total_active // calls if calls else 0,
                              "p50": it_hist_quantile(&w.hist_active, 0.5),
                              "p95": it_hist_quantile(&w.hist_active, 0.95),
                              "max": w.max_active}}
            row.update(extra)
            rows.append(row)
        summary = {"records": rep.records, "exits": rep.exits, "unknown": rep.unknown,
                   "start_ns": rep.first_ts + rep.wall_offset if rep.records else None,
                   "span_ns": rep.last_ts - rep.first_ts if rep.records else 0}
        return rows, summary
    finally:
        it_report_destroy(&rep)
