/* The native sinks' own writing, run by the drain thread without the GIL:
 * text and JSON lines to a file descriptor, and the binary trace format.
 * (Syslog has its own header, it_syslog.h.)  Each sink buffers up to
 * IT_SINK_BUF bytes and writes them with write(); a failed write is counted
 * in `errors`, retried a bounded number of times on EAGAIN, and never
 * reaches the traced program. */
#ifndef IT_SINKS_H
#define IT_SINKS_H

#include "it_format.h"
#include "it_syslog.h"
#include "it_binary.h"
#include <errno.h>

enum { IT_SINK_FD = 0, IT_SINK_PY = 1, IT_SINK_SYSLOG = 2, IT_SINK_BINARY = 3 };

#define IT_SINK_BUF (256 * 1024)
#define IT_LINE_MAX (32 * 1024)

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
    char *buf;               /* IT_SINK_FD, IT_SINK_BINARY: bytes not yet written */
    size_t len;
    _Atomic uint64_t records, bytes, errors, lost;
} it_sink;

static void it_sink_write_out(it_sink *s) {
    size_t off = 0;
    int tries = 0;
    while (off < s->len) {
        ssize_t n = write(s->fd, s->buf + off, s->len - off);
        if (n > 0) {
            off += (size_t)n;
            atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
        if (n < 0 && errno == EAGAIN && ++tries < 100) {
            struct timespec t = {0, 1000000};
            nanosleep(&t, NULL);
            continue;
        }
        break;  /* what is left of this buffer is lost for this sink */
    }
    s->len = 0;
}

static void it_sink_fd_batch(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                             long pid, int64_t wall_offset) {
    char line[IT_LINE_MAX];
    for (size_t i = 0; i < n; i++) {
        it_out o = {line, 0, sizeof line};
        if (s->format == IT_FORMAT_JSONL)
            it_format_jsonl(&o, recs[i], pid, r->tid, wall_offset, s->values);
        else
            it_format_text(&o, recs[i], pid, r->tid, wall_offset, s->values);
        if (o.len == o.cap)
            line[o.len - 1] = '\n';  /* a cut line still ends the record */
        if (s->len + o.len > IT_SINK_BUF)
            it_sink_write_out(s);
        memcpy(s->buf + s->len, line, o.len);
        s->len += o.len;
    }
    atomic_fetch_add_explicit(&s->records, n, memory_order_relaxed);
}

/* Binary file: code definitions first seen, then the records as they are.
 * Chunks never straddle a write() (see it_binary.h). */
static void it_sink_binary_batch(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                                 long pid, int64_t wall_offset) {
    uint32_t last_id = 0;  /* a tight loop names the same few codes over and over */
    for (size_t i = 0; i < n; i++) {
        const it_record *rec = recs[i];
        if (rec->event == IT_EV_LOST || rec->event == IT_EV_LOG || rec->code_id == last_id)
            continue;
        last_id = rec->code_id;
        if (!it_binary_first_sight(s->binary, rec->code_id))
            continue;
        if (s->len + IT_LINE_MAX > IT_SINK_BUF)
            it_sink_write_out(s);
        it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
        it_binary_code_chunk(&o, rec->code_id, pid);
        s->len += o.len;
    }
    /* PACKED chunks (it_binary.h), each closed before its buffer is written */
    const size_t head = sizeof(it_bin_chunk) + 3 * sizeof(int64_t);
    size_t i = 0;
    while (i < n) {
        if (s->len + head + it_packed_need(recs[i]) + 8 > IT_SINK_BUF)
            it_sink_write_out(s);
        size_t start = s->len;
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
    }
    atomic_fetch_add_explicit(&s->records, n, memory_order_relaxed);
}

#endif
