/* An aggregated call tree: one node per call path (function under
 * function), with calls and total/active/self times.  `graph` builds the
 * tree below a function and the tree of its callers with it, `greenlets`
 * the tree of what ran in one stretch.  Nodes live in one growing array
 * (indexes stay valid when it moves); children are found through a hash of
 * (parent, function), so a wide node costs no scan.  No Python. */
#ifndef IT_RTREE_H
#define IT_RTREE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../native/it_sum.h"

typedef struct {
    uint32_t func, parent;   /* node 0 is unused; roots have parent 0 */
    uint32_t next;           /* hash chain */
    int32_t level;           /* 0 for a root */
    uint64_t calls;
    int64_t total, total_active, self_active;
    int open;                /* still running when the tree was taken (greenlets) */
} it_rtree_node;

typedef struct {
    it_rtree_node *nodes;
    uint32_t n, cap;
    uint32_t *buckets;
    uint32_t nbuckets;       /* a power of two */
    int oom;
} it_rtree;

static inline int it_rtree_init(it_rtree *t) {
    memset(t, 0, sizeof *t);
    t->cap = 64;
    t->nodes = calloc(t->cap, sizeof *t->nodes);
    t->nbuckets = 128;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    t->n = 1;
    if (!t->nodes || !t->buckets) {
        free(t->nodes);
        free(t->buckets);
        memset(t, 0, sizeof *t);
        return -1;
    }
    return 0;
}

static inline void it_rtree_destroy(it_rtree *t) {
    free(t->nodes);
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

/* Empties the tree, keeping its memory. */
static inline void it_rtree_clear(it_rtree *t) {
    if (t->n > 1)
        memset(t->buckets, 0, t->nbuckets * sizeof *t->buckets);
    t->n = 1;
}

static inline uint32_t it_rtree_hash(uint32_t nb, uint32_t parent, uint32_t func) {
    uint64_t h = ((uint64_t)parent << 32 | func) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & (nb - 1);
}

/* The node for `func` under `parent` (0: a root), added on first sight;
 * 0 when memory runs out. */
static inline uint32_t it_rtree_child(it_rtree *t, uint32_t parent, uint32_t func) {
    if (!t->nodes) {
        t->oom = 1;
        return 0;
    }
    uint32_t b = it_rtree_hash(t->nbuckets, parent, func);
    for (uint32_t i = t->buckets[b]; i; i = t->nodes[i].next)
        if (t->nodes[i].parent == parent && t->nodes[i].func == func)
            return i;
    if (t->n == t->cap) {
        it_rtree_node *nodes = realloc(t->nodes, 2 * t->cap * sizeof *nodes);
        if (!nodes) {
            t->oom = 1;
            return 0;
        }
        t->nodes = nodes;
        t->cap *= 2;
    }
    if (t->n >= t->nbuckets) {
        uint32_t nb = t->nbuckets * 4;
        uint32_t *bk = calloc(nb, sizeof *bk);
        if (bk) {
            for (uint32_t i = 1; i < t->n; i++) {
                uint32_t h = it_rtree_hash(nb, t->nodes[i].parent, t->nodes[i].func);
                t->nodes[i].next = bk[h];
                bk[h] = i;
            }
            free(t->buckets);
            t->buckets = bk;
            t->nbuckets = nb;
            b = it_rtree_hash(nb, parent, func);
        }
    }
    uint32_t i = t->n++;
    it_rtree_node *x = &t->nodes[i];
    memset(x, 0, sizeof *x);
    x->func = func;
    x->parent = parent;
    x->level = parent ? t->nodes[parent].level + 1 : 0;
    x->next = t->buckets[b];
    t->buckets[b] = i;
    return i;
}

static inline void it_rtree_add(it_rtree *t, uint32_t node, int calls, int64_t total,
                                int64_t total_active, int64_t self_active) {
    it_rtree_node *x = &t->nodes[node];
    /* Times saturated (all >= 0): a hostile file's durations may each be
     * up to INT64_MAX. */
    x->calls += (uint64_t)calls;
    x->total = it_sum_sat(x->total, total);
    x->total_active = it_sum_sat(x->total_active, total_active);
    x->self_active = it_sum_sat(x->self_active, self_active);
}

#endif
