# Declarations of it_flight_fatal.h: flight-recorder snapshots on fatal signals.
cdef extern from "it_flight_fatal.h" nogil:
    int it_fatal_install(const char *template)
    void it_fatal_after_fork()
