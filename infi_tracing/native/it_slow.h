/* Slow-call retention for one sink, run by the drain (issue 12, item 3):
 * `min_duration` writes a call only if it took at least that long, with
 * its ancestors as context; `keep_slow` (a glob on "module.qualname" and a
 * threshold) writes the whole subtree of a matching call -- a request
 * root -- that took at least the threshold, and nothing of the fast ones.
 *
 * Per greenlet (thread id, greenlet id) a stack of open calls: each call's
 * record is held (copied) until its exit decides.  Outside a root the
 * decision is made call by call, so what is held is at most the open
 * calls' records (a fast subtree is counted omitted as soon as it
 * returns, never held).  Inside a root everything is held until the root
 * returns; past `max_held` records per greenlet the closed subtrees held
 * are given up: counted lost (the sink's counter and a "lost" record in
 * its stream), never dropped silently.  With both rules, keep_slow decides
 * inside a root (all or nothing) and min_duration outside.
 *
 * What is left out is counted: the sink's `omitted` counter (records), and
 * per written call an "omitted" record (IT_EV_OMITTED) just before its
 * exit: how many direct children were left out and their wall and active
 * time, so that a reader's self times stay exact (it_pair_omitted).
 *
 * Accounting (records handed to the sink): written + lost + pending +
 * omitted + held.  `held` is published for tracing_stats() as pending.
 *
 * Ownership: one it_slow per sink, touched only by the drain's pass (under
 * `sinks_mu`) except the atomic counters, and its settings, which are set
 * before the sink is installed.  No Python, no GIL. */
#ifndef IT_SLOW_H
#define IT_SLOW_H

#include "it_pair.h"
#include "it_registry.h"
#include "it_ring.h"
#include <fnmatch.h>
#include <stdatomic.h>

#define IT_SLOW_MAX_HELD_DEFAULT 100000u
#define IT_SLOW_NONE UINT64_MAX   /* a threshold never met */

/* Payload of an "omitted" record (after its it_record header); the header
 * carries the greenlet, the depth of the call whose children were left out
 * and the time of its exit; code_id is 0. */
typedef struct {
    uint64_t calls;
    int64_t wall_ns, active_ns;
} it_omitted_payload;

#define IT_OMITTED_SIZE ((uint32_t)(sizeof(it_record) + sizeof(it_omitted_payload)))

static inline const it_omitted_payload *it_omitted_of(const it_record *r) {
    return (const it_omitted_payload *)(r + 1);
}

typedef struct {
    uint64_t ts;             /* the call's time */
    uint64_t held_n_at;      /* the greenlet's held count before this call's record */
    uint64_t omitted_calls;
    int64_t omitted_wall, omitted_active;
    size_t held_off;         /* where its call record is held (while not emitted) */
    int32_t depth;
    uint8_t emitted, root;
} it_slow_frame;

typedef struct it_slow_g {
    long tid;
    uint32_t gid;
    struct it_slow_g *next;  /* hash chain */
    it_slow_frame *stack;
    uint32_t len, cap;
    char *held;              /* copied records, each 8-aligned with its size first */
    size_t held_len, held_cap;
    uint64_t held_n;         /* records among them */
    int root;                /* index+1 of the open root frame, 0: none */
} it_slow_g;

#define IT_SLOW_BUCKETS 1024u

typedef struct {
    /* settings (before the sink is installed) */
    uint64_t min_ns;         /* IT_SLOW_NONE: calls outside roots are never slow enough */
    uint64_t keep_ns;
    char *keep_glob;         /* NULL: no keep_slow rule */
    uint64_t max_held;
    /* drain-private */
    it_pair pair;            /* wall and active times (the one rule, it_pair.h) */
    it_slow_g *buckets[IT_SLOW_BUCKETS];
    it_slow_g *last;         /* the greenlet of the last record: most records follow one */
    uint8_t *match;          /* per code id: 0 unknown, 1 no, 2 yes (keep_glob) */
    size_t match_len;
    char *out;               /* records to write, in order */
    size_t out_len, out_cap;
    size_t *outs;            /* their offsets in `out` */
    int64_t *durs;           /* and their durations (exits, else -1) */
    size_t nout, cap_outs;
    int oom;
    /* for tracing_stats() */
    _Atomic uint64_t omitted, held, lost;
} it_slow;

static inline it_slow *it_slow_new(uint64_t min_ns, const char *keep_glob, uint64_t keep_ns,
                                   uint64_t max_held) {
    it_slow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->min_ns = min_ns;
    f->keep_ns = keep_ns;
    f->max_held = max_held ? max_held : IT_SLOW_MAX_HELD_DEFAULT;
    if (keep_glob && !(f->keep_glob = strdup(keep_glob))) {
        free(f);
        return NULL;
    }
    if (it_pair_init(&f->pair)) {
        free(f->keep_glob);
        free(f);
        return NULL;
    }
    return f;
}

static inline void it_slow_free_g(it_slow_g *g) {
    free(g->stack);
    free(g->held);
    free(g);
}

static inline void it_slow_free(it_slow *f) {
    if (!f)
        return;
    for (unsigned i = 0; i < IT_SLOW_BUCKETS; i++)
        for (it_slow_g *g = f->buckets[i], *next; g; g = next) {
            next = g->next;
            it_slow_free_g(g);
        }
    it_pair_destroy(&f->pair);
    free(f->keep_glob);
    free(f->match);
    free(f->out);
    free(f->outs);
    free(f->durs);
    free(f);
}

static inline unsigned it_slow_hash(long tid, uint32_t gid) {
    uint64_t h = (uint64_t)tid * 0x9E3779B97F4A7C15ull ^ (uint64_t)gid * 0xC2B2AE3D27D4EB4Full;
    return (unsigned)(h >> 40) & (IT_SLOW_BUCKETS - 1);
}

static inline it_slow_g *it_slow_find(it_slow *f, long tid, uint32_t gid, int add) {
    if (f->last && f->last->tid == tid && f->last->gid == gid)
        return f->last;
    unsigned h = it_slow_hash(tid, gid);
    it_slow_g *g = f->buckets[h];
    while (g && !(g->tid == tid && g->gid == gid))
        g = g->next;
    if (!g && add) {
        if (!(g = calloc(1, sizeof *g))) {
            f->oom = 1;
            return NULL;
        }
        g->tid = tid;
        g->gid = gid;
        g->next = f->buckets[h];
        f->buckets[h] = g;
    }
    if (g)
        f->last = g;
    return g;
}

static inline void it_slow_drop_g(it_slow *f, it_slow_g *g) {
    it_slow_g **link = &f->buckets[it_slow_hash(g->tid, g->gid)];
    while (*link != g)
        link = &(*link)->next;
    *link = g->next;
    if (f->last == g)
        f->last = NULL;
    it_slow_free_g(g);
}

/* Room for `n` more bytes in a growing buffer; 0 when memory ran out. */
static inline int it_slow_grow(char **buf, size_t *cap, size_t len, size_t n) {
    if (len + n <= *cap)
        return 1;
    size_t c = *cap ? *cap : 4096;
    while (c < len + n)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return 0;
    *buf = p;
    *cap = c;
    return 1;
}

/* Appends a copy of `rec` to the output, with its duration.  A failed
 * allocation counts it lost (the caller's record is otherwise dropped). */
static inline void it_slow_out(it_slow *f, const it_record *rec, int64_t dur) {
    if (f->nout == f->cap_outs) {
        size_t c = f->cap_outs ? f->cap_outs * 2 : 1024;
        size_t *o = realloc(f->outs, c * sizeof *o);
        int64_t *d = o ? realloc(f->durs, c * sizeof *d) : NULL;
        if (o)
            f->outs = o;
        if (!d)
            goto fail;
        f->durs = d;
        f->cap_outs = c;
    }
    if (!it_slow_grow(&f->out, &f->out_cap, f->out_len, rec->size))
        goto fail;
    memcpy(f->out + f->out_len, rec, rec->size);
    f->outs[f->nout] = f->out_len;
    f->durs[f->nout++] = dur;
    f->out_len += rec->size;
    return;
fail:
    f->oom = 1;
    if (!it_event_is_notice(rec->event))
        atomic_fetch_add_explicit(&f->lost, 1, memory_order_relaxed);
}

static inline const it_record *it_slow_out_rec(const it_slow *f, size_t i) {
    return (const it_record *)(f->out + f->outs[i]);
}

/* A "lost N" notice in the output: `n` records of thread-greenlet `g` held
 * here were given up (counted by the caller). */
static inline void it_slow_out_lost(it_slow *f, uint64_t n, uint64_t ts) {
    it_record rec;
    memset(&rec, 0, sizeof rec);
    rec.size = sizeof rec;
    rec.event = IT_EV_LOST;
    rec.ts = ts;
    rec.count = n;
    it_slow_out(f, &rec, -1);
}

static inline void it_slow_hold(it_slow *f, it_slow_g *g, const it_record *rec) {
    if (!it_slow_grow(&g->held, &g->held_cap, g->held_len, rec->size)) {
        f->oom = 1;
        atomic_fetch_add_explicit(&f->lost, 1, memory_order_relaxed);
        return;
    }
    memcpy(g->held + g->held_len, rec, rec->size);
    g->held_len += rec->size;
    g->held_n++;
    atomic_fetch_add_explicit(&f->held, 1, memory_order_relaxed);
}

/* Forgets the held records from byte `off` (record count `n_at` there) on. */
static inline uint64_t it_slow_truncate(it_slow *f, it_slow_g *g, size_t off, uint64_t n_at) {
    uint64_t n = g->held_n - n_at;
    g->held_len = off;
    g->held_n = n_at;
    atomic_fetch_sub_explicit(&f->held, n, memory_order_relaxed);
    return n;
}

/* Writes the held records from byte `off` to the end, in order. */
static inline void it_slow_release(it_slow *f, it_slow_g *g, size_t off) {
    for (size_t p = off; p < g->held_len; p += ((const it_record *)(g->held + p))->size)
        it_slow_out(f, (const it_record *)(g->held + p), -1);
}

/* The calls below frame `count` that are not written yet are, as context
 * (their records are held in order, below everything deeper).  A root
 * written early (its exit came after a gap) decides nothing any more. */
static inline void it_slow_emit_ancestors(it_slow *f, it_slow_g *g, uint32_t count) {
    for (uint32_t i = 0; i < count && i < g->len; i++) {
        it_slow_frame *fr = &g->stack[i];
        if (fr->emitted)
            continue;
        it_slow_out(f, (const it_record *)(g->held + fr->held_off), -1);
        fr->emitted = 1;
        if (g->root == (int)i + 1)
            g->root = 0;
    }
}

static inline int it_slow_is_root_code(it_slow *f, uint32_t code) {
    if (!f->keep_glob)
        return 0;
    if (code >= f->match_len) {
        size_t n = f->match_len ? f->match_len : 1024;
        while (n <= code)
            n *= 2;
        uint8_t *m = realloc(f->match, n);
        if (!m)
            return 0;
        memset(m + f->match_len, 0, n - f->match_len);
        f->match = m;
        f->match_len = n;
    }
    if (!f->match[code]) {
        const it_code_entry *e = it_registry_get(code);
        char name[512];
        snprintf(name, sizeof name, "%s.%s", e->module, e->qualname);
        f->match[code] = fnmatch(f->keep_glob, name, 0) == 0 ? 2 : 1;
    }
    return f->match[code] == 2;
}

/* Every record a thread-greenlet holds is written (the drain stops, the
 * thread is gone, or a gap left its calls undecidable: what an unfiltered
 * sink would have shown of them), and its state forgotten. */
static inline void it_slow_flush_g(it_slow *f, it_slow_g *g) {
    it_slow_release(f, g, 0);
    it_slow_truncate(f, g, 0, 0);
    it_slow_drop_g(f, g);
}

/* Records of thread `tid` were lost (or its ring is freed): what its
 * greenlets hold is written as it is, and the pairing forgets them. */
static inline void it_slow_forget_thread(it_slow *f, long tid) {
    for (unsigned i = 0; i < IT_SLOW_BUCKETS; i++)
        for (it_slow_g *g = f->buckets[i], *next; g; g = next) {
            next = g->next;
            if (g->tid == tid)
                it_slow_flush_g(f, g);
        }
    it_pair_lost_thread(&f->pair, 0, tid);
}

/* Past the bound inside a root: the closed subtrees held are given up,
 * keeping the open calls' records (the structure still written later). */
static inline void it_slow_spill(it_slow *f, it_slow_g *g, uint64_t ts) {
    it_slow_frame *root = &g->stack[g->root - 1];
    size_t from = root->held_off, to = from;
    uint32_t k = (uint32_t)(g->root - 1);
    uint64_t kept = 0;
    for (size_t p = from; p < g->held_len;) {
        const it_record *rec = (const it_record *)(g->held + p);
        uint32_t size = rec->size;
        if (k < g->len && g->stack[k].held_off == p) {
            memmove(g->held + to, g->held + p, size);
            g->stack[k].held_off = to;
            g->stack[k].held_n_at = root->held_n_at + kept;
            to += size;
            kept++;
            k++;
        }
        p += size;
    }
    uint64_t dropped = g->held_n - root->held_n_at - kept;
    g->held_len = to;
    g->held_n = root->held_n_at + kept;
    atomic_fetch_sub_explicit(&f->held, dropped, memory_order_relaxed);
    atomic_fetch_add_explicit(&f->lost, dropped, memory_order_relaxed);
    it_slow_out_lost(f, dropped, ts);
}

/* Calls left open deeper than `depth` never returned (cut off by a gap or
 * the trace's start): they and what they hold are written as they are, as
 * an unfiltered sink shows them. */
static inline void it_slow_cut(it_slow *f, it_slow_g *g, int32_t depth) {
    if (!g->len || g->stack[g->len - 1].depth <= depth)
        return;
    uint32_t keep = g->len;
    while (keep && g->stack[keep - 1].depth > depth)
        keep--;
    uint32_t below = g->root ? (uint32_t)g->root - 1 : g->len;
    it_slow_emit_ancestors(f, g, below);
    if (below < g->len) {  /* an open root: its subtree so far, in order */
        if (!g->stack[below].emitted)
            it_slow_release(f, g, g->stack[below].held_off);
        for (uint32_t i = below; i < g->len; i++)
            g->stack[i].emitted = 1;
        g->root = 0;
    }
    it_slow_truncate(f, g, 0, 0);
    g->len = keep;
}

static inline void it_slow_enter(it_slow *f, long tid, const it_record *rec) {
    it_pair_enter(&f->pair, 0, tid, rec->greenlet_id, rec->depth, rec->code_id, rec->ts);
    it_slow_g *g = it_slow_find(f, tid, rec->greenlet_id, 1);
    if (!g) {
        it_slow_out(f, rec, -1);  /* no memory to decide: written */
        return;
    }
    it_slow_cut(f, g, rec->depth - 1);
    if (g->len == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 16;
        it_slow_frame *s = realloc(g->stack, cap * sizeof *s);
        if (!s) {
            f->oom = 1;
            it_slow_emit_ancestors(f, g, g->len);
            it_slow_out(f, rec, -1);
            return;
        }
        g->stack = s;
        g->cap = cap;
    }
    it_slow_frame *fr = &g->stack[g->len++];
    memset(fr, 0, sizeof *fr);
    fr->ts = rec->ts;
    fr->depth = rec->depth;
    fr->held_off = g->held_len;
    fr->held_n_at = g->held_n;
    if (!g->root && it_slow_is_root_code(f, rec->code_id)) {
        fr->root = 1;
        g->root = (int)g->len;
    }
    it_slow_hold(f, g, rec);
    if (g->root && g->held_n - g->stack[g->root - 1].held_n_at > f->max_held)
        it_slow_spill(f, g, rec->ts);
}

/* The "omitted" record written before a kept call's exit. */
static inline void it_slow_out_omitted(it_slow *f, const it_slow_frame *fr, const it_record *exit) {
    if (!fr->omitted_calls)
        return;
    struct {
        it_record h;
        it_omitted_payload p;
    } o;
    memset(&o, 0, sizeof o);
    o.h.size = IT_OMITTED_SIZE;
    o.h.event = IT_EV_OMITTED;
    o.h.greenlet_id = exit->greenlet_id;
    o.h.ts = exit->ts;
    o.h.depth = exit->depth;
    o.p.calls = fr->omitted_calls;
    o.p.wall_ns = fr->omitted_wall;
    o.p.active_ns = fr->omitted_active;
    it_slow_out(f, &o.h, -1);
}

static inline void it_slow_exit(it_slow *f, long tid, const it_record *rec) {
    it_pair_result res;
    int known = it_pair_exit(&f->pair, 0, tid, rec->greenlet_id, rec->depth, rec->ts, &res);
    it_slow_g *g = it_slow_find(f, tid, rec->greenlet_id, 0);
    if (g)
        it_slow_cut(f, g, rec->depth);
    if (!g || !g->len || g->stack[g->len - 1].depth != rec->depth) {
        /* no open call of its depth: written as it is (its duration is unknown) */
        if (g && g->root)
            it_slow_hold(f, g, rec);  /* inside a root: with its subtree */
        else
            it_slow_out(f, rec, -1);
        return;
    }
    uint32_t idx = g->len - 1;
    it_slow_frame *fr = &g->stack[idx];
    int64_t wall = rec->ts >= fr->ts ? (int64_t)(rec->ts - fr->ts) : 0;
    int64_t active = known ? res.active_ns : wall;
    if (g->root && (uint32_t)g->root - 1 < idx) {  /* inside a root: decided with the root */
        it_slow_hold(f, g, rec);
        g->len--;
        if (g->held_n - g->stack[g->root - 1].held_n_at > f->max_held)
            it_slow_spill(f, g, rec->ts);
        return;
    }
    uint64_t bar = fr->root ? f->keep_ns : f->min_ns;
    if (fr->emitted || (bar != IT_SLOW_NONE && (uint64_t)wall >= bar)) {
        it_slow_emit_ancestors(f, g, idx);
        if (!fr->emitted)  /* its own record and, for a root, its whole subtree */
            it_slow_release(f, g, fr->held_off);
        it_slow_truncate(f, g, 0, 0);  /* everything held is written now */
        it_slow_out_omitted(f, fr, rec);
        it_slow_out(f, rec, wall);
    } else {  /* left out, with its subtree: its parent says so */
        uint64_t n = it_slow_truncate(f, g, fr->held_off, fr->held_n_at) + 1;
        atomic_fetch_add_explicit(&f->omitted, n, memory_order_relaxed);
        if (idx) {
            it_slow_frame *parent = &g->stack[idx - 1];
            parent->omitted_calls++;
            parent->omitted_wall += wall;
            parent->omitted_active += active;
        }
    }
    if (fr->root)
        g->root = 0;
    g->len--;
    if (!g->len)
        it_slow_flush_g(f, g);  /* holds nothing more: freed */
}

/* A batch of the ring of thread `tid` (times in ns): fills the output
 * (it_slow_out_rec, f->durs, f->nout), which the caller hands to the sink
 * and empties with it_slow_out_clear(). */
static inline void it_slow_feed(it_slow *f, long tid, const it_record **recs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const it_record *rec = recs[i];
        switch (rec->event) {
        case IT_EV_CALL:
        case IT_EV_RESUME:
            it_slow_enter(f, tid, rec);
            break;
        case IT_EV_RETURN:
        case IT_EV_UNWIND:
        case IT_EV_YIELD:
            it_slow_exit(f, tid, rec);
            break;
        case IT_EV_LOST:
            it_slow_forget_thread(f, tid);
            it_slow_out(f, rec, -1);
            break;
        case IT_EV_SWITCH:
            it_pair_switch(&f->pair, 0, tid, rec->greenlet_id, rec->ts);
            it_slow_out(f, rec, -1);
            break;
        default: {  /* a log record: with its call's subtree inside a root */
            it_slow_g *g = it_slow_find(f, tid, rec->greenlet_id, 0);
            if (g && g->root)
                it_slow_hold(f, g, rec);
            else
                it_slow_out(f, rec, -1);
        }
        }
    }
}

static inline void it_slow_out_clear(it_slow *f) {
    f->nout = 0;
    f->out_len = 0;
}

/* In a forked child: what is held is the parent's to write (its drain
 * does, at its own stop); the child starts with nothing open. */
static inline void it_slow_after_fork(it_slow *f) {
    for (unsigned i = 0; i < IT_SLOW_BUCKETS; i++)
        while (f->buckets[i])
            it_slow_drop_g(f, f->buckets[i]);
    atomic_store_explicit(&f->held, 0, memory_order_relaxed);
    it_pair_destroy(&f->pair);
    if (it_pair_init(&f->pair))
        f->oom = 1;  /* a zeroed pairer finds nothing: active times become wall times */
    it_slow_out_clear(f);
}

/* The drain stops: everything held is written. */
static inline void it_slow_flush_all(it_slow *f) {
    for (unsigned i = 0; i < IT_SLOW_BUCKETS; i++)
        while (f->buckets[i])
            it_slow_flush_g(f, f->buckets[i]);
}

#endif
