# Declarations of it_flight_file_fork.h: the crash-survival file across fork().

cdef extern from "it_flight_file_fork.h" nogil:
    void it_ff_child_detach()
    int it_ff_child_attach(int fd)
