# Declarations of it_ring.h: records and the per-thread rings.  The ring
# counters are atomics, read with it_counter; the rest is touched with the
# GIL held.
from libc.stdint cimport uint16_t, uint32_t, uint64_t, int32_t

cdef extern from "it_ring.h" nogil:
    ctypedef struct it_record:
        uint32_t size
        uint16_t event
        uint16_t nvalues
        uint32_t code_id
        uint32_t greenlet_id
        uint64_t count
        uint64_t ts
        int32_t depth
    ctypedef struct it_ring:
        uint64_t head
        uint64_t tail
        uint64_t lost_total
        uint64_t drained
        uint64_t cap
        long tid
        int dead
    it_ring *it_ring_new(uint64_t cap, long tid)
    uint64_t it_counter(uint64_t *p)
    void it_ring_mark_dead(it_ring *r)
    uint64_t it_ring_used(it_ring *r)
