# Declarations of it_slow.h: slow-call retention of one sink.
from libc.stdint cimport uint64_t, int64_t
from infi_tracing.native.includes.it_ring cimport it_record

cdef extern from "it_slow.h" nogil:
    ctypedef struct it_omitted_payload:
        uint64_t calls
        int64_t wall_ns, active_ns
    ctypedef struct it_slow:
        uint64_t omitted, held, lost
    uint64_t IT_SLOW_NONE
    it_slow *it_slow_new(uint64_t min_ns, const char *keep_glob, uint64_t keep_ns,
                         uint64_t max_held)
    void it_slow_free(it_slow *f)
    const it_omitted_payload *it_omitted_of(const it_record *r)
