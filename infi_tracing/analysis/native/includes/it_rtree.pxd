# Declarations of it_rtree.h: an aggregated call tree.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef extern from "it_rtree.h" nogil:
    ctypedef struct it_rtree_node:
        uint32_t func, parent
        int32_t level
        uint64_t calls
        int64_t total, total_active, self_active
        int open

    ctypedef struct it_rtree:
        it_rtree_node *nodes
        uint32_t n
        int oom
