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

#include "it_slow_state.h"
#include <fnmatch.h>

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
            parent->omitted_wall = it_sum_sat(parent->omitted_wall, wall);
            parent->omitted_active = it_sum_sat(parent->omitted_active, active);
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
