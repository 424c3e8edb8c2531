# Declarations of it_flight.h: the flight recorder (a sink of the drain).
from libc.stdint cimport uint64_t
from infi_tracing.native.includes.it_flight_slow cimport it_flight_slow

cdef extern from "it_flight.h" nogil:
    ctypedef struct it_flight:
        it_flight_slow *slow
        uint64_t window_ns
        size_t max_blocks, nblocks, nthreads
        uint64_t kept, evicted, dropped, snapshots
    it_flight *it_flight_new(uint64_t window_ns, uint64_t size)
    void it_flight_free(it_flight *f)
    void it_flight_use_file(it_flight *f)
    int it_flight_file_open(int fd, uint64_t ring_bytes, uint64_t size)
