# Declarations of it_hist.h: a log-linear histogram of durations.
from libc.stdint cimport uint64_t

cdef extern from "it_hist.h" nogil:
    ctypedef struct it_hist:
        uint64_t total
    uint64_t it_hist_quantile(const it_hist *h, double q)
