# Declarations of it_glets.h: greenlets' lifetimes, running times and long stretches.
from libc.stdint cimport int64_t, uint32_t, uint64_t
from infi_tracing.analysis.native.includes.it_rfuncs cimport it_rfuncs
from infi_tracing.analysis.native.includes.it_rrec cimport it_rrec
from infi_tracing.analysis.native.includes.it_rtree cimport it_rtree_node

cdef extern from "it_glets.h" nogil:
    ctypedef struct it_glet:
        int64_t pid, tid
        uint32_t greenlet, first_func
        uint64_t first_ts, last_ts
        int64_t wall_offset
        uint64_t running_ns, switches, stretches_over
        int is_hub

    ctypedef struct it_glet_stretch:
        uint32_t glet
        uint64_t start_ts
        int64_t wall_offset
        int64_t duration_ns
        uint32_t first_node, nnodes

    ctypedef struct it_glets:
        it_glet *glets
        uint32_t nglets
        it_glet_stretch *kept
        uint32_t nkept
        uint64_t dropped
        it_rtree_node *kept_nodes
        int oom

    int it_glets_init(it_glets *s, const it_rfuncs *funcs, int64_t threshold_ns, int include_hub,
                      uint32_t max_kept)
    void it_glets_destroy(it_glets *s)
    void it_glets_add(it_glets *s, const it_rrec *rec)
    void it_glets_finish(it_glets *s)
