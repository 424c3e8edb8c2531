/* replay --min-duration: the text lines of the calls that took at least
 * `min_ns`, each with its ancestors as context.  A call's duration is known
 * only at its exit, so each greenlet (pid, tid, greenlet) holds the entry
 * records of its open calls; when an exit qualifies, the held entries not
 * shown yet (its ancestors, then itself) are written, then the exit.  An
 * ancestor is written once, before its first kept descendant, and its exit
 * is written too (whatever its duration) so the nesting closes.
 *
 * Exits of unknown duration (after a `lost N` gap, or of calls begun before
 * the trace) do not qualify.  "lost" records are always written (nothing
 * is lost silently); log and switch records are left out.
 *
 * Memory: the open calls' entries (values copied), per greenlet; a
 * greenlet's node is freed when its last open call returns.  One owner. */
#ifndef IT_REPLAY_H
#define IT_REPLAY_H

#include "it_rwrite.h"
#include "it_rfuncs.h"

typedef struct {
    it_rrec rec;        /* values point into `values` below, or NULL */
    char *values;
    int shown;
} it_replay_entry;

typedef struct it_replay_node {
    struct it_replay_node *next;  /* the bucket's chain */
    int64_t pid, tid;
    uint32_t greenlet;
    it_replay_entry *stack;
    uint32_t len, cap;
} it_replay_node;

typedef struct {
    it_rwrite *w;
    const it_rfuncs *funcs;
    int64_t min_ns;
    it_replay_node **buckets;
    uint32_t nbuckets;  /* a power of two */
    uint32_t live;      /* nodes: greenlets with open calls */
    int oom;            /* memory ran out: some calls were not held (their exits not shown) */
} it_replay;

static inline int it_replay_init(it_replay *rp, it_rwrite *w, const it_rfuncs *funcs,
                                 int64_t min_ns) {
    memset(rp, 0, sizeof *rp);
    rp->w = w;
    rp->funcs = funcs;
    rp->min_ns = min_ns;
    rp->nbuckets = 256;
    rp->buckets = calloc(rp->nbuckets, sizeof *rp->buckets);
    return rp->buckets ? 0 : -1;
}

static inline void it_replay_free_node(it_replay_node *n) {
    for (uint32_t i = 0; i < n->len; i++)
        free(n->stack[i].values);
    free(n->stack);
    free(n);
}

static inline void it_replay_destroy(it_replay *rp) {
    for (uint32_t b = 0; rp->buckets && b < rp->nbuckets; b++)
        while (rp->buckets[b]) {
            it_replay_node *n = rp->buckets[b];
            rp->buckets[b] = n->next;
            it_replay_free_node(n);
        }
    free(rp->buckets);
    rp->buckets = NULL;
}

static inline uint32_t it_replay_hash(const it_replay *rp, int64_t pid, int64_t tid, uint32_t g) {
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full ^
                 (uint64_t)g * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (uint32_t)h & (rp->nbuckets - 1);
}

/* Twice the buckets once there are more greenlets with open calls than
 * buckets (a server's thousands of greenlets); a failure keeps the chains. */
static inline void it_replay_grow(it_replay *rp) {
    uint32_t old = rp->nbuckets;
    it_replay_node **b = calloc((size_t)old * 2, sizeof *b), **from = rp->buckets;
    if (!b)
        return;
    rp->buckets = b;
    rp->nbuckets = old * 2;
    for (uint32_t i = 0; i < old; i++)
        while (from[i]) {
            it_replay_node *n = from[i];
            from[i] = n->next;
            uint32_t h = it_replay_hash(rp, n->pid, n->tid, n->greenlet);
            n->next = b[h];
            b[h] = n;
        }
    free(from);
}

static inline it_replay_node **it_replay_link(it_replay *rp, int64_t pid, int64_t tid,
                                              uint32_t g) {
    it_replay_node **link = &rp->buckets[it_replay_hash(rp, pid, tid, g)];
    while (*link && !((*link)->greenlet == g && (*link)->tid == tid && (*link)->pid == pid))
        link = &(*link)->next;
    return link;  /* *link is the node, or NULL where a new one goes */
}

static inline void it_replay_pop(it_replay_node *n) {
    free(n->stack[--n->len].values);
}

static inline int it_replay_write(it_replay *rp, const it_rrec *x) {
    return it_rwrite_record(rp->w, x, it_rfuncs_get(rp->funcs, x->func));
}

static inline void it_replay_enter(it_replay *rp, const it_rrec *x) {
    it_replay_node **link = it_replay_link(rp, x->pid, x->tid, x->greenlet), *n = *link;
    if (!n && rp->live >= rp->nbuckets) {
        it_replay_grow(rp);
        link = it_replay_link(rp, x->pid, x->tid, x->greenlet);
    }
    if (!n) {
        n = calloc(1, sizeof *n);
        if (!n) {
            rp->oom = 1;
            return;
        }
        n->pid = x->pid;
        n->tid = x->tid;
        n->greenlet = x->greenlet;
        *link = n;
        rp->live++;
    }
    while (n->len && n->stack[n->len - 1].rec.depth >= x->depth)
        it_replay_pop(n);  /* their exits never came */
    if (n->len == n->cap) {
        uint32_t cap = n->cap ? n->cap * 2 : 16;
        it_replay_entry *s = realloc(n->stack, cap * sizeof *s);
        if (!s) {
            rp->oom = 1;
            return;
        }
        n->stack = s;
        n->cap = cap;
    }
    it_replay_entry *e = &n->stack[n->len];
    e->rec = *x;
    e->values = NULL;
    e->shown = 0;
    if (x->values && x->values_len) {
        e->values = malloc(x->values_len);
        if (!e->values) {
            rp->oom = 1;
            return;
        }
        memcpy(e->values, x->values, x->values_len);
    }
    e->rec.values = x->values ? (e->values ? e->values : "") : NULL;
    n->len++;
}

/* Returns -1 once a write failed. */
static inline int it_replay_exit(it_replay *rp, const it_rrec *x) {
    it_replay_node **link = it_replay_link(rp, x->pid, x->tid, x->greenlet), *n = *link;
    int keep = x->duration_ns >= 0 && x->duration_ns >= rp->min_ns;
    if (!n)
        return keep ? it_replay_write(rp, x) : 0;
    while (n->len && n->stack[n->len - 1].rec.depth > x->depth)
        it_replay_pop(n);
    int matched = n->len && n->stack[n->len - 1].rec.depth == x->depth;
    int show = keep || (matched && n->stack[n->len - 1].shown);
    if (keep)  /* the ancestors not shown yet, outermost first, then the call itself */
        for (uint32_t i = 0; i < n->len; i++)
            if (!n->stack[i].shown) {
                n->stack[i].shown = 1;
                if (it_replay_write(rp, &n->stack[i].rec))
                    return -1;
            }
    if (matched)
        it_replay_pop(n);
    if (!n->len) {  /* nothing open: a finished greenlet leaves nothing */
        *link = n->next;
        it_replay_free_node(n);
        rp->live--;
    }
    return show ? it_replay_write(rp, x) : 0;
}

/* Every open call of the thread is forgotten (its records were lost). */
static inline void it_replay_lost_thread(it_replay *rp, int64_t pid, int64_t tid) {
    for (uint32_t b = 0; b < rp->nbuckets; b++)
        for (it_replay_node **link = &rp->buckets[b]; *link;) {
            it_replay_node *n = *link;
            if (n->pid == pid && n->tid == tid) {
                *link = n->next;
                it_replay_free_node(n);
                rp->live--;
            } else {
                link = &n->next;
            }
        }
}

/* One record of the stream; -1 once a write failed. */
static inline int it_replay_record(it_replay *rp, const it_rrec *x) {
    switch (x->event) {
    case IT_EV_CALL:
    case IT_EV_RESUME:
        it_replay_enter(rp, x);
        return 0;
    case IT_EV_RETURN:
    case IT_EV_UNWIND:
    case IT_EV_YIELD:
        return it_replay_exit(rp, x);
    case IT_EV_LOST:
        it_replay_lost_thread(rp, x->pid, x->tid);
        return it_replay_write(rp, x);
    default:
        return 0;
    }
}

#endif
