# Declarations of it_format.h and it_drain.h: native sinks and the drain pthread.
from libc.stdint cimport uint16_t, uint32_t, uint64_t, int32_t, int64_t
from cpython.object cimport PyObject
from infi_tracing.native.state cimport it_ring

cdef extern from "it_drain.h":
    # Called by the drain thread with the GIL held (see it_drain_enter_python).
    ctypedef void (*it_py_batch_fn)(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                                    long pid, int64_t wall_offset) noexcept

cdef extern from "it_drain.h" nogil:
    ctypedef struct it_record:
        uint32_t size
        uint16_t event
        uint16_t nvalues
        uint32_t code_id
        uint32_t greenlet_id
        uint64_t count
        uint64_t ts
        int32_t depth
    const char *it_record_value(const it_record *r, int i)
    const char *const it_event_names[]
    enum:
        IT_SINK_FD
        IT_SINK_PY
        IT_SINK_SYSLOG
        IT_SINK_BINARY
        IT_SYSLOG_TCP
        IT_SYSLOG_UDP
        IT_SYSLOG_UNIX_DGRAM
        IT_SYSLOG_UNIX_STREAM
        IT_FORMAT_TEXT
        IT_FORMAT_JSONL
        IT_SINK_BUF
        IT_SINK_MARKS
    ctypedef struct it_syslog:
        int transport
        int fd
        int rfc5424, octet_framing, facility, severity
        char hostname[256]
        char appname[49]
        char msgid[33]
        long procid
        size_t max_datagram
        uint64_t connects, reconnects, bytes_sent, delivered, lost, errors, pending
    it_syslog *it_syslog_new(size_t spool_cap)
    void it_syslog_free(it_syslog *s)
    int it_syslog_set_address(it_syslog *s, int family, const char *host, int port,
                              const char *path)
    ctypedef struct it_binary:
        pass
    it_binary *it_binary_new()
    void it_binary_free(it_binary *b)

    ctypedef struct it_sink_mark:
        uint32_t end, count
    ctypedef struct it_sink:
        int kind
        int fd
        int format
        int owns_fd
        int values
        int flush_timeout_ms
        it_syslog *syslog
        it_binary *binary
        PyObject *pyobj
        char *buf
        size_t len
        it_sink_mark *marks
        int last_errno
        uint64_t records, bytes, errors, lost, pending
    ctypedef struct it_drain_t "it_drain_t":
        int running
        it_sink **sinks
        int nsinks
        it_py_batch_fn py_batch
        uint64_t exited_records, exited_lost, exited_threads
        long pid
    it_drain_t it_d
    void it_drain_adopt(it_ring *r)
    int it_drain_start()
    uint64_t it_drain_flush_ask()
    int it_drain_flush_wait(uint64_t req, long ms)
    size_t it_count_records(const it_record **recs, size_t n)
    # 1 on a thread running a Python sink's code (thread-local, see it_sinks.h)
    int it_in_sink
    void it_drain_stop()
    int it_drain_pause()
    void it_drain_defer_restart()
    void it_drain_restart_if_deferred()
    void it_drain_after_fork_child(it_ring *mine)
    void it_drain_lock_sinks()
    void it_drain_unlock_sinks()
