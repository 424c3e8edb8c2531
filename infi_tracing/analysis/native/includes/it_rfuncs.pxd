# Declarations of it_rfuncs.h: the reader's function table.
from libc.stdint cimport uint32_t
from infi_tracing.analysis.native.includes.it_rrec cimport it_rfunc

cdef extern from "it_rfuncs.h" nogil:
    ctypedef struct it_rfuncs:
        uint32_t n
        int oom
    const it_rfunc *it_rfuncs_get(const it_rfuncs *t, uint32_t i)
