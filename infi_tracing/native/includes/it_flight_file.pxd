# Declarations of it_flight_file.h: the crash-survival file (rings and
# recorder blocks in a shared mapping).
from libc.stdint cimport uint64_t
from infi_tracing.native.includes.it_ring cimport it_ring

cdef extern from "it_flight_file.h" nogil:
    ctypedef struct it_ff_header:
        uint64_t nslots, nblocks, rings_outside, codes_outside, file_size
    ctypedef struct it_ff:
        it_ff_header *h
        size_t size
        int fd
    it_ff *it_ff_cur
    int it_ff_wants(it_ring *r)
