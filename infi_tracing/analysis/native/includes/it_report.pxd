# Declarations of it_report.h: report's per-key aggregation.
from libc.stdint cimport int64_t, uint32_t, uint64_t
from infi_tracing.analysis.native.includes.it_hist cimport it_hist
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec

cdef extern from "it_report.h" nogil:
    enum:
        IT_BY_FUNCTION
        IT_BY_MODULE
        IT_BY_GREENLET
        IT_BY_THREAD
        IT_BY_PID

    ctypedef struct it_report_row:
        int64_t pid, tid
        uint32_t greenlet, func
        uint64_t calls
        int64_t total, total_active, self_active, self_wall
        int64_t max, max_active
        it_hist hist, hist_active

    ctypedef struct it_report:
        it_report_row *rows
        uint32_t nrows
        uint64_t records, exits, unknown
        uint64_t first_ts, last_ts
        int64_t wall_offset
        int oom

    int it_report_init(it_report *r, int by, const it_rfuncs *funcs)
    void it_report_destroy(it_report *r)
    void it_report_add(it_report *r, const it_rrec *rec)
