# Declarations of it_ring.h and it_state.h: rings, per-thread and
# per-greenlet state, process-wide settings.  All of it is touched with the
# GIL held except the ring counters, which are atomics.
from libc.stdint cimport uint16_t, uint32_t, uint64_t, int32_t
from cpython.object cimport PyObject

cdef extern from "it_state.h" nogil:
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

    ctypedef struct it_gstate:
        int32_t depth
        int32_t nested_excl
        int32_t user_excl
        uint32_t id
        uint32_t session

    ctypedef struct it_tstate:
        it_ring *ring
        it_gstate *current
        uint32_t epoch
        PyObject *owner

    ctypedef struct it_globals:
        int active
        int block
        int generators
        uint32_t session
        uint32_t epoch
        uint64_t gen
        Py_ssize_t extra_index
        PyObject *disable
    it_globals it_g
    it_tstate *it_tls
    uint64_t it_decision_pack(int level, uint32_t code_id)

cdef extern from "it_state.h":
    it_tstate *(*it_thread_slow)() noexcept
