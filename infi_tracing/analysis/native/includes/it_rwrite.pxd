# Declarations of it_rwrite.h: text and JSON lines of the reader's records to an fd.
from libc.stdint cimport uint64_t
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec, it_rfunc

cdef extern from "it_rwrite.h" nogil:
    ctypedef struct it_rwrite:
        int err
        uint64_t lines
    int it_rwrite_init(it_rwrite *w, int fd, int format)
    int it_rwrite_flush(it_rwrite *w)
    void it_rwrite_destroy(it_rwrite *w)
    int it_rwrite_record(it_rwrite *w, const it_rrec *x, const it_rfunc *f)
