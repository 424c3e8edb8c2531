/* TLS for the syslog sink (RFC 5425: octet-counted syslog over TLS), with
 * OpenSSL driven through memory BIOs by the drain thread, without the GIL.
 *
 * OpenSSL never touches the socket: received bytes are fed into `rbio`,
 * what OpenSSL writes (handshake messages, encrypted records) is taken from
 * `wbio` into `cbuf` and sent by us, non-blocking, like plain TCP.  So the
 * handshake advances one step per pump and the traced program never waits
 * for it, and every byte on the wire is counted: the connection's
 * acknowledged byte count (TCP_INFO) maps back to plaintext through
 * `chunks`, which pairs the end of each encrypted piece of the spool with
 * the end of its ciphertext on this connection (it_tls_acked_plain).
 *
 * Ownership: the SSL_CTX is built at configuration (GIL held) and only read
 * afterwards; the SSL object, buffers and chunk map belong to the drain
 * thread.  The error text is the one field both sides touch: it is guarded
 * by `error_mu` (error paths and tracing_stats() only, never per record). */
#ifndef IT_TLS_H
#define IT_TLS_H

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IT_TLS_CHUNK (16 * 1024)              /* plaintext per SSL_write: one TLS record */
#define IT_TLS_CBUF (64 * 1024)               /* ciphertext waiting for the socket */
#define IT_TLS_HANDSHAKE_NS 10000000000ull    /* a handshake not done in 10 s is given up */
#define IT_TLS_CONFIRM_NS 500000000ull        /* see `confirmed` */
#define IT_TLS_ERROR_MAX 256

typedef struct {
    uint64_t plain_end;   /* stream position (spool) after this piece */
    uint64_t cipher_end;  /* bytes written on this connection once its records are out */
} it_tls_chunk;

typedef struct it_tls_session {
    SSL_CTX *ctx;
    char peer[256];             /* the name checked in the certificate (and sent as SNI) */
    int peer_is_ip, verify;
    char where[128];            /* the sink's name, for the stderr line */
    SSL *ssl;                   /* NULL while not connected; owns rbio and wbio */
    BIO *rbio, *wbio;
    int handshake_done;
    uint64_t handshake_deadline;
    /* TLS 1.3 with a client certificate: the server judges it after our
     * handshake is done, and refuses it with an alert.  Records wait until
     * the server has sent a session ticket (it_tls_on_ticket: it took the
     * certificate) or IT_TLS_CONFIRM_NS passed, so a refusal does not cost
     * records counted delivered that the server threw away. */
    int cert_requested, confirmed;
    uint64_t confirm_deadline;
    char *cbuf;
    size_t chead, ctail;        /* ciphertext to send: cbuf[ctail, chead) */
    uint64_t cipher_made;       /* ciphertext taken from wbio on this connection */
    uint64_t acked_plain;       /* plaintext position whose ciphertext the peer acknowledged */
    it_tls_chunk *chunks;
    size_t chunks_cap, chunks_first, chunks_count;
    pthread_mutex_t error_mu;
    char error[IT_TLS_ERROR_MAX];    /* the last failure ("" none), for tracing_stats() */
    char printed[IT_TLS_ERROR_MAX];  /* the last one written to stderr: once per cause */
} it_tls_session;

/* OpenSSL (drain thread, inside SSL_read): the server sent a session ticket,
 * so it accepted the handshake, client certificate included.  0: the
 * session is not kept (no resumption). */
static int it_tls_on_ticket(SSL *ssl, SSL_SESSION *session) {
    it_tls_session *t = SSL_get_app_data(ssl);
    if (t)
        t->confirmed = 1;
    return 0;
}

/* Configuration (GIL held): a client context, or NULL with `err` saying
 * which file or setting failed and why. */
static inline void *it_tls_ctx_new(const char *ca, const char *cert, const char *key,
                                   int verify, char *err, size_t errlen) {
    char why[200];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* no session cache: the new-session callback only tells that a ticket came */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, it_tls_on_ticket);
    const char *failed = NULL, *file = "";
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (ca && *ca) {
            if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
                failed = "ca file", file = ca;
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            failed = "the system's CA store", file = "";
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (!failed && cert && *cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
            failed = "cert file", file = cert;
        else if (SSL_CTX_use_PrivateKey_file(ctx, key && *key ? key : cert,
                                             SSL_FILETYPE_PEM) != 1)
            failed = "key file", file = key && *key ? key : cert;
        else if (SSL_CTX_check_private_key(ctx) != 1)
            failed = "key file (does not match the certificate)", file = key && *key ? key : cert;
    }
    if (failed) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        snprintf(err, errlen, "%s %s cannot be used: %s", failed, file, why);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Configuration: the sink's TLS state, owning `ctx`; NULL without memory.
 * `chunks_cap`: at most one chunk per queued message. */
static inline it_tls_session *it_tls_new(void *ctx, const char *peer, int peer_is_ip, int verify,
                                 const char *where, size_t chunks_cap) {
    it_tls_session *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cbuf = malloc(IT_TLS_CBUF);
    t->chunks = malloc(chunks_cap * sizeof *t->chunks);
    if (!t->cbuf || !t->chunks) {
        free(t->cbuf);
        free(t->chunks);
        free(t);
        return NULL;
    }
    t->ctx = ctx;
    t->chunks_cap = chunks_cap;
    snprintf(t->peer, sizeof t->peer, "%s", peer);
    snprintf(t->where, sizeof t->where, "%s", where);
    t->peer_is_ip = peer_is_ip;
    t->verify = verify;
    pthread_mutex_init(&t->error_mu, NULL);
    return t;
}

/* The connection is gone (or the process forked): drop the session and
 * everything encrypted for it.  SSL_free sends nothing: the BIOs are memory. */
static inline void it_tls_close(it_tls_session *t) {
    SSL_free(t->ssl);
    t->ssl = NULL;
    t->rbio = t->wbio = NULL;
    t->handshake_done = t->cert_requested = t->confirmed = 0;
    t->chead = t->ctail = 0;
    t->cipher_made = 0;
    t->chunks_first = t->chunks_count = 0;
}

static inline void it_tls_free(it_tls_session *t) {
    if (!t)
        return;
    it_tls_close(t);
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->error_mu);
    free(t->cbuf);
    free(t->chunks);
    free(t);
}

/* A failure: kept for tracing_stats(), and when `loud` one line on stderr
 * unless the same text was the last one written (a retry fails the same
 * way).  A confirmed session that lost its connection is not loud: the
 * server went away, which TCP reports no louder (errors, reconnects and
 * lost count it). */
static void it_tls_fail(it_tls_session *t, int loud, const char *what, const char *detail) {
    char text[IT_TLS_ERROR_MAX];
    snprintf(text, sizeof text, "%s%s%s", what, detail && *detail ? ": " : "",
             detail ? detail : "");
    pthread_mutex_lock(&t->error_mu);
    memcpy(t->error, text, sizeof text);
    pthread_mutex_unlock(&t->error_mu);
    if (loud && strcmp(t->printed, text) != 0) {
        char line[IT_TLS_ERROR_MAX + 160];
        int n = snprintf(line, sizeof line, "infi_tracing: %s: %s\n", t->where, text);
        if (n > (int)sizeof line - 1)
            n = (int)sizeof line - 1;
        /* the drain thread has no GIL: a plain write(2), unbuffered, one line */
        ssize_t rc = write(2, line, (size_t)n);
        (void)rc;
        memcpy(t->printed, text, sizeof text);
    }
}

/* tracing_stats(): the last failure's text, "" when there was none. */
static inline void it_tls_error(it_tls_session *t, char *buf, size_t len) {
    pthread_mutex_lock(&t->error_mu);
    snprintf(buf, len, "%s", t->error);
    pthread_mutex_unlock(&t->error_mu);
}

/* Why the handshake (or the session) failed, as specific as OpenSSL says. */
static void it_tls_fail_ssl(it_tls_session *t, int ssl_error) {
    long verify = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (verify != X509_V_OK) {
        it_tls_fail(t, 1, "TLS certificate verification failed",
                    X509_verify_cert_error_string(verify));
    } else if (e) {
        char why[200];
        ERR_error_string_n(e, why, sizeof why);  /* e.g. the server's alert */
        it_tls_fail(t, 1, t->handshake_done ? "TLS error" : "TLS handshake failed", why);
    } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        it_tls_fail(t, !t->confirmed, "TLS session closed by the server", NULL);
    } else {
        it_tls_fail(t, !t->confirmed, t->handshake_done
                    ? "TLS connection closed by the server"
                    : "TLS handshake failed: connection closed by the server", NULL);
    }
    ERR_clear_error();
}

/* OpenSSL (drain thread, inside SSL_do_handshake): the server asked for a
 * client certificate.  1: go on, with the certificate configured, if any. */
static int it_tls_on_cert_request(SSL *ssl, void *arg) {
    ((it_tls_session *)arg)->cert_requested = 1;
    return 1;
}

/* A TCP connection is up: start a session.  `plain_pos`: the stream
 * position the connection starts at.  Returns -1 without memory. */
static int it_tls_open(it_tls_session *t, uint64_t plain_pos, uint64_t now) {
    it_tls_close(t);
    ERR_clear_error();
    t->ssl = SSL_new(t->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        t->rbio = t->wbio = NULL;
        it_tls_close(t);
        it_tls_fail(t, 1, "TLS: out of memory", NULL);
        return -1;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);  /* the SSL owns them now */
    SSL_set_connect_state(t->ssl);
    SSL_set_cert_cb(t->ssl, it_tls_on_cert_request, t);
    SSL_set_app_data(t->ssl, t);
    if (t->verify) {
        /* the certificate must name the server: its IP address or host name */
        if (t->peer_is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->peer);
        else
            SSL_set1_host(t->ssl, t->peer);
    }
    if (!t->peer_is_ip)
        SSL_set_tlsext_host_name(t->ssl, t->peer);  /* SNI never carries an IP literal */
    t->handshake_deadline = now + IT_TLS_HANDSHAKE_NS;
    t->acked_plain = plain_pos;
    return 0;
}

/* Move what OpenSSL wrote into cbuf (what does not fit waits in wbio). */
static void it_tls_take_output(it_tls_session *t) {
    if (t->chead == t->ctail)
        t->chead = t->ctail = 0;
    while (t->chead < IT_TLS_CBUF && BIO_ctrl_pending(t->wbio)) {
        int n = BIO_read(t->wbio, t->cbuf + t->chead, (int)(IT_TLS_CBUF - t->chead));
        if (n <= 0)
            break;
        t->chead += (size_t)n;
        t->cipher_made += (uint64_t)n;
    }
}

/* Nothing waits to be sent: a new chunk may be encrypted. */
static inline int it_tls_idle(const it_tls_session *t) {
    return t->confirmed && t->chead == t->ctail && !BIO_ctrl_pending(t->wbio);
}

/* The session waits for the server (handshake, or `confirmed`), not the socket. */
static inline int it_tls_waits_for_server(const it_tls_session *t) {
    return t->ssl && !t->confirmed;
}

/* Read what the server sent, advance the handshake (or take in its
 * post-handshake messages), send what is pending.  Returns -1 when the
 * session failed (reported), 0 otherwise; `*sent` += bytes on the wire. */
static int it_tls_io(it_tls_session *t, int fd, uint64_t now, uint64_t *sent) {
    char in[4096];
    int closed = 0, read_errno = 0;
    ERR_clear_error();
    /* bounded: a server that talks without end cannot keep the drain here */
    for (int reads = 0; reads < 64; reads++) {
        ssize_t n = recv(fd, in, sizeof in, MSG_DONTWAIT);
        if (n > 0) {
            BIO_write(t->rbio, in, (int)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        /* end of stream or an error: what came before it (an alert saying
         * why) is taken in first, below */
        closed = 1;
        read_errno = n < 0 ? errno : 0;
        break;
    }
    if (!t->handshake_done) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc == 1) {
            t->handshake_done = 1;
            t->confirmed = !(t->cert_requested && SSL_version(t->ssl) == TLS1_3_VERSION);
            t->confirm_deadline = now + IT_TLS_CONFIRM_NS;
        } else {
            int e = SSL_get_error(t->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                it_tls_fail_ssl(t, e);
                return -1;
            }
            if (now > t->handshake_deadline) {
                it_tls_fail(t, 1, "TLS handshake failed: no answer from the server in 10 s",
                            NULL);
                return -1;
            }
        }
    }
    while (t->handshake_done && BIO_ctrl_pending(t->rbio)) {
        /* session tickets, alerts: a syslog server sends no application data */
        int rc = SSL_read(t->ssl, in, sizeof in);
        int e = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, rc);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            it_tls_fail_ssl(t, e);
            return -1;
        }
        if (e != SSL_ERROR_NONE)
            break;
    }
    if (closed) {
        it_tls_fail(t, !t->confirmed,
                    t->confirmed ? "TLS connection closed by the server"
                    : t->handshake_done ? "TLS session refused by the server after the "
                                          "handshake (client certificate?)"
                    : "TLS handshake failed: connection closed by the server",
                    read_errno ? strerror(read_errno) : NULL);
        return -1;
    }
    if (t->handshake_done && !t->confirmed && now > t->confirm_deadline)
        t->confirmed = 1;  /* a server that sends no tickets: it took the certificate */
    for (;;) {
        it_tls_take_output(t);
        if (t->chead == t->ctail)
            return 0;
        ssize_t n = send(fd, t->cbuf + t->ctail, t->chead - t->ctail, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            t->ctail += (size_t)n;
            *sent += (uint64_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOBUFS))
            return 0;
        it_tls_fail(t, !t->confirmed, "TLS connection lost", n < 0 ? strerror(errno) : NULL);
        return -1;
    }
}

/* Encrypt one chunk (whole messages of the spool) ending at stream
 * position `plain_end`.  A memory BIO takes everything: SSL_write writes
 * all of it or fails.  Returns -1 on failure (reported). */
static int it_tls_encrypt(it_tls_session *t, const char *p, size_t len, uint64_t plain_end) {
    ERR_clear_error();
    int rc = SSL_write(t->ssl, p, (int)len);
    if (rc != (int)len) {
        it_tls_fail_ssl(t, SSL_get_error(t->ssl, rc));
        return -1;
    }
    /* every record of the chunk is in wbio now: its ciphertext ends at
     * cipher_made + what wbio still holds */
    it_tls_chunk *c = &t->chunks[(t->chunks_first + t->chunks_count++) % t->chunks_cap];
    c->plain_end = plain_end;
    c->cipher_end = t->cipher_made + BIO_ctrl_pending(t->wbio);
    return 0;
}

/* The plaintext position delivered once `acked` bytes of this connection
 * were acknowledged: a message counts once the records holding it did. */
static inline uint64_t it_tls_acked_plain(it_tls_session *t, uint64_t acked) {
    while (t->chunks_count && t->chunks[t->chunks_first].cipher_end <= acked) {
        t->printed[0] = 0;  /* the session works: a later failure is news again */
        t->acked_plain = t->chunks[t->chunks_first].plain_end;
        t->chunks_first = (t->chunks_first + 1) % t->chunks_cap;
        t->chunks_count--;
    }
    return t->acked_plain;
}

#endif
