# Declarations of it_rhost.h: the host a syslog-collected record's pid carries.
from libc.stdint cimport int64_t, uint32_t

cdef extern from "it_rhost.h" nogil:
    int64_t IT_RREC_PID_REAL(int64_t pid)
    uint32_t IT_RREC_HOST(int64_t pid)
