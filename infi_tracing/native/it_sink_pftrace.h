/* The live Perfetto protobuf sink (perfetto+proto:///path.pftrace): the
 * drain thread encodes each batch with it_pftrace.h into the sink's buffer,
 * without the GIL, and writes it out as the fd sinks do (it_sinks.h: the
 * same buffer, marks and accounting: records written + lost + pending ==
 * records handed over; "lost N" notices are not records).  Every write()
 * holds whole packets, so a file cut short by a crash loads as far as it
 * goes.  A forked child writes a file of its own (it_sink_pftrace_after_fork). */
#ifndef IT_SINK_PFTRACE_H
#define IT_SINK_PFTRACE_H

#include "it_sinks.h"
#include "it_pftrace.h"
#include <fcntl.h>

/* The sink's state: the encoder, and the file's path, from which a forked
 * child makes the name of its own file. */
typedef struct it_pft_sink {
    it_pft e;
    char *path;
    int reopen;  /* a forked child: open `path` before writing (it_sink_pftrace_after_fork) */
} it_pft_sink;

static inline it_pft_sink *it_pft_sink_new(const char *path) {
    it_pft_sink *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->path = strdup(path);
    if (!p->path || it_pft_init(&p->e, 0) < 0) {
        free(p->path);
        free(p);
        return NULL;
    }
    return p;
}

static inline void it_pft_sink_free(it_pft_sink *p) {
    if (p) {
        it_pft_destroy(&p->e);
        free(p->path);
        free(p);
    }
}

/* In a forked child (one thread, from the at-fork hook): the child writes
 * its own file, PATH with ".<pid>" before the extension (trace.pftrace ->
 * trace.<pid>.pftrace, as `run` names a spawned child's), so the parent's
 * file keeps one process's packet sequences and the child starts a trace
 * of its own.  The file is opened with the child's first records (by the
 * drain), so a child that records nothing (it execs, or never traces)
 * leaves no file. */
static void it_sink_pftrace_after_fork(it_sink *s, long pid) {
    it_pft_sink *p = s->pftrace;
    it_pft_after_fork(&p->e);
    if (s->owns_fd && s->fd >= 0)
        close(s->fd);  /* the parent's */
    s->fd = -1;
    s->owns_fd = 1;
    s->failed = 0;
    const char *base = strrchr(p->path, '/');
    base = base ? base + 1 : p->path;
    const char *dot = strrchr(base, '.');
    size_t root = dot && dot != base ? (size_t)(dot - p->path) : strlen(p->path);
    char *child = malloc(strlen(p->path) + 32);
    if (child)
        sprintf(child, "%.*s.%ld%s", (int)root, p->path, pid, p->path + root);
    free(p->path);  /* a grandchild's file is named after the child's */
    p->path = child;
    p->reopen = 1;
}

/* A forked child's first write: its own file.  0: it cannot be opened (the
 * sink fails, with the reason in last_errno: the records are counted lost).
 * Private (0600) and never through a symbolic link, like every trace file
 * (infi_tracing/sinks/files.py): the child's name is new, so a link there
 * was planted, not chosen. */
static int it_sink_pftrace_open(it_sink *s) {
    it_pft_sink *p = s->pftrace;
    p->reopen = 0;
    s->fd = p->path ? open(p->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                                0600)
                    : -1;
    if (s->fd >= 0)
        return 1;
    s->failed = p->path ? errno : ENOMEM;
    atomic_store_explicit(&s->last_errno, s->failed, memory_order_relaxed);
    return 0;
}

/* One record into the buffer, writing it out as often as the encoder
 * asks.  `*unmarked`: records put in the buffer since the last mark (one
 * mark per record would cost more than encoding one); they are marked
 * before anything is written out, so a write-out settles each of them.
 * 0: the sink failed (the record was not written). */
static int it_sink_pftrace_one(it_sink *s, const it_record *rec, long pid, long tid,
                               uint32_t *unmarked) {
    it_pft *e = &s->pftrace->e;
    const it_code_entry *code = it_record_code(rec);
    for (;;) {
        if (*unmarked && !(s->len + IT_PFT_STEP_MAX <= IT_SINK_BUF && s->nmarks < IT_SINK_MARKS)) {
            it_sink_mark_end(s, *unmarked);  /* it_sink_room is about to write out */
            *unmarked = 0;
        }
        if (!it_sink_room(s, IT_PFT_STEP_MAX))
            return 0;
        it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
        int rc;
        if (rec->event == IT_EV_LOST)
            rc = it_pft_lost(e, &o, pid, tid, rec->ts, rec->count);
        else if (rec->event == IT_EV_LOG)
            rc = it_pft_log(e, &o, pid, tid, rec->greenlet_id, rec->ts, it_record_value(rec, 0),
                            it_record_value(rec, 1), it_record_value(rec, 2));
        else if (code)
            rc = it_pft_event(e, &o, rec->event, pid, tid, rec->greenlet_id, rec->depth, rec->ts,
                              rec->code_id, code->module, code->qualname);
        else
            rc = IT_PFT_DONE;  /* switch records: the tracks show them */
        s->len += o.len;
        if (rc == IT_PFT_DONE)
            return 1;
        /* out of room part way: the whole steps taken stay in the buffer
         * (written with the next write-out, which it_sink_room does now);
         * the encoder goes on after them */
    }
}

static void it_sink_pftrace_batch(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                                  long pid, int64_t wall_offset) {
    uint32_t unmarked = 0;
    s->pftrace->e.wall_offset = wall_offset;
    if (s->pftrace->reopen && !s->failed)
        it_sink_pftrace_open(s);
    for (size_t i = 0; i < n; i++) {
        if (s->failed || !it_sink_pftrace_one(s, recs[i], pid, r->tid, &unmarked)) {
            it_sink_give_up(s, recs + i, n - i);  /* those before were marked */
            return;
        }
        unmarked += !it_event_is_notice(recs[i]->event);
    }
    if (unmarked)
        it_sink_mark_end(s, unmarked);  /* room: it_sink_room left a mark free */
}

/* The last pass: slices still open are ended (it_pft_finish), then all is
 * written out. */
static void it_sink_pftrace_finish(it_sink *s) {
    if (s->pftrace->reopen)
        return;  /* a forked child that wrote nothing: nothing to end */
    while (!s->failed) {
        it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
        int rc = it_pft_finish(&s->pftrace->e, &o);
        s->len += o.len;
        if (rc == IT_PFT_DONE)
            break;
        it_sink_write_out(s);
    }
}

#endif
