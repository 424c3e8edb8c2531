/* Native syslog sink: RFC 5424 (or RFC 3164) messages over TCP (RFC 6587
 * octet counting or LF framing), TLS (RFC 5425, it_tls.h), UDP or a unix
 * socket (datagram or stream), written by the drain thread without the GIL.
 *
 * Nothing here may block the traced program: messages are framed into a
 * bounded spool and sent with non-blocking sockets; a lost connection is
 * retried with exponential backoff while the spool fills; what does not
 * fit is counted and reported by a "lost N records" message once the
 * connection is back.
 *
 * Delivery accounting over TCP: a message counts as delivered once the
 * peer's kernel has acknowledged its last byte (TCP_INFO.tcpi_bytes_acked);
 * when a connection breaks, messages sent but not acknowledged are counted
 * as lost.  (A daemon that dies after its kernel acknowledged data it had
 * not read yet loses that data unseen: syslog over TCP has no application
 * acknowledgement, RELP does.) */
#ifndef IT_SYSLOG_H
#define IT_SYSLOG_H

#include "it_format.h"
#include "it_tls.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked (glibc's is older) */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { IT_SYSLOG_TCP = 0, IT_SYSLOG_UDP = 1, IT_SYSLOG_UNIX_DGRAM = 2, IT_SYSLOG_UNIX_STREAM = 3,
       IT_SYSLOG_TLS = 4 };

#define IT_SYSLOG_BACKOFF_MIN_NS 50000000ull     /* 50 ms */
#define IT_SYSLOG_BACKOFF_MAX_NS 2000000000ull   /* 2 s */
#define IT_SYSLOG_CONNECT_TIMEOUT_MS 200
#define IT_SYSLOG_MSG_MAX (64 * 1024)

typedef struct it_syslog {
    int transport;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd;                     /* -1 while not connected */
    int rfc5424, octet_framing, facility, severity;
    char hostname[256], appname[49], msgid[33];  /* msgid "" = the event's name */
    long procid;                /* 0 = the real pid, also right after a fork */
    size_t max_datagram;
    /* spool: framed messages in [tail, head) of a buffer compacted on demand;
     * `ends` holds each queued message's end as a stream position */
    char *spool;
    size_t spool_cap, head, tail;
    uint64_t base_pos;          /* stream position of spool[0] */
    uint64_t *ends;
    size_t ends_cap, ends_first, ends_count;
    size_t ends_sent;           /* TLS: queued messages already encrypted (the first ones) */
    it_tls_session *tls;        /* TLS transport only: the session (TCP underneath) */
    uint64_t sent_pos;          /* stream position sent so far (== base_pos + tail) */
    uint64_t settled_pos;       /* end of the last message delivered or lost */
    uint64_t conn_start_pos;    /* stream position where this connection began */
    uint64_t next_try_ns, backoff_ns;
    uint64_t pending_lost;      /* dropped, not yet reported in a message */
    size_t notices;             /* "lost N" notices among the queued messages */
    int ever_connected;
    int flush_stalled;          /* a final flush timed out with messages queued: later flushes
                                 * do not wait again until the spool has emptied */
    _Atomic uint64_t connects, reconnects, bytes_sent, delivered, lost, errors;
    _Atomic uint64_t pending;   /* queued or in flight: neither delivered nor lost yet */
} it_syslog;

static inline it_syslog *it_syslog_new(size_t spool_cap) {
    it_syslog *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    s->spool_cap = spool_cap;
    s->spool = malloc(spool_cap);
    s->ends_cap = spool_cap / 16 + 16;
    s->ends = malloc(s->ends_cap * sizeof *s->ends);
    if (!s->spool || !s->ends) {
        free(s->spool);
        free(s->ends);
        free(s);
        return NULL;
    }
    return s;
}

static inline void it_syslog_free(it_syslog *s) {
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    it_tls_free(s->tls);
    free(s->spool);
    free(s->ends);
    free(s);
}

/* The destination: an IPv4/IPv6 literal and port, or a unix socket path.
 * Returns 0, or -1 when it cannot be expressed (checked at configuration). */
static inline int it_syslog_set_address(it_syslog *s, int family, const char *host, int port,
                                        const char *path) {
    memset(&s->addr, 0, sizeof s->addr);
    if (family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&s->addr;
        if (strlen(path) >= sizeof un->sun_path)
            return -1;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        s->addrlen = (socklen_t)sizeof *un;
    } else if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&s->addr;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -1;
        s->addrlen = (socklen_t)sizeof *in;
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s->addr;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return -1;
        s->addrlen = (socklen_t)sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

static inline int it_syslog_stream(const it_syslog *s) {
    return s->transport == IT_SYSLOG_TCP || s->transport == IT_SYSLOG_UNIX_STREAM ||
           s->transport == IT_SYSLOG_TLS;
}

/* `ends` entries: end position << 1 | 1 for "lost N" notices (ours, and a
 * ring's overflow notices), which are not records and so count neither as
 * delivered, lost nor pending. */
static inline uint64_t it_syslog_end(const it_syslog *s, size_t i) {
    return s->ends[(s->ends_first + i) % s->ends_cap] >> 1;
}

/* Settle the first queued message; returns 1 when it was a record. */
static inline int it_syslog_pop(it_syslog *s) {
    uint64_t entry = s->ends[s->ends_first];
    s->settled_pos = entry >> 1;
    s->ends_first = (s->ends_first + 1) % s->ends_cap;
    s->ends_count--;
    if (s->ends_sent)
        s->ends_sent--;
    if (entry & 1) {
        s->notices--;
        return 0;
    }
    return 1;
}

/* ---- connection ------------------------------------------------------ */

static int it_syslog_connect(it_syslog *s) {
    int stream = it_syslog_stream(s);
    int fd = socket(s->addr.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (s->transport == IT_SYSLOG_UDP) {
        s->fd = fd;  /* unconnected: sendto() each datagram */
    } else {
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = connect(fd, (struct sockaddr *)&s->addr, s->addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, IT_SYSLOG_CONNECT_TIMEOUT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                rc = 0;
        }
        if (rc == 0 && s->tls && it_tls_open(s->tls, s->sent_pos, it_now_ns()) < 0)
            rc = -1;
        if (rc < 0) {
            close(fd);
            return -1;
        }
        s->fd = fd;
    }
    atomic_fetch_add(&s->connects, 1);
    if (s->ever_connected)
        atomic_fetch_add(&s->reconnects, 1);
    s->ever_connected = 1;
    if (!s->tls)
        s->backoff_ns = 0;  /* TLS: once the handshake is done (it_syslog_pump) */
    s->conn_start_pos = s->sent_pos;
    return 0;
}

/* Messages the peer has (TCP: its kernel acknowledged the last byte; TLS:
 * the last byte of the records holding them; other transports: sent) are
 * delivered. */
static void it_syslog_settle(it_syslog *s) {
    uint64_t acked = s->sent_pos;
    if ((s->transport == IT_SYSLOG_TCP || s->transport == IT_SYSLOG_TLS) && s->fd >= 0) {
        struct tcp_info info;
        socklen_t len = sizeof info;
        memset(&info, 0, sizeof info);
        if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
            len >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) {
            acked = s->tls ? it_tls_acked_plain(s->tls, info.tcpi_bytes_acked)
                           : s->conn_start_pos + info.tcpi_bytes_acked;
            if (acked > s->sent_pos)
                acked = s->sent_pos;
        }
    }
    while (s->ends_count && it_syslog_end(s, 0) <= acked) {
        if (it_syslog_pop(s))
            atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed);
    }
}

static void it_syslog_count_lost(it_syslog *s, uint64_t n) {
    s->pending_lost += n;
    atomic_fetch_add_explicit(&s->lost, n, memory_order_relaxed);
}

/* The connection broke: messages sent but not acknowledged are lost, and so
 * is a message cut in the middle (its rest would garble the next stream). */
static void it_syslog_disconnect(it_syslog *s) {
    it_syslog_settle(s);
    uint64_t lost = 0;
    while (s->ends_count && it_syslog_end(s, 0) <= s->sent_pos)
        lost += (uint64_t)it_syslog_pop(s);
    if (s->ends_count && s->settled_pos < s->sent_pos) {
        uint64_t end = it_syslog_end(s, 0);
        s->tail += (size_t)(end - s->sent_pos);
        s->sent_pos = end;
        lost += (uint64_t)it_syslog_pop(s);
    }
    it_syslog_count_lost(s, lost);
    atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    close(s->fd);
    s->fd = -1;
    if (s->tls)
        it_tls_close(s->tls);  /* what was encrypted and not sent is lost above */
    s->next_try_ns = 0;  /* the first retry is immediate, then it backs off */
}

static void it_syslog_backoff(it_syslog *s, uint64_t now) {
    s->backoff_ns = s->backoff_ns ? s->backoff_ns * 2 : IT_SYSLOG_BACKOFF_MIN_NS;
    if (s->backoff_ns > IT_SYSLOG_BACKOFF_MAX_NS)
        s->backoff_ns = IT_SYSLOG_BACKOFF_MAX_NS;
    s->next_try_ns = now + s->backoff_ns;
}

#include "it_syslog_format.h"  /* needs struct it_syslog */

/* Append a framed message to the spool.  Returns 0 when it does not fit. */
static int it_syslog_try_enqueue(it_syslog *s, const char *msg, size_t len, int notice) {
    char frame[32];
    size_t flen = 0;
    if (s->transport == IT_SYSLOG_UDP || s->transport == IT_SYSLOG_UNIX_DGRAM) {
        static const char mark[] = "...[truncated]";
        if (len > s->max_datagram) {
            len = s->max_datagram - (sizeof mark - 1);
            /* the mark replaces the tail; the message buffer has room for it */
            memcpy((char *)msg + len, mark, sizeof mark - 1);
            len += sizeof mark - 1;
        }
    } else if (s->octet_framing) {
        flen = (size_t)snprintf(frame, sizeof frame, "%zu ", len);
    }
    size_t need = flen + len + (!s->octet_framing && it_syslog_stream(s) ? 1 : 0);
    if (s->head + need > s->spool_cap && s->tail) {
        memmove(s->spool, s->spool + s->tail, s->head - s->tail);
        s->head -= s->tail;
        s->base_pos += s->tail;
        s->tail = 0;
    }
    if (s->head + need > s->spool_cap || s->ends_count == s->ends_cap)
        return 0;
    char *p = s->spool + s->head;
    memcpy(p, frame, flen);
    memcpy(p + flen, msg, len);
    if (need > flen + len)
        p[flen + len] = '\n';
    s->head += need;
    s->ends[(s->ends_first + s->ends_count++) % s->ends_cap] =
        (s->base_pos + s->head) << 1 | (uint64_t)(notice != 0);
    s->notices += notice != 0;
    return 1;
}

static void it_syslog_enqueue(it_syslog *s, const char *msg, size_t len, int notice) {
    if (!it_syslog_try_enqueue(s, msg, len, notice) && !notice)
        it_syslog_count_lost(s, 1);
}

/* Once connected, drops are reported in the stream itself, where they
 * stopped: "lost N records" with msgid "lost" and severity warning. */
static void it_syslog_report_lost(it_syslog *s) {
    char msg[512];
    it_out o = {msg, 0, sizeof msg - 32};
    it_syslog_header(s, &o, 4, "lost", it_realtime_ns(), (long)getpid());
    it_out_printf(&o, "lost %llu records (syslog sink: connection down or spool full)",
                  (unsigned long long)s->pending_lost);
    if (it_syslog_try_enqueue(s, msg, o.len, 1))
        s->pending_lost = 0;
}

/* ---- sending --------------------------------------------------------- */

/* TLS: whole messages are encrypted in chunks of up to IT_TLS_CHUNK bytes,
 * each once the ciphertext before it is on the wire, so little is ever
 * encrypted ahead of the socket (a broken connection loses that little,
 * counted).  Returns -1 when the session failed. */
static int it_syslog_pump_tls(it_syslog *s, uint64_t now) {
    uint64_t sent = 0;
    int rc = 0;
    for (;;) {
        if (it_tls_io(s->tls, s->fd, now, &sent) < 0) {
            rc = -1;
            break;
        }
        if (!it_tls_idle(s->tls) || s->ends_sent == s->ends_count)
            break;
        size_t i = s->ends_sent;
        uint64_t end = it_syslog_end(s, i++);
        while (i < s->ends_count && it_syslog_end(s, i) - s->sent_pos <= IT_TLS_CHUNK)
            end = it_syslog_end(s, i++);
        size_t len = (size_t)(end - s->sent_pos);
        if (it_tls_encrypt(s->tls, s->spool + s->tail, len, end) < 0) {
            rc = -1;
            break;
        }
        s->tail += len;
        s->sent_pos = end;
        s->ends_sent = i;
    }
    atomic_fetch_add_explicit(&s->bytes_sent, sent, memory_order_relaxed);
    return rc;
}

/* Send what the spool holds without blocking.  Returns 1 when it is empty. */
static int it_syslog_pump(it_syslog *s) {
    uint64_t now = it_now_ns();
    if (s->fd < 0) {
        if (now < s->next_try_ns)
            return s->head == s->tail;
        if (it_syslog_connect(s) < 0) {
            atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
            it_syslog_backoff(s, now);
            return s->head == s->tail;
        }
    }
    if (s->pending_lost)
        it_syslog_report_lost(s);
    if (s->tls) {
        if (it_syslog_pump_tls(s, now) < 0) {
            it_syslog_disconnect(s);
            it_syslog_backoff(s, now);  /* a failed handshake is not retried at once */
        } else if (s->tls->confirmed) {
            s->backoff_ns = 0;
        }
    }
    while (!s->tls && s->head > s->tail) {
        ssize_t n;
        if (it_syslog_stream(s)) {
            n = send(s->fd, s->spool + s->tail, s->head - s->tail, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            size_t len = (size_t)(it_syslog_end(s, 0) - s->sent_pos);
            n = sendto(s->fd, s->spool + s->tail, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       s->transport == IT_SYSLOG_UDP ? (struct sockaddr *)&s->addr : NULL,
                       s->transport == IT_SYSLOG_UDP ? s->addrlen : 0);
            if (n < 0 && s->transport == IT_SYSLOG_UDP && errno != EAGAIN && errno != EINTR &&
                errno != ENOBUFS) {
                /* UDP has no connection to restore: this datagram is lost */
                atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
                n = (ssize_t)len;
                s->tail += len;
                s->sent_pos += len;
                if (it_syslog_pop(s))
                    it_syslog_count_lost(s, 1);
                continue;
            }
            if (n > 0) {
                /* A datagram goes out whole or not at all, and nothing
                 * acknowledges it: sent is settled.  Settle it now, so the
                 * next datagram's length is measured from the next end. */
                s->tail += len;
                s->sent_pos += len;
                atomic_fetch_add_explicit(&s->bytes_sent, (uint64_t)n, memory_order_relaxed);
                if (it_syslog_pop(s))
                    atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed);
                continue;
            }
        }
        if (n > 0) {
            s->tail += (size_t)n;
            s->sent_pos += (uint64_t)n;
            atomic_fetch_add_explicit(&s->bytes_sent, (uint64_t)n, memory_order_relaxed);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOBUFS))
            break;
        it_syslog_disconnect(s);
        break;
    }
    if (s->head == s->tail && s->tail) {
        s->base_pos += s->tail;
        s->head = s->tail = 0;
    }
    if (s->fd >= 0)
        it_syslog_settle(s);
    if (!s->ends_count)
        s->flush_stalled = 0;  /* the server took everything: the next flush may wait again */
    atomic_store_explicit(&s->pending, s->ends_count - s->notices, memory_order_relaxed);
    return s->head == s->tail && (!s->tls || s->fd < 0 || it_tls_idle(s->tls));
}

/* Drain thread: a batch of records becomes messages, then is sent; `durs`
 * beside `recs` (negative: no duration).  Switch records are not sent (a
 * notice, not a record: nothing to count). */
static void it_syslog_batch(it_syslog *s, const it_ring *r, const it_record **recs,
                            const int64_t *durs, size_t n, long pid, int64_t wall_offset,
                            int values) {
    static char msg[IT_SYSLOG_MSG_MAX + 32];  /* drain thread only */
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->event == IT_EV_SWITCH)
            continue;
        it_out o = {msg, 0, IT_SYSLOG_MSG_MAX};
        it_syslog_format(s, &o, recs[i], pid, r->tid, wall_offset, values, durs[i]);
        if (!s->octet_framing && it_syslog_stream(s))
            it_syslog_escape_lf(&o, 0);
        it_syslog_enqueue(s, msg, o.len, it_event_is_notice(recs[i]->event));
    }
    it_syslog_pump(s);
}

#endif
