# Declarations of it_flight.h and it_flight_snap.h: the flight recorder.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "it_flight_slow.h" nogil:
    ctypedef struct it_flight_slow:
        int nrules

cdef extern from "it_flight.h" nogil:
    ctypedef struct it_flight:
        it_flight_slow *slow
        uint64_t window_ns
        size_t max_blocks, nblocks, nthreads
        uint64_t kept, evicted, dropped, snapshots
    it_flight *it_flight_new(uint64_t window_ns, uint64_t size)
    void it_flight_free(it_flight *f)

cdef extern from "it_flight_snap.h" nogil:
    ctypedef struct it_flight_snap:
        uint64_t cut
        size_t nthreads, nblocks
        uint64_t records, bytes
    int it_flight_detach(it_flight *f, long pid, it_flight_snap *s)
    int it_flight_write(it_flight_snap *s, int fd)
    void it_flight_reattach(it_flight *f, it_flight_snap *s)

cdef extern from "it_flight_slow.h" nogil:
    it_flight_slow *it_flight_slow_new()
    int it_flight_slow_add(it_flight_slow *s, const char *glob, uint64_t min_ns)
    int it_flight_slow_wait(it_flight_slow *s, uint64_t *seen, long ms, uint32_t *code_id,
                            uint64_t *dur_ns)
    void it_flight_slow_stop(it_flight_slow *s)

cdef extern from "it_flight_fatal.h" nogil:
    int it_fatal_install(const char *template)
    void it_fatal_after_fork()
