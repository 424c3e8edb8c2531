/* Text and JSON lines of the reader's records, written to an fd with big
 * write(2)s: decode and replay.  The lines are the live sinks' (the one
 * formatting of infi_tracing/native/it_lines.h), with the reader's
 * durations; like the live text and JSON-lines sinks, switch records are
 * not shown (they are notices for the pairing, not records).
 *
 * A failed write stops the writer (err keeps the errno; EPIPE: the reading
 * end went away, e.g. `| head`).  Called with the GIL held: it_out_time's
 * cache of the formatted second is not thread-safe. */
#ifndef IT_RWRITE_H
#define IT_RWRITE_H

#include "it_rrec.h"
#include "../../native/it_lines.h"
#include <errno.h>
#include <unistd.h>

#ifndef IT_RWRITE_BUF  /* overridable (-D) only by the fuzz harness: more flushes */
#define IT_RWRITE_BUF (1u << 20)
#endif

typedef struct {
    int fd;
    int format;        /* IT_FORMAT_TEXT or IT_FORMAT_JSONL */
    char *buf;
    size_t len, cap;   /* cap > IT_LINE_MAX: a line always fits after a flush */
    int err;           /* errno of the write that failed; 0 while all went out */
    uint64_t lines;
} it_rwrite;

static inline int it_rwrite_init(it_rwrite *w, int fd, int format) {
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->format = format;
    w->cap = IT_RWRITE_BUF;
    w->buf = malloc(w->cap);
    return w->buf ? 0 : -1;
}

/* Everything buffered out; -1 (and w->err) when a write fails. */
static inline int it_rwrite_flush(it_rwrite *w) {
    size_t done = 0;
    while (done < w->len && !w->err) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n > 0)
            done += (size_t)n;
        else if (n < 0 && errno != EINTR)
            w->err = errno;
        else if (n == 0)
            w->err = EIO;
    }
    w->len = 0;
    return w->err ? -1 : 0;
}

static inline void it_rwrite_destroy(it_rwrite *w) {
    free(w->buf);
    w->buf = NULL;
}

/* The record's line into the buffer (flushed when the next line might not
 * fit).  `f` is the function the record names (it_rfuncs_get).  Returns -1
 * once a write failed. */
static inline int it_rwrite_record(it_rwrite *w, const it_rrec *x, const it_rfunc *f) {
    if (w->err)
        return -1;
    if (x->event == IT_EV_SWITCH)
        return 0;
    if (w->cap - w->len < IT_LINE_MAX && it_rwrite_flush(w))
        return -1;
    it_fmt_rec v = {x->event, x->ts, x->greenlet, x->depth, x->count, x->values, x->values_len,
                    x->nvalues, 0, 0};
    if (x->event == IT_EV_OMITTED) {  /* the reader keeps their time in the durations */
        v.omitted_ns = x->duration_ns;
        v.omitted_active_ns = x->active_ns >= 0 ? x->active_ns : x->duration_ns;
    }
    it_fmt_func fn = {f->module, f->qualname, f->filename, f->line, f->nargs, f->argnames};
    it_out o = {w->buf + w->len, 0, IT_LINE_MAX};
    if (w->format == IT_FORMAT_JSONL)
        it_format_jsonl_v(&o, &v, &fn, (long)x->pid, (long)x->tid, x->wall_offset, 1,
                          x->duration_ns);
    else
        it_format_text_v(&o, &v, &fn, (long)x->pid, (long)x->tid, x->wall_offset, 1,
                         x->duration_ns);
    if (o.len == o.cap)
        o.p[o.len - 1] = '\n';  /* a cut line still ends the record, as in the live sinks */
    w->len += o.len;
    w->lines++;
    return 0;
}

#endif
