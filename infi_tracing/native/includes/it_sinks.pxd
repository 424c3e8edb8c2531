# Declarations of it_sinks.h: the native side of a configured sink.
from libc.stdint cimport uint32_t, uint64_t
from cpython.object cimport PyObject
from infi_tracing.native.includes.it_ring cimport it_record
from infi_tracing.native.includes.it_syslog cimport it_syslog
from infi_tracing.native.includes.it_binary cimport it_binary
from infi_tracing.native.includes.it_sink_pftrace cimport it_pft_sink
from infi_tracing.native.includes.it_flight cimport it_flight
from infi_tracing.native.includes.it_slow cimport it_slow

cdef extern from "it_sinks.h" nogil:
    enum:
        IT_SINK_FD
        IT_SINK_PY
        IT_SINK_SYSLOG
        IT_SINK_BINARY
        IT_SINK_PFTRACE
        IT_SINK_FLIGHT
        IT_SINK_BUF
        IT_SINK_MARKS
    ctypedef struct it_sink_mark:
        uint32_t end, count, code_id
    ctypedef struct it_sink:
        int kind
        int fd
        int format
        int owns_fd
        int values
        int flush_timeout_ms
        it_syslog *syslog
        it_binary *binary
        it_pft_sink *pftrace
        it_flight *flight
        it_slow *slow
        PyObject *pyobj
        char *buf
        size_t len
        it_sink_mark *marks
        int last_errno
        uint64_t records, bytes, errors, lost, pending
        int given_up_at_exit
        uint64_t lost_before_exit_give_up
    size_t it_count_records(const it_record **recs, size_t n)
    # 1 on a thread running a Python sink's code (thread-local, see it_sinks.h)
    int it_in_sink
