/* `graph FUNC`: the aggregated call tree below the functions matching a
 * glob (several matches merge into one root), and the tree of their
 * callers above it (the root's children are the direct callers, theirs
 * the callers' callers), each node with calls and total/active/self times.
 *
 * A call of FUNC inside another (recursion, or two matches nested) is part
 * of the outer one's tree, so the root's total never double counts.  Nodes
 * deeper than `max_depth` below the root (or above it, for callers) are
 * not kept; their time is in their ancestors' totals.  Times are the
 * reader's (it_rrec.duration_ns, active_ns, self_active_ns).  Memory: the
 * two trees (distinct call paths) and the open stacks.  No Python. */
#ifndef IT_GRAPH_H
#define IT_GRAPH_H

#include "../../native/it_events.h"  /* before it_rrec.h: the event enum */
#include "it_gstack.h"
#include "it_rfuncs.h"
#include "it_rrec.h"
#include "it_rtree.h"
#include <fnmatch.h>
#include <stdio.h>

#define IT_GRAPH_CUT 0xFFFFFFFFu  /* a frame in FUNC's tree below the depth limit */

typedef struct {
    const it_rfuncs *funcs;
    char *pattern;
    uint8_t *verdict;       /* per function: 0 not matched yet, 1 FUNC, 2 not */
    uint32_t nverdict;
    int32_t max_depth;      /* levels kept below (and above) the root; < 0: all */
    it_rtree callees;       /* node 1: the root (the matched functions) */
    it_rtree callers;       /* node 1: the root again; its children the callers */
    it_gstack stacks;
    uint32_t matched[16];   /* the first matched functions, to name them */
    uint32_t nmatched;
    int oom;
} it_graph;

static inline int it_graph_init(it_graph *g, const it_rfuncs *funcs, const char *pattern,
                                int32_t max_depth) {
    memset(g, 0, sizeof *g);
    g->funcs = funcs;
    g->max_depth = max_depth;
    g->pattern = strdup(pattern);
    if (!g->pattern || it_rtree_init(&g->callees) || it_rtree_init(&g->callers) ||
        it_gstack_init(&g->stacks))
        return -1;
    /* the roots: function 0 stands for "the matched functions" */
    if (it_rtree_child(&g->callees, 0, 0) != 1 || it_rtree_child(&g->callers, 0, 0) != 1)
        return -1;
    return 0;
}

static inline void it_graph_destroy(it_graph *g) {
    free(g->pattern);
    free(g->verdict);
    it_rtree_destroy(&g->callees);
    it_rtree_destroy(&g->callers);
    it_gstack_destroy(&g->stacks);
    memset(g, 0, sizeof *g);
}

/* Whether function `f` is FUNC: its qualname or module.qualname matches. */
static inline int it_graph_match(it_graph *g, uint32_t f) {
    if (f >= g->nverdict) {
        uint32_t n = g->nverdict ? g->nverdict : 256;
        while (n <= f)
            n *= 2;
        uint8_t *v = realloc(g->verdict, n);
        if (!v) {
            g->oom = 1;
            return 0;
        }
        memset(v + g->nverdict, 0, n - g->nverdict);
        g->verdict = v;
        g->nverdict = n;
    }
    if (!g->verdict[f]) {
        const it_rfunc *fn = it_rfuncs_get(g->funcs, f);
        int yes = !fnmatch(g->pattern, fn->qualname, 0);
        if (!yes) {
            size_t ml = strlen(fn->module), ql = strlen(fn->qualname);
            char *full = malloc(ml + ql + 2);
            if (full) {
                memcpy(full, fn->module, ml);
                full[ml] = '.';
                memcpy(full + ml + 1, fn->qualname, ql + 1);
                yes = !fnmatch(g->pattern, full, 0);
                free(full);
            }
        }
        g->verdict[f] = yes ? 1 : 2;
        if (yes && g->nmatched < sizeof g->matched / sizeof g->matched[0])
            g->matched[g->nmatched++] = f;
    }
    return g->verdict[f] == 1;
}

static inline void it_graph_add(it_graph *g, const it_rrec *rec) {
    if (rec->event == IT_EV_LOST) {
        it_gstack_lost(&g->stacks, rec->pid, rec->tid);
        return;
    }
    if (!it_event_has_code(rec->event))
        return;
    int entry = rec->event == IT_EV_CALL || rec->event == IT_EV_RESUME;
    it_gnode *n = it_gstack_node(&g->stacks, rec->pid, rec->tid, rec->greenlet, entry);
    if (!n)
        return;
    if (entry) {
        const it_gframe *p;
        it_gframe *f = it_gstack_push(&g->stacks, n, rec->depth, rec->func, &p);
        if (!f)
            return;
        if (p && p->a) {  /* inside FUNC's tree */
            f->b = p->b + 1;
            if (p->a == IT_GRAPH_CUT || (g->max_depth >= 0 && (int32_t)f->b > g->max_depth))
                f->a = IT_GRAPH_CUT;
            else
                f->a = it_rtree_child(&g->callees, p->a, rec->func);
            if (!f->a)
                f->a = IT_GRAPH_CUT;
        } else if (it_graph_match(g, rec->func)) {
            f->a = 1;
            f->b = 0;
        }
        return;
    }
    it_gframe f;
    int got = it_gstack_pop(n, rec->depth, &f);
    if (got && f.a && f.a != IT_GRAPH_CUT && rec->duration_ns >= 0) {
        int64_t active = rec->active_ns >= 0 ? rec->active_ns : rec->duration_ns;
        int64_t self = rec->self_active_ns >= 0 ? rec->self_active_ns : active;
        int calls = rec->event != IT_EV_YIELD;
        it_rtree_add(&g->callees, f.a, calls, rec->duration_ns, active, self);
        if (f.a == 1) {  /* FUNC itself: credit the chain of its callers */
            it_rtree_add(&g->callers, 1, calls, rec->duration_ns, active, self);
            uint32_t node = 1;
            for (uint32_t i = n->len; i-- > 0;) {
                if (g->max_depth >= 0 && (int32_t)(n->len - i) > g->max_depth)
                    break;
                node = it_rtree_child(&g->callers, node, n->stack[i].func);
                if (!node)
                    break;
                it_rtree_add(&g->callers, node, calls, rec->duration_ns, active, self);
            }
        }
    }
    it_gstack_done(&g->stacks, n);
}

#endif
