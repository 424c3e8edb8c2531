# Declarations of it_rinput.h: an input file read through a buffer.
from libc.stdint cimport uint64_t

cdef extern from "it_rinput.h" nogil:
    enum:
        IT_RINPUT_START
        IT_RINPUT_MAX
    ctypedef struct it_rinput:
        int fd
        uint64_t base
    int it_rinput_init(it_rinput *input, int fd, int own_fd)
    void it_rinput_close(it_rinput *input)
    uint64_t it_rinput_offset(const it_rinput *input)
