/* The native sinks' own writing, run by the drain thread without the GIL:
 * text and JSON lines to a file descriptor, and the binary trace format.
 * (Syslog has its own header, it_syslog.h.)  Each sink buffers up to
 * IT_SINK_BUF bytes and writes them with write(); nothing reaches the
 * traced program.
 *
 * Accounting, per sink (the invariant: records + lost + pending == the
 * records handed to the sink; "lost N" notices of ring overflow are not
 * records and count nowhere; a sink with slow-call retention is handed
 * what its filter lets through, and the filter counts the rest as omitted,
 * held (shown as pending) or lost: it_slow_state.h):
 *   records  written: every byte of the record reached the fd;
 *   lost     given up on: the write failed (the reason is kept in
 *            `last_errno`), or the sink had failed before;
 *   pending  formatted into the buffer, not written yet.
 * The buffer keeps marks (where records, or binary chunks of records, end)
 * so a write that stops part way settles exactly the records it wrote.
 * Errors: EINTR is retried at once; EAGAIN and ENOBUFS (a non-blocking fd
 * whose reader is slow) wait for POLLOUT, bounded, then give up the rest of
 * that buffer -- all but the rest of a record or chunk the fd took part of,
 * kept for the next write so the output never holds half of one followed
 * by the next, and binary CODE chunks given up are written again before
 * the next record naming them; anything else (EPIPE, EBADF, ENOSPC, EIO...) is final: the
 * sink stops writing and counts every later record lost, instead of
 * failing again on each batch.  A blocking FIFO, pipe or socket is waited
 * for as long as its reader takes while the program runs, and at exit for
 * at most the exit bound (it_sink_wait.h): then ETIMEDOUT, final too. */
#ifndef IT_SINKS_H
#define IT_SINKS_H

#include "it_format.h"
#include "it_syslog.h"
#include "it_syslog_lifecycle.h"
#include "it_binary.h"
#include "it_sink_wait.h"
#include <errno.h>
#include <poll.h>

enum { IT_SINK_FD = 0, IT_SINK_PY = 1, IT_SINK_SYSLOG = 2, IT_SINK_BINARY = 3, IT_SINK_PFTRACE = 4,
       IT_SINK_FLIGHT = 5 };

#define IT_SINK_BUF (256 * 1024)
#define IT_SINK_MARKS 8192         /* record ends a buffer remembers (a full set writes it out) */
#define IT_SINK_WAIT_MS 10         /* EAGAIN: one wait for POLLOUT ... */
#define IT_SINK_WAITS 100          /* ... and how many before giving the buffer up (~1 s) */

typedef struct {
    uint32_t end;      /* buffer offset where the marked records end */
    uint32_t count;    /* records ending there (0 for code chunks) */
    uint32_t code_id;  /* IT_SINK_BINARY: the CODE chunk ending there (0: none) */
} it_sink_mark;

typedef struct it_sink {
    int kind;
    int fd;                  /* IT_SINK_FD, IT_SINK_BINARY */
    int format;              /* IT_SINK_FD: IT_FORMAT_* */
    int owns_fd;
    int values;              /* 0: hide arguments and return values (detail level) */
    int flush_timeout_ms;    /* IT_SINK_SYSLOG: how long a final flush may wait */
    PyObject *pyobj;         /* IT_SINK_PY: the sink object (owned by the Cython wrapper) */
    it_syslog *syslog;       /* IT_SINK_SYSLOG */
    it_binary *binary;       /* IT_SINK_BINARY */
    struct it_pft_sink *pftrace;  /* IT_SINK_PFTRACE: encoder and path (it_sink_pftrace.h) */
    struct it_flight *flight;     /* IT_SINK_FLIGHT: the flight recorder (it_flight.h) */
    struct it_slow *slow;    /* slow-call retention (it_slow.h), NULL: every record */
    char *buf;               /* IT_SINK_FD, IT_SINK_BINARY, IT_SINK_PFTRACE: bytes not yet written */
    size_t len;
    it_sink_mark *marks;     /* IT_SINK_FD, IT_SINK_BINARY: record ends in `buf` */
    size_t nmarks;
    int cut;                 /* buf starts with the rest of a unit the fd took part of */
    int failed;              /* errno that ended the sink (0: writing); drain thread only */
    /* exit gave up on its descriptor (it_sink_wait.h), and `lost` then; set
     * by the drain, read by exit once the drain stopped (exit.pyx) */
    _Atomic int given_up_at_exit;
    _Atomic uint64_t lost_before_exit_give_up;
    _Atomic int last_errno;  /* why records were last given up (for tracing_stats()) */
    _Atomic uint64_t records, bytes, errors, lost, pending;
} it_sink;

/* Set (by sinks.pyx) on the thread running a Python sink's write() or
 * flush(): the drain pthread, or a thread flushing Python sinks.  A tracing
 * call from there (flush, stop, stats) would wait for the drain, which is
 * the caller itself or waits for it, so it raises instead. */
static __thread int it_in_sink;

/* Records among `recs`, without the notices ("lost N", "switch": it_events.h). */
static inline size_t it_count_records(const it_record **recs, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !it_event_is_notice(recs[i]->event);
    return k;
}

/* Records of the batch not handed to a failed sink. */
static inline void it_sink_give_up(it_sink *s, const it_record **recs, size_t n) {
    atomic_fetch_add_explicit(&s->lost, it_count_records(recs, n), memory_order_relaxed);
}

/* After `count` records were put into the buffer, ending at `s->len`. */
static inline void it_sink_mark_end(it_sink *s, uint32_t count) {
    s->marks[s->nmarks].end = (uint32_t)s->len;
    s->marks[s->nmarks].count = count;
    s->marks[s->nmarks].code_id = 0;
    s->nmarks++;
    atomic_fetch_add_explicit(&s->pending, count, memory_order_relaxed);
}

/* The first `off` bytes of the buffer were written.  A unit is the bytes up
 * to a mark (after the previous one), or the unmarked tail.  Units written
 * whole are settled as written.  With `keep_cut` (a slow reader, the sink
 * goes on), the unit the write stopped inside is kept at the start of the
 * buffer, its records pending: its first bytes are in the output and only
 * its own rest may follow them.  Every other unit is lost; a lost binary
 * CODE chunk is forgotten (it_binary_forget) so that it is written again. */
static void it_sink_settle(it_sink *s, size_t off, int keep_cut) {
    uint64_t written = 0, held = 0, kept = 0;
    size_t j = 0;  /* the unit holding byte `off`: marks[j], or the tail if j == nmarks */
    while (j < s->nmarks && s->marks[j].end <= off)
        j++;
    size_t start = j ? s->marks[j - 1].end : 0;
    size_t end = j < s->nmarks ? s->marks[j].end : s->len;
    int cut = keep_cut && off < s->len && (off > start || (start == 0 && s->cut));
    for (size_t i = 0; i < s->nmarks; i++) {
        held += s->marks[i].count;
        if (i < j)
            written += s->marks[i].count;
        else if (cut && i == j)
            kept = s->marks[i].count;
        else if (s->marks[i].code_id)
            it_binary_forget(s->binary, s->marks[i].code_id);
    }
    atomic_fetch_add_explicit(&s->records, written, memory_order_relaxed);
    if (held > written + kept)
        atomic_fetch_add_explicit(&s->lost, held - written - kept, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->pending, held - kept, memory_order_relaxed);
    s->cut = cut;
    if (!cut) {
        s->nmarks = 0;
        s->len = 0;
        return;
    }
    memmove(s->buf, s->buf + off, end - off);
    s->len = end - off;
    if (j < s->nmarks) {
        s->marks[0] = s->marks[j];
        s->marks[0].end = (uint32_t)s->len;
        s->nmarks = 1;
    } else {
        s->nmarks = 0;
    }
}

static inline int it_sink_errno_retried(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

static void it_sink_write_out(it_sink *s) {
    size_t off = 0;
    int waits = 0, gave_up = 0;
    if (s->failed) {  /* e.g. a binary code chunk put in after the failure */
        it_sink_settle(s, 0, 0);
        return;
    }
    int kind = it_sink_wait_kind(s->fd);
    while (off < s->len) {
        ssize_t n = it_sink_write_bounded(s->fd, kind, s->buf + off, s->len - off, &gave_up);
        if (gave_up) {
            /* exit's bound ran out (it_sink_wait.h): this buffer and every later
             * record are lost; exit reports the sink (exit.pyx) */
            atomic_store_explicit(&s->lost_before_exit_give_up,
                                  atomic_load_explicit(&s->lost, memory_order_relaxed),
                                  memory_order_relaxed);
            atomic_store_explicit(&s->given_up_at_exit, 1, memory_order_release);
        }
        if (n > 0) {
            off += (size_t)n;
            atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
            continue;
        }
        int err = n < 0 ? errno : EIO;  /* write() returning 0: nothing will go */
        if (err == EINTR)
            continue;
        if (it_sink_errno_retried(err) && ++waits < IT_SINK_WAITS) {
            struct pollfd p = {s->fd, POLLOUT, 0};
            poll(&p, 1, IT_SINK_WAIT_MS);
            continue;
        }
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
        atomic_store_explicit(&s->last_errno, err, memory_order_relaxed);
        if (!it_sink_errno_retried(err))
            s->failed = err;
        break;  /* what is left of this buffer is lost for this sink */
    }
    it_sink_settle(s, off, !s->failed);
}

/* Room for `need` more bytes and a mark, writing the buffer out if need be.
 * 0: none (the sink failed, or the rest of a cut unit still fills it). */
static int it_sink_room(it_sink *s, size_t need) {
    if (s->len + need <= IT_SINK_BUF && s->nmarks < IT_SINK_MARKS)
        return 1;
    it_sink_write_out(s);
    return !s->failed && s->len + need <= IT_SINK_BUF && s->nmarks < IT_SINK_MARKS;
}

/* Text or JSON lines; `durs[i]` is the duration shown on exit recs[i].
 * Switch records are not shown (a notice, not a record: nothing to count). */
static void it_sink_fd_batch(it_sink *s, const it_ring *r, const it_record **recs,
                             const int64_t *durs, size_t n, long pid, int64_t wall_offset) {
    char line[IT_LINE_MAX];
    for (size_t i = 0; i < n; i++) {
        if (s->failed) {
            it_sink_give_up(s, recs + i, n - i);
            return;
        }
        if (recs[i]->event == IT_EV_SWITCH)
            continue;
        it_out o = {line, 0, sizeof line};
        if (s->format == IT_FORMAT_JSONL)
            it_format_jsonl(&o, recs[i], it_record_code(recs[i]), pid, r->tid, wall_offset,
                            s->values, durs[i]);
        else
            it_format_text(&o, recs[i], it_record_code(recs[i]), pid, r->tid, wall_offset,
                           s->values, durs[i]);
        if (o.len == o.cap)
            line[o.len - 1] = '\n';  /* a cut line still ends the record */
        if (!it_sink_room(s, o.len)) {
            it_sink_give_up(s, recs + i, n - i);
            return;
        }
        memcpy(s->buf + s->len, line, o.len);
        s->len += o.len;
        if (!it_event_is_notice(recs[i]->event))
            it_sink_mark_end(s, 1);
    }
}

/* CODE chunks for the codes `recs` name that the file lacks.  Returns 0
 * when they could not all be put in (no room: the records are to be given
 * up).  A write-out in between may give up chunks put earlier (the reader
 * stalls): then once more from the start, not more (each try waits ~1 s). */
static int it_binary_put_codes(it_sink *s, const it_record **recs, size_t n, long pid) {
    it_binary *b = s->binary;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t forgets = b->forgets;
        uint32_t last_id = 0;  /* a tight loop names the same few codes over and over */
        size_t i = 0;
        for (; i < n; i++) {
            const it_record *rec = recs[i];
            if (!it_event_has_code(rec->event) || rec->code_id == last_id)
                continue;
            last_id = rec->code_id;
            if (it_binary_seen(b, rec->code_id))
                continue;
            if (!it_sink_room(s, IT_LINE_MAX))
                return 0;
            if (b->forgets != forgets)
                break;  /* chunks put by this loop may be gone with the buffer */
            it_binary_first_sight(b, rec->code_id);
            it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
            it_binary_code_chunk(&o, rec->code_id, pid);
            s->len += o.len;
            s->marks[s->nmarks].end = (uint32_t)s->len;
            s->marks[s->nmarks].count = 0;
            s->marks[s->nmarks].code_id = rec->code_id;
            s->nmarks++;
        }
        if (i == n)
            return 1;
    }
    return 0;
}

/* Binary file: code definitions first seen, then the records as they are.
 * Chunks never straddle a write() (see it_binary.h). */
static void it_sink_binary_batch(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                                 long pid, int64_t wall_offset) {
    it_binary *b = s->binary;
    if (s->failed || !it_binary_put_codes(s, recs, n, pid)) {
        it_sink_give_up(s, recs, n);
        return;
    }
    /* PACKED chunks (it_binary.h), each closed before its buffer is written;
     * a chunk cut by a failed write cannot be decoded: its records are lost */
    const size_t head = sizeof(it_bin_chunk) + 3 * sizeof(int64_t);
    size_t i = 0;
    while (i < n) {
        size_t need = head + it_packed_need(recs[i]) + 8;
        uint64_t forgets = b->forgets;
        int ok = it_sink_room(s, need);
        if (ok && b->forgets != forgets) {
            /* that write-out gave up CODE chunks: those the records left name go in
             * again, and must still be in the buffer when their PACKED chunk is */
            ok = it_binary_put_codes(s, recs + i, n - i, pid);
            forgets = b->forgets;
            ok = ok && it_sink_room(s, need) && b->forgets == forgets;
        }
        if (!ok) {
            it_sink_give_up(s, recs + i, n - i);
            return;
        }
        size_t start = s->len, first = i;
        it_bin_chunk *h = (it_bin_chunk *)(s->buf + start);
        int64_t fixed[3] = {pid, r->tid, wall_offset};
        h->type = IT_BIN_PACKED;
        memcpy(h + 1, fixed, sizeof fixed);
        char *p = s->buf + start + head;
        const char *limit = s->buf + IT_SINK_BUF - 8;  /* room for the pad */
        it_packed_state st = {0, 0, 0};
        for (; i < n && p + it_packed_need(recs[i]) <= limit; i++)
            p = it_packed_put(p, &st, recs[i]);
        size_t len = (size_t)(p - s->buf) - start - sizeof(it_bin_chunk);
        size_t pad = (8 - len % 8) % 8;
        memset(p, 0, pad);
        h->length = (uint32_t)(len + pad);
        s->len = start + sizeof(it_bin_chunk) + len + pad;
        it_sink_mark_end(s, (uint32_t)it_count_records(recs + first, i - first));
    }
}

#endif
