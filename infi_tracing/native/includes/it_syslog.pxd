# Declarations of it_syslog.h: the native syslog sink's connection and spool.
from libc.stdint cimport uint64_t
from infi_tracing.native.includes.it_tls cimport it_tls_session

cdef extern from "it_syslog.h" nogil:
    enum:
        IT_SYSLOG_TCP
        IT_SYSLOG_UDP
        IT_SYSLOG_UNIX_DGRAM
        IT_SYSLOG_UNIX_STREAM
        IT_SYSLOG_TLS
    ctypedef struct it_syslog:
        int transport
        it_tls_session *tls
        int fd
        int rfc5424, octet_framing, facility, severity
        char hostname[256]
        char appname[49]
        char msgid[33]
        long procid
        size_t max_datagram
        size_t ends_cap
        uint64_t connects, reconnects, bytes_sent, delivered, lost, errors, pending
    it_syslog *it_syslog_new(size_t spool_cap)
    void it_syslog_free(it_syslog *s)
    int it_syslog_set_address(it_syslog *s, int family, const char *host, int port,
                              const char *path)
