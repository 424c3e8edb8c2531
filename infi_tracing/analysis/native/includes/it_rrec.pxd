# Declarations of it_rrec.h: the reader's record and function.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef extern from "it_rrec.h" nogil:
    ctypedef struct it_rfunc:
        const char *module
        const char *qualname
        const char *filename
        int line
        int nargs
        const char *const *argnames

    ctypedef struct it_rrec:
        int event
        uint64_t ts
        int64_t wall_offset
        int64_t pid, tid
        uint32_t greenlet
        uint32_t from_greenlet
        int32_t depth
        uint32_t func
        uint64_t count
        const char *values
        uint32_t nvalues
        uint32_t values_len
        int64_t duration_ns
        int64_t active_ns
        int64_t self_ns, self_active_ns
        uint32_t parent_func
        uint32_t source
        uint64_t offset
