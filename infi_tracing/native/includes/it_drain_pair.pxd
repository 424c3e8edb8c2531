# Declarations of it_drain_pair.h: the live drain's pairing (durations, per-code times).
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "it_drain_pair.h" nogil:
    ctypedef struct it_drain_pair_t:
        uint64_t switches
    it_drain_pair_t it_dp
    uint32_t it_dp_live()
