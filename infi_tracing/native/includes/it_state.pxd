# Declarations of it_state.h: per-thread and per-greenlet state and the
# process-wide settings, all touched with the GIL held.
from libc.stdint cimport uint32_t, uint64_t, int32_t
from cpython.object cimport PyObject
from infi_tracing.native.includes.python cimport PyCodeObject, PyFrameObject
from infi_tracing.native.includes.it_ring cimport it_ring

cdef extern from "it_state.h" nogil:
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
    # The hook's calls into the Cython slow paths (set at module import).
    it_tstate *(*it_thread_slow)() noexcept
    uint64_t (*it_decide)(PyCodeObject *co, PyFrameObject *frame) noexcept
