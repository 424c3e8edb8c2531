# Declarations of it_flight_slow.h: the flight recorder's slow-call rules.
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "it_flight_slow.h" nogil:
    ctypedef struct it_flight_slow:
        int nrules
    it_flight_slow *it_flight_slow_new()
    int it_flight_slow_add(it_flight_slow *s, const char *glob, uint64_t min_ns)
    int it_flight_slow_wait(it_flight_slow *s, uint64_t *seen, long ms, uint32_t *code_id,
                            uint64_t *dur_ns)
    void it_flight_slow_stop(it_flight_slow *s)
