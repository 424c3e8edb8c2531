# Declarations of it_out.h: a bounded output buffer.
cdef extern from "it_out.h" nogil:
    ctypedef struct it_out:
        char *p
        size_t len, cap
