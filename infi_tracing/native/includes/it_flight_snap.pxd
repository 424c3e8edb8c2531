# Declarations of it_flight_snap.h: flight-recorder snapshots.
from libc.stdint cimport uint64_t
from infi_tracing.native.includes.it_flight cimport it_flight

cdef extern from "it_flight_snap.h" nogil:
    ctypedef struct it_flight_snap:
        uint64_t cut
        size_t nthreads, nblocks
        uint64_t records, bytes
    int it_flight_detach(it_flight *f, long pid, it_flight_snap *s)
    int it_flight_write(it_flight_snap *s, int fd)
    void it_flight_reattach(it_flight *f, it_flight_snap *s)
