/* Pairing entries with exits: the duration of every call, for the live
 * drain (durations on return lines) and for the trace reader (every
 * analysis command).  One home for the rule, so a live line and a decoded
 * line always agree.
 *
 * An entry is a call or a resume, an exit a return, an exception unwind or
 * a yield; each exit closes the stretch its entry opened.  Records carry a
 * per-greenlet depth, the same on an entry and its exit, so each greenlet
 * (pid, tid, greenlet id) keeps a stack of open entries and an exit matches
 * the top one of its depth.  Entries left open deeper than an exit (their
 * exits were lost) are dropped; an exit with no entry of its depth has no
 * known duration: after a `lost N` gap a duration is left out, never wrong.
 *
 * Active time: the wall time less the stretches in which the greenlet was
 * switched out.  Switch records (from the greenlet switch callback) give the
 * exact instant; a trace without them still nests correctly, and a record of
 * another greenlet in the same thread counts as a switch at its own time.
 *
 * Self time: the wall (active) time less that of the direct children, which
 * each exit adds to the entry below it.
 *
 * Memory: a greenlet's node is freed when its stack empties, so a million
 * short-lived greenlets leave nothing behind (freed nodes keep their frame
 * arrays for reuse: memory stays at the peak of greenlets open at once); a thread keeps one small node
 * (its current greenlet) until it is forgotten with it_pair_lost_thread()
 * or the pairer is freed.  Not thread-safe: one owner (the drain thread, or
 * the reader).  No Python: usable without the GIL and in the fuzz harness. */
#ifndef IT_PAIR_H
#define IT_PAIR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "it_sum.h"

typedef struct {
    uint64_t ts;            /* the entry's time */
    uint64_t out_at_entry;  /* the greenlet's switched-out total then */
    int64_t child_wall, child_active;
    uint32_t code;          /* the caller's code key (registry id, reader function index) */
    int32_t depth;
} it_pair_frame;

typedef struct it_pair_node {
    int64_t pid, tid;
    uint32_t greenlet;      /* a greenlet node's id (0 in a thread node) */
    int thread;             /* the thread's own node: a kind of its own, not a sentinel
                             * id, since a greenlet id may be any u32 in a hostile file */
    uint32_t next;          /* chain in the bucket, or the free list; 0 ends it (node 0 is unused) */
    int used;               /* 0 while on the free list */
    /* greenlet nodes */
    it_pair_frame *stack;
    uint32_t len, cap;
    uint64_t out_total;     /* ns switched out while it had open entries */
    uint64_t out_since;     /* when it was switched out; 0 while it runs */
    /* thread nodes */
    uint32_t current;       /* the greenlet running in the thread */
    int has_current;
} it_pair_node;

typedef struct {
    uint32_t *buckets;      /* node index of the chain's first node, 0 for none */
    uint32_t nbuckets;      /* a power of two */
    it_pair_node *nodes;
    uint32_t nnodes, capnodes;
    uint32_t free_head;     /* freed nodes, chained through `next` */
    uint32_t live;          /* nodes in use */
    int oom;                /* an allocation failed: some durations are unknown */
} it_pair;

/* What an exit closed.  `known` 0: no entry matched (a gap, or the trace
 * started inside the call); the other fields are then meaningless. */
typedef struct {
    int known;
    uint64_t entry_ts;
    int64_t wall_ns, active_ns, self_ns, self_active_ns;
    uint32_t code;          /* the entry's code key */
    uint32_t parent_code;   /* the caller's (the entry below), when has_parent */
    int has_parent;
} it_pair_result;

static inline int it_pair_init(it_pair *p) {
    memset(p, 0, sizeof *p);
    p->nbuckets = 256;
    p->buckets = calloc(p->nbuckets, sizeof *p->buckets);
    p->capnodes = 256;
    p->nodes = calloc(p->capnodes, sizeof *p->nodes);
    p->nnodes = 1;
    if (!p->buckets || !p->nodes) {
        free(p->buckets);
        free(p->nodes);
        memset(p, 0, sizeof *p);
        return -1;
    }
    return 0;
}

static inline void it_pair_destroy(it_pair *p) {
    for (uint32_t i = 1; i < p->nnodes; i++)
        free(p->nodes[i].stack);
    free(p->nodes);
    free(p->buckets);
    memset(p, 0, sizeof *p);
}

/* Nodes in use: greenlets with open entries, plus one per thread. */
static inline uint32_t it_pair_live(const it_pair *p) { return p->live; }

/* The key: (pid, tid, greenlet id) for a greenlet node, (pid, tid) and
 * `thread` set (g 0) for the thread's node. */
static inline uint32_t it_pair_hash(const it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                    int thread) {
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full ^
                 ((uint64_t)g + ((uint64_t)!!thread << 32)) * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (uint32_t)h & (p->nbuckets - 1);
}

static inline it_pair_node *it_pair_find(it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                         int thread) {
    if (!p->buckets)
        return NULL;
    for (uint32_t i = p->buckets[it_pair_hash(p, pid, tid, g, thread)]; i; i = p->nodes[i].next) {
        it_pair_node *n = &p->nodes[i];
        if (n->greenlet == g && n->thread == thread && n->tid == tid && n->pid == pid)
            return n;
    }
    return NULL;
}

/* Doubles the buckets when chains would grow long; a failure only keeps
 * chains longer. */
static inline void it_pair_rehash(it_pair *p) {
    uint32_t nb = p->nbuckets * 2;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
        return;
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
    for (uint32_t i = 1; i < p->nnodes; i++) {
        it_pair_node *n = &p->nodes[i];
        if (!n->used)
            continue;  /* on the free list */
        uint32_t h = it_pair_hash(p, n->pid, n->tid, n->greenlet, n->thread);
        n->next = b[h];
        b[h] = i;
    }
}

static inline it_pair_node *it_pair_add(it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                        int thread) {
    if (!p->buckets) {
        p->oom = 1;
        return NULL;
    }
    uint32_t i = p->free_head;
    if (i) {
        p->free_head = p->nodes[i].next;
    } else {
        if (p->nnodes == p->capnodes) {
            uint32_t cap = p->capnodes * 2;
            it_pair_node *nodes = realloc(p->nodes, cap * sizeof *nodes);
            if (!nodes) {
                p->oom = 1;
                return NULL;
            }
            memset(nodes + p->capnodes, 0, (cap - p->capnodes) * sizeof *nodes);
            p->nodes = nodes;
            p->capnodes = cap;
        }
        i = p->nnodes++;
    }
    if (p->live + 1 > p->nbuckets)
        it_pair_rehash(p);
    it_pair_node *n = &p->nodes[i];
    it_pair_frame *stack = n->stack;  /* a reused node keeps its frames' memory */
    uint32_t cap = n->cap;
    memset(n, 0, sizeof *n);
    n->stack = stack;
    n->cap = cap;
    n->pid = pid;
    n->tid = tid;
    n->greenlet = g;
    n->thread = thread;
    n->used = 1;
    uint32_t h = it_pair_hash(p, pid, tid, g, thread);
    n->next = p->buckets[h];
    p->buckets[h] = i;
    p->live++;
    return n;
}

static inline void it_pair_remove(it_pair *p, it_pair_node *n) {
    uint32_t idx = (uint32_t)(n - p->nodes);
    uint32_t *link = &p->buckets[it_pair_hash(p, n->pid, n->tid, n->greenlet, n->thread)];
    while (*link && *link != idx)
        link = &p->nodes[*link].next;
    if (*link)
        *link = n->next;
    /* The frames' memory stays with the node on the free list (freed with
     * the pairer): a loop of short calls at the top of a greenlet empties
     * and refills its stack on every call, and a malloc/free pair each time
     * was most of the live drain's pairing cost. */
    it_pair_frame *stack = n->stack;
    uint32_t cap = n->cap;
    memset(n, 0, sizeof *n);
    n->stack = stack;
    n->cap = cap;
    n->next = p->free_head;
    p->free_head = idx;
    p->live--;
}

/* Greenlet `g` of the thread runs from `ts` on.  Called with the switch
 * record's time, and by every entry and exit (a record of another greenlet
 * than the thread's last one is a switch at its time). */
static inline void it_pair_switch(it_pair *p, int64_t pid, int64_t tid, uint32_t g, uint64_t ts) {
    it_pair_node *t = it_pair_find(p, pid, tid, 0, 1);
    if (!t && !(t = it_pair_add(p, pid, tid, 0, 1)))
        return;
    if (t->has_current && t->current == g)
        return;
    if (t->has_current) {
        it_pair_node *old = it_pair_find(p, pid, tid, t->current, 0);
        if (old && !old->out_since)
            old->out_since = ts ? ts : 1;
    }
    t->current = g;
    t->has_current = 1;
    it_pair_node *n = it_pair_find(p, pid, tid, g, 0);
    if (n && n->out_since) {
        if (ts > n->out_since)
            n->out_total += ts - n->out_since;
        n->out_since = 0;
    }
}

/* A call or resume. */
static inline void it_pair_enter(it_pair *p, int64_t pid, int64_t tid, uint32_t g, int32_t depth,
                                 uint32_t code, uint64_t ts) {
    it_pair_switch(p, pid, tid, g, ts);
    it_pair_node *n = it_pair_find(p, pid, tid, g, 0);
    if (!n && !(n = it_pair_add(p, pid, tid, g, 0)))
        return;
    while (n->len && n->stack[n->len - 1].depth >= depth)
        n->len--;  /* their exits never came: lost, or cut off by the trace's start */
    if (n->len == n->cap) {
        uint32_t cap = n->cap ? n->cap * 2 : 16;
        it_pair_frame *s = realloc(n->stack, cap * sizeof *s);
        if (!s) {
            p->oom = 1;
            return;
        }
        n->stack = s;
        n->cap = cap;
    }
    it_pair_frame *f = &n->stack[n->len++];
    f->ts = ts;
    f->out_at_entry = n->out_total;
    f->child_wall = f->child_active = 0;
    f->code = code;
    f->depth = depth;
}

/* A return, exception unwind or yield: fills `out`, returns out->known. */
static inline int it_pair_exit_given(it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                     int32_t depth, uint64_t ts, int64_t given_wall_ns,
                                     it_pair_result *out);

static inline int it_pair_exit(it_pair *p, int64_t pid, int64_t tid, uint32_t g, int32_t depth,
                               uint64_t ts, it_pair_result *out) {
    return it_pair_exit_given(p, pid, tid, g, depth, ts, -1, out);
}

/* it_pair_exit, with the call's wall time given by the trace when
 * `given_wall_ns` >= 0 (a text or JSON line that wrote its duration, whose
 * timestamps may be coarser: a traditional syslog header has seconds):
 * it stands for the timestamps' difference, and the parent's self time
 * subtracts it, so self times stay consistent with the durations shown. */
static inline int it_pair_exit_given(it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                     int32_t depth, uint64_t ts, int64_t given_wall_ns,
                                     it_pair_result *out) {
    out->known = 0;
    it_pair_switch(p, pid, tid, g, ts);
    it_pair_node *n = it_pair_find(p, pid, tid, g, 0);
    if (!n)
        return 0;
    while (n->len && n->stack[n->len - 1].depth > depth)
        n->len--;
    if (n->len && n->stack[n->len - 1].depth == depth) {
        it_pair_frame *f = &n->stack[--n->len];
        uint64_t out_ns = n->out_total - f->out_at_entry;
        out->known = 1;
        out->entry_ts = f->ts;
        out->code = f->code;
        /* In unsigned, capped at INT64_MAX, the children's sums saturated:
         * a damaged trace file's timestamps (or written durations) may be
         * anything, and no sum below may overflow (undefined behaviour) or
         * turn negative. */
        uint64_t wall = given_wall_ns >= 0 ? (uint64_t)given_wall_ns : ts >= f->ts ? ts - f->ts : 0;
        wall = wall < (uint64_t)INT64_MAX ? wall : (uint64_t)INT64_MAX;
        out->wall_ns = (int64_t)wall;
        out->active_ns = wall > out_ns ? (int64_t)(wall - out_ns) : 0;
        out->self_ns = out->wall_ns - f->child_wall;
        out->self_active_ns = out->active_ns - f->child_active;
        if (out->self_ns < 0)
            out->self_ns = 0;
        if (out->self_active_ns < 0)
            out->self_active_ns = 0;
        out->has_parent = n->len > 0;
        if (n->len) {
            it_pair_frame *parent = &n->stack[n->len - 1];
            parent->child_wall = it_sum_sat(parent->child_wall, out->wall_ns);
            parent->child_active = it_sum_sat(parent->child_active, out->active_ns);
            out->parent_code = parent->code;
        }
    }
    if (!n->len)
        it_pair_remove(p, n);  /* nothing open: a finished greenlet leaves nothing */
    return out->known;
}

/* Children of the open call at `depth` that a sink with slow-call
 * retention left out (an "omitted" record, it_slow.h, just before the
 * call's exit): their time counts as its children's, so its self time
 * stays what it would have been with them written.  Nothing when no open
 * call of that depth is there (a gap). */
static inline void it_pair_omitted(it_pair *p, int64_t pid, int64_t tid, uint32_t g,
                                   int32_t depth, int64_t wall_ns, int64_t active_ns) {
    it_pair_node *n = it_pair_find(p, pid, tid, g, 0);
    if (!n || !n->len || n->stack[n->len - 1].depth != depth)
        return;
    it_pair_frame *f = &n->stack[n->len - 1];  /* a hostile file's times: saturated */
    f->child_wall = it_sum_sat(f->child_wall, wall_ns > 0 ? wall_ns : 0);
    f->child_active = it_sum_sat(f->child_active, active_ns > 0 ? active_ns : 0);
}

/* Records of the thread were lost: every open entry of its greenlets is
 * forgotten (their exits will have no known duration) and so is its
 * current greenlet. */
static inline void it_pair_lost_thread(it_pair *p, int64_t pid, int64_t tid) {
    for (uint32_t i = 1; i < p->nnodes; i++) {
        it_pair_node *n = &p->nodes[i];
        if (n->used && n->pid == pid && n->tid == tid)
            it_pair_remove(p, n);
    }
}

#endif
