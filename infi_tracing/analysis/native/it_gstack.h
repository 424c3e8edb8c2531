/* Per-greenlet stacks of open calls for the analysis consumers (report,
 * graph, greenlets): where in the call tree each greenlet is, so an exit
 * knows its ancestors (recursion, call paths).  Durations are not computed
 * here: the reader's pairing (it_pair.h) fills them into the records; this
 * only follows the nesting the same way (a frame per entry, keyed by depth;
 * an exit closes the top frame of its depth, deeper frames whose exits
 * never came are dropped; a `lost` record forgets the thread's stacks).
 *
 * Each frame carries a payload the consumer chooses (two indexes, a
 * 64-bit mask, a time).  A greenlet's node is freed when its stack empties,
 * so memory follows the open calls, not the trace's length.  One owner, no
 * lock, no Python. */
#ifndef IT_GSTACK_H
#define IT_GSTACK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t depth;
    uint32_t func;      /* the frame's function (reader function index) */
    uint32_t a, b;      /* the consumer's: a row, a tree node, ... */
    uint64_t mask;      /* the consumer's: e.g. a Bloom mask of the rows below */
    uint64_t ts;        /* the entry's time */
} it_gframe;

typedef struct {
    int64_t pid, tid;
    uint32_t g;
    uint32_t next;      /* bucket chain or free list; 0 ends it */
    int used;
    it_gframe *stack;
    uint32_t len, cap;
} it_gnode;

typedef struct {
    uint32_t *buckets;
    uint32_t nbuckets;  /* a power of two */
    it_gnode *nodes;    /* [0] unused */
    uint32_t nnodes, cap, free_head, live;
    uint32_t last;      /* the last node found: records come in runs of one greenlet */
    int oom;
} it_gstack;

static inline int it_gstack_init(it_gstack *s) {
    memset(s, 0, sizeof *s);
    s->nbuckets = 256;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    s->cap = 64;
    s->nodes = calloc(s->cap, sizeof *s->nodes);
    s->nnodes = 1;
    if (!s->buckets || !s->nodes) {
        free(s->buckets);
        free(s->nodes);
        memset(s, 0, sizeof *s);
        return -1;
    }
    return 0;
}

static inline void it_gstack_destroy(it_gstack *s) {
    for (uint32_t i = 1; i < s->nnodes; i++)
        free(s->nodes[i].stack);
    free(s->nodes);
    free(s->buckets);
    memset(s, 0, sizeof *s);
}

static inline uint32_t it_gstack_hash(uint32_t nbuckets, int64_t pid, int64_t tid, uint32_t g) {
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full ^
                 (uint64_t)g * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (uint32_t)h & (nbuckets - 1);
}

static inline void it_gstack_rehash(it_gstack *s) {
    uint32_t nb = s->nbuckets * 2;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
        return;  /* chains stay longer */
    for (uint32_t i = 1; i < s->nnodes; i++) {
        it_gnode *n = &s->nodes[i];
        if (!n->used)
            continue;
        uint32_t h = it_gstack_hash(nb, n->pid, n->tid, n->g);
        n->next = b[h];
        b[h] = i;
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* The greenlet's node; with `create`, added when it has none (NULL only
 * when memory runs out).  The pointer is valid until the next create. */
static inline it_gnode *it_gstack_node(it_gstack *s, int64_t pid, int64_t tid, uint32_t g,
                                       int create) {
    if (!s->nodes)
        return NULL;
    it_gnode *n = &s->nodes[s->last];
    if (s->last && n->g == g && n->tid == tid && n->pid == pid)
        return n;
    uint32_t h = it_gstack_hash(s->nbuckets, pid, tid, g);
    for (uint32_t i = s->buckets[h]; i; i = s->nodes[i].next) {
        n = &s->nodes[i];
        if (n->g == g && n->tid == tid && n->pid == pid) {
            s->last = i;
            return n;
        }
    }
    if (!create)
        return NULL;
    uint32_t i = s->free_head;
    if (i) {
        s->free_head = s->nodes[i].next;
    } else {
        if (s->nnodes == s->cap) {
            it_gnode *nodes = realloc(s->nodes, 2 * s->cap * sizeof *nodes);
            if (!nodes) {
                s->oom = 1;
                return NULL;
            }
            memset(nodes + s->cap, 0, s->cap * sizeof *nodes);
            s->nodes = nodes;
            s->cap *= 2;
        }
        i = s->nnodes++;
    }
    if (s->live + 1 > s->nbuckets) {
        it_gstack_rehash(s);
        h = it_gstack_hash(s->nbuckets, pid, tid, g);
    }
    n = &s->nodes[i];
    memset(n, 0, sizeof *n);
    n->pid = pid;
    n->tid = tid;
    n->g = g;
    n->used = 1;
    n->next = s->buckets[h];
    s->buckets[h] = i;
    s->live++;
    s->last = i;
    return n;
}

static inline void it_gstack_remove(it_gstack *s, it_gnode *n) {
    uint32_t idx = (uint32_t)(n - s->nodes);
    uint32_t *link = &s->buckets[it_gstack_hash(s->nbuckets, n->pid, n->tid, n->g)];
    while (*link && *link != idx)
        link = &s->nodes[*link].next;
    if (*link)
        *link = n->next;
    free(n->stack);
    memset(n, 0, sizeof *n);
    n->next = s->free_head;
    s->free_head = idx;
    s->live--;
    if (s->last == idx)
        s->last = 0;
}

/* An entry at `depth`: the new top frame (depth and func set, the rest
 * zero), or NULL when memory runs out.  Frames at `depth` or deeper are
 * dropped first (their exits never came).  *parent: the frame below, or
 * NULL. */
static inline it_gframe *it_gstack_push(it_gstack *s, it_gnode *n, int32_t depth, uint32_t func,
                                        const it_gframe **parent) {
    while (n->len && n->stack[n->len - 1].depth >= depth)
        n->len--;
    if (n->len == n->cap) {
        uint32_t cap = n->cap ? n->cap * 2 : 16;
        it_gframe *st = realloc(n->stack, cap * sizeof *st);
        if (!st) {
            s->oom = 1;
            return NULL;
        }
        n->stack = st;
        n->cap = cap;
    }
    *parent = n->len ? &n->stack[n->len - 1] : NULL;
    it_gframe *f = &n->stack[n->len++];
    memset(f, 0, sizeof *f);
    f->depth = depth;
    f->func = func;
    return f;
}

/* An exit at `depth`: 1 with the closed frame copied to *out (the frames
 * below it, its ancestors, are n->stack[0 .. n->len)), or 0 if no frame of
 * that depth was open.  The caller frees an emptied node with
 * it_gstack_done. */
static inline int it_gstack_pop(it_gnode *n, int32_t depth, it_gframe *out) {
    while (n->len && n->stack[n->len - 1].depth > depth)
        n->len--;
    if (n->len && n->stack[n->len - 1].depth == depth) {
        *out = n->stack[--n->len];
        return 1;
    }
    return 0;
}

static inline void it_gstack_done(it_gstack *s, it_gnode *n) {
    if (!n->len)
        it_gstack_remove(s, n);
}

/* Records of the thread were lost: its greenlets' stacks are forgotten. */
static inline void it_gstack_lost(it_gstack *s, int64_t pid, int64_t tid) {
    for (uint32_t i = 1; i < s->nnodes; i++) {
        it_gnode *n = &s->nodes[i];
        if (n->used && n->pid == pid && n->tid == tid)
            it_gstack_remove(s, n);
    }
}

#endif
