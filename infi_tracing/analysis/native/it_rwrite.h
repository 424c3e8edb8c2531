/* Text and JSON lines of the reader's records, written to an fd with big
 * write(2)s: decode and replay.  The lines are the live sinks' (the one
 * formatting of infi_tracing/native/it_lines.h), with the reader's
 * durations; like the live text and JSON-lines sinks, switch records are
 * not shown (they are notices for the pairing, not records).
 *
 * Each function's part of a line (its escaped names, file and line:
 * it_format_func_part) is formatted on its first line and copied whole
 * after: decode writes millions of lines of a few functions.  The copies
 * live in `parts`, by function index, and grow with the distinct functions,
 * never with the trace; if memory runs out, lines are formatted whole.
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
    uint32_t off, len, name_len;  /* in it_rwrite.parts; len 0: not formatted yet */
} it_rwrite_part;

typedef struct {
    int fd;
    int format;        /* IT_FORMAT_TEXT or IT_FORMAT_JSONL */
    char *buf;
    size_t len, cap;   /* cap > IT_LINE_MAX: a line always fits after a flush */
    int err;           /* errno of the write that failed; 0 while all went out */
    uint64_t lines;
    it_rwrite_part *part;  /* by function index, `nfuncs` of them */
    uint32_t nfuncs;
    char *parts;           /* the parts' bytes */
    size_t parts_len, parts_cap;
    int parts_oom;         /* memory ran out: no more parts kept */
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
    free(w->part);
    free(w->parts);
    w->buf = w->parts = NULL;
    w->part = NULL;
}

/* Sets fn->part to function `i`'s part of a line, formatted on first use
 * (in the buffer's free room, which holds a line, then kept); leaves it
 * NULL when memory runs out. */
static inline void it_rwrite_func_part(it_rwrite *w, uint32_t i, it_fmt_func *fn) {
    if (i >= w->nfuncs) {
        if (w->parts_oom)
            return;
        uint32_t n = i + 1 > 2 * w->nfuncs ? i + 1 : 2 * w->nfuncs;
        it_rwrite_part *p = realloc(w->part, n * sizeof *p);
        if (!p) {
            w->parts_oom = 1;
            return;
        }
        memset(p + w->nfuncs, 0, (n - w->nfuncs) * sizeof *p);
        w->part = p;
        w->nfuncs = n;
    }
    it_rwrite_part *p = &w->part[i];
    if (!p->len) {
        if (w->parts_oom)
            return;
        it_out o = {w->buf + w->len, 0, IT_LINE_MAX};
        size_t len, name_len;
        it_format_func_part(&o, fn, w->format, &len, &name_len);
        if (w->parts_cap - w->parts_len < len) {
            size_t cap = w->parts_cap ? 2 * w->parts_cap : 64 * 1024;
            while (cap - w->parts_len < len)
                cap *= 2;
            char *b = realloc(w->parts, cap);
            if (!b || cap > UINT32_MAX) {  /* offsets are 32-bit: 4 GiB of names */
                if (b)
                    w->parts = b;
                w->parts_oom = 1;
                return;
            }
            w->parts = b;
            w->parts_cap = cap;
        }
        memcpy(w->parts + w->parts_len, o.p, len);
        *p = (it_rwrite_part){(uint32_t)w->parts_len, (uint32_t)len, (uint32_t)name_len};
        w->parts_len += len;
    }
    fn->part = w->parts + p->off;
    fn->part_len = p->len;
    fn->part_name_len = p->name_len;
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
    it_fmt_func fn = {f->module, f->qualname, f->filename, f->line, f->nargs, f->argnames,
                      NULL, 0, 0};
    if (it_event_has_code(x->event))
        it_rwrite_func_part(w, x->func, &fn);
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
