/* `greenlets`: per greenlet its first function, lifetime, running time and
 * switch count, and every stretch in which a greenlet ran without yielding
 * for longer than a threshold (it blocked the hub), with the call tree that
 * ran in that stretch.
 *
 * A stretch starts when the thread switches to the greenlet and ends when
 * it switches away.  Switch records (binary traces of a tracer with the
 * switch callback) give the exact instants; without them a record of
 * another greenlet in the same thread means a switch, and the stretch runs
 * from the greenlet's first record to its last one before the switch (the
 * time between is not known to be anyone's).  A greenlet whose first
 * function is gevent's Hub.run, or that ran no traced function at all (a
 * hub seen only in switch records), is the hub: its stretches are its
 * waits for events, not blocking, and are only reported on request.
 *
 * The stretch's call tree: the calls that ran in it (calls, and the part
 * of their time inside the stretch), under the frames already open when it
 * began; a frame still open at its end counts the time up to the end and
 * is marked open.  Kept stretches are copied out (at most `max_kept`, the
 * rest counted); memory otherwise is per greenlet seen and per open frame.
 * No Python. */
#ifndef IT_GLETS_H
#define IT_GLETS_H

#include "../../native/it_events.h"  /* before it_rrec.h: the event enum */
#include "it_gstack.h"
#include "it_rfuncs.h"
#include "it_rrec.h"
#include "it_rtree.h"
#include "../../native/it_sum.h"

typedef struct {
    int64_t pid, tid;
    uint32_t greenlet, first_func;
    uint32_t next;              /* hash chain */
    uint64_t first_ts, last_ts;
    int64_t wall_offset;
    uint64_t running_ns, switches, stretches_over;
    int is_hub;
} it_glet;

typedef struct {
    uint32_t glet;              /* it_glet index */
    uint64_t start_ts;
    int64_t wall_offset;
    int64_t duration_ns;
    uint32_t first_node, nnodes;  /* in it_glets.kept_nodes */
} it_glet_stretch;

typedef struct {
    int64_t pid, tid;
    uint32_t next, glet;        /* the current greenlet (it_glet index), 0 none */
    uint64_t start, last;       /* its stretch's start, its last record */
    uint32_t serial;            /* the stretch's number: frames' tree nodes are valid in it */
    int exact;                  /* the stretch started at a switch record */
    it_rtree tree;
} it_glet_thread;

typedef struct {
    const it_rfuncs *funcs;
    int64_t threshold_ns;
    int include_hub;
    it_glet *glets;             /* [0] unused */
    uint32_t nglets, capglets;
    uint32_t *gbuckets, ngbuckets;
    it_glet_thread *threads;    /* [0] unused */
    uint32_t nthreads, capthreads;
    it_gstack stacks;           /* frames: a = tree node, b = the stretch serial it is valid in */
    uint32_t serial;
    it_glet_stretch *kept;
    uint32_t nkept, capkept, max_kept;
    uint64_t dropped;           /* stretches over the threshold beyond max_kept */
    it_rtree_node *kept_nodes;
    uint32_t nkept_nodes, capkept_nodes;
    int oom;
} it_glets;

static inline int it_glets_init(it_glets *s, const it_rfuncs *funcs, int64_t threshold_ns,
                                int include_hub, uint32_t max_kept) {
    memset(s, 0, sizeof *s);
    s->funcs = funcs;
    s->threshold_ns = threshold_ns;
    s->include_hub = include_hub;
    s->max_kept = max_kept;
    s->nglets = s->nthreads = 1;
    s->ngbuckets = 1024;
    s->gbuckets = calloc(s->ngbuckets, sizeof *s->gbuckets);
    return s->gbuckets && !it_gstack_init(&s->stacks) ? 0 : -1;
}

static inline void it_glets_destroy(it_glets *s) {
    for (uint32_t i = 1; i < s->nthreads; i++)
        it_rtree_destroy(&s->threads[i].tree);
    free(s->threads);
    free(s->glets);
    free(s->gbuckets);
    free(s->kept);
    free(s->kept_nodes);
    it_gstack_destroy(&s->stacks);
    memset(s, 0, sizeof *s);
}

/* Threads hash with `thread` set and greenlet 0: a greenlet's id may be
 * any u32 in a hostile file (0xFFFFFFFF too), so no id can stand for a
 * thread; the kind is a separate bit of the key. */
static inline uint32_t it_glets_hash(uint32_t nb, int64_t pid, int64_t tid, uint32_t g,
                                     int thread) {
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full ^
                 ((uint64_t)g + ((uint64_t)!!thread << 32)) * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (uint32_t)h & (nb - 1);
}

/* The time from `from` to `to`, 0 if `to` is not later, capped at INT64_MAX:
 * a hostile file's timestamps may be any u64, and a difference past
 * INT64_MAX would turn negative as a duration. */
static inline int64_t it_glets_span(uint64_t from, uint64_t to) {
    if (to <= from)
        return 0;
    return to - from < (uint64_t)INT64_MAX ? (int64_t)(to - from) : INT64_MAX;
}

static inline void *it_glets_grow(void *p, uint32_t *cap, uint32_t n, size_t size) {
    if (n < *cap)
        return p;
    uint32_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(p, c * size);
    if (q)
        *cap = c;
    return q;
}

/* Four times the buckets when the chains would grow long (a failure only
 * keeps them longer).  Chains hold both kinds: idx << 1, | 1 for a thread. */
static inline void it_glets_rehash(it_glets *s) {
    uint32_t nb = s->ngbuckets * 4;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (uint32_t i = 1; i < s->nglets; i++) {
        uint32_t h = it_glets_hash(nb, s->glets[i].pid, s->glets[i].tid, s->glets[i].greenlet, 0);
        s->glets[i].next = b[h];
        b[h] = i << 1;
    }
    for (uint32_t i = 1; i < s->nthreads; i++) {
        uint32_t h = it_glets_hash(nb, s->threads[i].pid, s->threads[i].tid, 0, 1);
        s->threads[i].next = b[h];
        b[h] = i << 1 | 1;
    }
    free(s->gbuckets);
    s->gbuckets = b;
    s->ngbuckets = nb;
}

/* The row of greenlet (pid, tid, g) in the greenlet table, or with `thread`
 * the row of thread (pid, tid) in the thread table (g ignored), added on
 * first sight; 0 when memory runs out. */
static inline uint32_t it_glets_find(it_glets *s, int64_t pid, int64_t tid, uint32_t g,
                                     int thread) {
    if (thread)
        g = 0;
    uint32_t b = it_glets_hash(s->ngbuckets, pid, tid, g, thread);
    /* A chain mixes both kinds (hashes collide): each entry's low bit says
     * which table its index is in, so it is read there, and its `next`
     * taken from there, whatever kind is looked for. */
    for (uint32_t i = s->gbuckets[b]; i;) {
        if (i & 1) {
            it_glet_thread *t = &s->threads[i >> 1];
            if (thread && t->pid == pid && t->tid == tid)
                return i >> 1;
            i = t->next;
        } else {
            it_glet *x = &s->glets[i >> 1];
            if (!thread && x->pid == pid && x->tid == tid && x->greenlet == g)
                return i >> 1;
            i = x->next;
        }
    }
    if (s->nglets + s->nthreads > 2 * s->ngbuckets) {
        it_glets_rehash(s);
        b = it_glets_hash(s->ngbuckets, pid, tid, g, thread);
    }
    uint32_t idx;
    if (thread) {
        it_glet_thread *t = it_glets_grow(s->threads, &s->capthreads, s->nthreads, sizeof *t);
        if (!t)
            return s->oom = 1, 0;
        s->threads = t;
        idx = s->nthreads++;
        memset(&t[idx], 0, sizeof *t);
        t[idx].pid = pid;
        t[idx].tid = tid;
        if (it_rtree_init(&t[idx].tree))
            return s->oom = 1, s->nthreads--, 0;
        t[idx].next = s->gbuckets[b];
        s->gbuckets[b] = idx << 1 | 1;
    } else {
        it_glet *x = it_glets_grow(s->glets, &s->capglets, s->nglets, sizeof *x);
        if (!x)
            return s->oom = 1, 0;
        s->glets = x;
        idx = s->nglets++;
        memset(&x[idx], 0, sizeof *x);
        x[idx].pid = pid;
        x[idx].tid = tid;
        x[idx].greenlet = g;
        x[idx].next = s->gbuckets[b];
        s->gbuckets[b] = idx << 1;
    }
    return idx;
}

/* The tree node of frame `i` of greenlet stack `n` in the thread's
 * current stretch, made (with its ancestors) on first need. */
static inline uint32_t it_glets_node(it_glets *s, it_glet_thread *t, it_gnode *n, uint32_t i) {
    it_gframe *f = &n->stack[i];
    if (f->b == t->serial && f->a)
        return f->a;
    uint32_t parent = i ? it_glets_node(s, t, n, i - 1) : 0;
    if (i && !parent)
        return 0;
    f->a = it_rtree_child(&t->tree, parent, f->func);
    f->b = t->serial;
    return f->a;
}

/* The thread's current stretch ends at `end`. */
static inline void it_glets_end(it_glets *s, it_glet_thread *t, uint64_t end) {
    if (!t->glet)
        return;
    it_glet *x = &s->glets[t->glet];
    int64_t d = it_glets_span(t->start, end);
    /* saturated: running_ns stays <= INT64_MAX, the sum of many spans too */
    x->running_ns = (uint64_t)it_sum_sat((int64_t)x->running_ns, d);
    /* the hub: Hub.run, or a greenlet with no traced function at all (seen in switch
     * records only, as gevent's hub is when gevent is not traced) */
    int hub = x->is_hub || !x->first_func;
    if (d > s->threshold_ns && (!hub || s->include_hub)) {
        x->stretches_over++;
        if (s->nkept >= s->max_kept) {
            s->dropped++;
        } else {
            /* frames still open: their time up to the end, marked open */
            it_gnode *n = it_gstack_node(&s->stacks, x->pid, x->tid, x->greenlet, 0);
            for (uint32_t i = 0; n && i < n->len; i++) {
                uint32_t node = it_glets_node(s, t, n, i);
                if (!node)
                    break;
                uint64_t from = n->stack[i].ts > t->start ? n->stack[i].ts : t->start;
                int64_t part = it_glets_span(from, end);
                it_rtree_add(&t->tree, node, 0, part, part, 0);
                t->tree.nodes[node].open = 1;
            }
            it_glet_stretch *k = it_glets_grow(s->kept, &s->capkept, s->nkept, sizeof *k);
            uint32_t need = s->nkept_nodes + t->tree.n;
            it_rtree_node *kn = s->kept_nodes;
            while (kn && need > s->capkept_nodes) {
                kn = it_glets_grow(kn, &s->capkept_nodes, s->capkept_nodes, sizeof *kn);
                if (kn)
                    s->kept_nodes = kn;
            }
            if (!kn && need) {
                uint32_t cap = need > 64 ? need : 64;
                kn = malloc(cap * sizeof *kn);
                if (kn) {
                    s->kept_nodes = kn;
                    s->capkept_nodes = cap;
                }
            }
            if (!k || !kn) {
                s->oom = 1;
                if (k)
                    s->kept = k;
            } else {
                s->kept = k;
                it_glet_stretch *st = &k[s->nkept++];
                st->glet = t->glet;
                st->start_ts = t->start;
                st->wall_offset = x->wall_offset;
                st->duration_ns = d;
                st->first_node = s->nkept_nodes;
                st->nnodes = t->tree.n - 1;
                memcpy(kn + s->nkept_nodes, t->tree.nodes + 1,
                       (t->tree.n - 1) * sizeof *kn);
                s->nkept_nodes += t->tree.n - 1;
            }
        }
    }
    it_rtree_clear(&t->tree);
    t->glet = 0;
}

/* The thread runs greenlet row `gi` from `ts` on. */
static inline void it_glets_begin(it_glets *s, it_glet_thread *t, uint32_t gi, uint64_t ts,
                                  int exact) {
    t->glet = gi;
    t->start = t->last = ts;
    t->exact = exact;
    t->serial = ++s->serial;
    s->glets[gi].switches++;
}

static inline void it_glets_add(it_glets *s, const it_rrec *rec) {
    if (rec->event == IT_EV_LOST) {
        it_gstack_lost(&s->stacks, rec->pid, rec->tid);
        return;
    }
    uint32_t ti = it_glets_find(s, rec->pid, rec->tid, 0, 1);
    uint32_t gi = it_glets_find(s, rec->pid, rec->tid, rec->greenlet, 0);
    if (!ti || !gi)
        return;
    it_glet_thread *t = &s->threads[ti];
    it_glet *x = &s->glets[gi];
    if (!x->first_ts) {
        x->first_ts = rec->ts ? rec->ts : 1;
        x->wall_offset = rec->wall_offset;
    }
    x->last_ts = rec->ts;
    if (rec->event == IT_EV_SWITCH) {
        /* the greenlet switched away from lived until now */
        uint32_t from = t->glet ? t->glet
                                : it_glets_find(s, rec->pid, rec->tid, rec->from_greenlet, 0);
        if (from && s->glets[from].first_ts)
            s->glets[from].last_ts = rec->ts;
        it_glets_end(s, t, rec->ts);
        it_glets_begin(s, t, gi, rec->ts, 1);
        return;
    }
    if (t->glet != gi) {
        it_glets_end(s, t, t->exact ? rec->ts : t->last);
        it_glets_begin(s, t, gi, rec->ts, 0);
    }
    t->last = rec->ts;
    if (!it_event_has_code(rec->event))
        return;
    if (!x->first_func) {
        x->first_func = rec->func;
        const char *q = it_rfuncs_get(s->funcs, rec->func)->qualname;
        x->is_hub = !strcmp(q, "Hub.run");
    }
    int entry = rec->event == IT_EV_CALL || rec->event == IT_EV_RESUME;
    it_gnode *n = it_gstack_node(&s->stacks, rec->pid, rec->tid, rec->greenlet, entry);
    if (!n)
        return;
    if (entry) {
        const it_gframe *p;
        it_gframe *f = it_gstack_push(&s->stacks, n, rec->depth, rec->func, &p);
        if (f) {
            f->ts = rec->ts;
            it_glets_node(s, t, n, n->len - 1);
        }
        return;
    }
    uint32_t i;
    for (i = n->len; i-- > 0 && n->stack[i].depth > rec->depth;)
        ;
    if (i < n->len && n->stack[i].depth == rec->depth) {
        uint32_t node = it_glets_node(s, t, n, i);
        if (node && rec->duration_ns >= 0) {
            uint64_t from = n->stack[i].ts > t->start ? n->stack[i].ts : t->start;
            int64_t part = it_glets_span(from, rec->ts);
            it_rtree_add(&t->tree, node, rec->event != IT_EV_YIELD, part, part, 0);
        }
    }
    it_gframe f;
    it_gstack_pop(n, rec->depth, &f);
    it_gstack_done(&s->stacks, n);
}

/* The trace ended: every thread's stretch ends at its last record. */
static inline void it_glets_finish(it_glets *s) {
    for (uint32_t i = 1; i < s->nthreads; i++)
        it_glets_end(s, &s->threads[i], s->threads[i].last);
}

#endif
