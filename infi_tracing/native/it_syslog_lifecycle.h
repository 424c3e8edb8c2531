/* The syslog sink at the drain's lifecycle points: the final flush (bounded
 * wait for the server), giving up what is still queued when the drain
 * stops, and starting afresh in a forked child. */
#ifndef IT_SYSLOG_LIFECYCLE_H
#define IT_SYSLOG_LIFECYCLE_H

#include "it_syslog.h"

/* Final flush: keep sending (and, over TCP, wait for acknowledgements) for
 * up to `timeout_ms`; the drain thread (and so a flush_tracing() caller)
 * waits here, never the traced program itself.  A flush that ran out of
 * time leaves the sink stalled: later flushes only pump, so a program
 * stopping with an unreachable server waits `timeout_ms` once in all, not
 * once per flush (unset, stats, exit). */
static void it_syslog_flush(it_syslog *s, int timeout_ms) {
    uint64_t deadline = it_now_ns() + (s->flush_stalled ? 0 : (uint64_t)timeout_ms * 1000000ull);
    for (;;) {
        int empty = it_syslog_pump(s);
        if (empty && !s->ends_count)
            break;
        if (it_now_ns() >= deadline) {
            s->flush_stalled = 1;
            break;
        }
        if (s->fd >= 0 && !empty) {
            /* a TLS handshake waits for the server's answer, the rest to send */
            short events = s->tls && it_tls_waits_for_server(s->tls) ? POLLIN : POLLOUT;
            struct pollfd p = {s->fd, events, 0};
            poll(&p, 1, 10);
        } else {
            struct timespec t = {0, 2000000};  /* waiting for a reconnect or an ack */
            nanosleep(&t, NULL);
        }
    }
}

/* The drain stops: what is still queued will never be sent, so its records
 * are lost (a connected stream's unacknowledged bytes too). */
static void it_syslog_give_up(it_syslog *s) {
    uint64_t lost = 0;
    if (s->ends_count && s->fd >= 0) {
        /* a message may be cut mid-stream, and the stream positions jump
         * below: a later session (tracing started again) reconnects */
        close(s->fd);
        s->fd = -1;
        if (s->tls)
            it_tls_close(s->tls);
        s->next_try_ns = 0;
    }
    while (s->ends_count)
        lost += (uint64_t)it_syslog_pop(s);
    it_syslog_count_lost(s, lost);
    s->base_pos += s->head;
    s->sent_pos = s->settled_pos = s->base_pos;
    s->head = s->tail = 0;
    atomic_store_explicit(&s->pending, 0, memory_order_relaxed);
}

/* In a forked child: the socket and the spool belong to the parent. */
static void it_syslog_after_fork(it_syslog *s) {
    if (s->fd >= 0)
        close(s->fd);  /* the parent's connection stays open in the parent */
    s->fd = -1;
    if (s->tls)
        it_tls_close(s->tls);  /* frees the child's copy of the session: nothing is sent */
    s->head = s->tail = 0;
    s->ends_count = s->ends_sent = 0;
    s->notices = 0;
    s->base_pos = s->sent_pos = s->settled_pos = s->conn_start_pos = 0;
    s->pending_lost = 0;
    s->ever_connected = 0;
    s->flush_stalled = 0;
    s->next_try_ns = s->backoff_ns = 0;
}

#endif
