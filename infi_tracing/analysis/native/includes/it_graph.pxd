# Declarations of it_graph.h: graph's trees below and above a function.
from libc.stdint cimport int32_t, uint32_t
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec
from infi_tracing.analysis.native.includes.it_rtree cimport it_rtree

cdef extern from "it_graph.h" nogil:
    ctypedef struct it_graph:
        it_rtree callees
        it_rtree callers
        uint32_t matched[16]
        uint32_t nmatched
        int oom

    int it_graph_init(it_graph *g, const it_rfuncs *funcs, const char *pattern, int32_t max_depth)
    void it_graph_destroy(it_graph *g)
    void it_graph_add(it_graph *g, const it_rrec *rec)
