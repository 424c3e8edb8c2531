# Declarations of it_exit.h: exit's bound on waiting for a sink.
cdef extern from "it_exit.h" nogil:
    enum:
        IT_EXIT_SINK_WAIT_MS
    void it_exit_begin()
