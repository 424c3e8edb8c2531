# Declarations of it_tls.h: the syslog sink's TLS session (OpenSSL through memory BIOs).

cdef extern from "it_tls.h" nogil:
    ctypedef struct it_tls_session:
        pass
    void *it_tls_ctx_new(const char *ca, const char *cert, const char *key, int verify,
                         char *err, size_t errlen)
    void SSL_CTX_free(void *ctx)
    it_tls_session *it_tls_new(void *ctx, const char *peer, int peer_is_ip, int verify,
                               const char *where, size_t chunks_cap)
    void it_tls_error(it_tls_session *t, char *buf, size_t len)
