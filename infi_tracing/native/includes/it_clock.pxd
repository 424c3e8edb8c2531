# Declarations of it_clock.h: the records' time base.
from libc.stdint cimport uint64_t

cdef extern from "it_clock.h" nogil:
    uint64_t it_now_ns()
    uint64_t it_thread_cpu_ns()
    const char *it_clock_init()
