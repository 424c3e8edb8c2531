# Declarations of it_rsource.h: the interface of a trace source.
from libc.stdint cimport uint32_t, uint64_t
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs

cdef extern from "it_rsource.h" nogil:
    enum:
        IT_RSOURCE_ERR
    ctypedef struct it_rsource:
        int (*next)(it_rsource *s, it_rrec *out)
        void (*destroy)(it_rsource *s)
        it_rfuncs *funcs
        uint32_t index
        char err[512]
        uint64_t err_offset
