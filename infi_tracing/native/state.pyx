# Per-thread and per-greenlet state objects (included into _core.pyx).
#
# Ownership: a GState object owns its it_gstate struct; the running
# greenlet's GState is held by the thread's ThreadState (`current`), so the
# struct the hook writes through it_tls->current is alive while it is
# current.  A greenlet keeps its own GState as an attribute, so the state
# dies with the greenlet.  A ThreadState lives in the thread's Python state
# dict: it dies when the thread's Python state is cleared (thread exit, with
# the GIL), and then hands its ring to the drain to be emptied and freed.

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from cpython.object cimport PyObject
from cpython.pystate cimport PyThreadState_GetDict
from infi_tracing.native.includes.it_common cimport (
    it_gettid, it_saved_exc, it_exc_save, it_exc_restore)
from infi_tracing.native.includes.it_flight_file cimport it_ff_wants
from infi_tracing.native.includes.it_ring cimport (
    it_ring, it_ring_new, it_counter, it_ring_mark_dead, it_ring_used)
from infi_tracing.native.includes.it_state cimport it_g, it_gstate, it_tstate, it_tls
from infi_tracing.native.includes.it_drain cimport it_drain_adopt

cdef uint32_t _next_greenlet_id = 0
cdef uint64_t _threads_seen = 0      # ThreadStates made (threads that ran traced code)
cdef uint64_t _untraced_states = 0   # GStates of the drain thread (not greenlets of the program)
cdef uint64_t _ring_bytes = 8 * 1024 * 1024
cdef str _TSTATE_KEY = "infi_tracing.thread_state"
# Live GState and ThreadState objects (made minus freed), for live_objects()'s
# leak checks.  Changed only in __cinit__/__dealloc__, with the GIL held.
cdef Py_ssize_t _live_gstates = 0
cdef Py_ssize_t _live_tstates = 0
# Live ThreadState objects, for stats: id -> weak reference.  Plain dict and
# weakref.ref are C code, so keeping this list records nothing itself.
cdef dict _threads = {}


cdef class GState:
    """Tracer state of one greenlet (or of a thread without greenlets)."""
    cdef it_gstate st
    # it_busy of this greenlet while it is switched out: a filter or a
    # __repr__ may switch greenlets (gevent-patched I/O) in the middle of the
    # hook, and the greenlets that run meanwhile must be traced as usual.
    cdef int saved_busy

    def __cinit__(self):
        global _next_greenlet_id, _live_gstates
        _next_greenlet_id += 1
        _live_gstates += 1
        self.st.id = _next_greenlet_id
        self.st.session = it_g.session

    def __dealloc__(self):
        global _live_gstates
        _live_gstates -= 1

    @property
    def id(self):
        return self.st.id


cdef class ThreadState:
    """Tracer state of one OS thread: its ring and its current greenlet."""
    cdef it_tstate *st          # malloc'd: holds a 4 KiB scratch buffer
    cdef GState current
    cdef GState unbound         # the thread's first state, before any switch
    cdef object prev_tracer     # greenlet tracer we chain to
    cdef bint greenlet_hooked
    cdef bint untraced          # the drain thread running Python sinks
    cdef long tid
    cdef object __weakref__

    def __cinit__(self):
        global _live_tstates
        _live_tstates += 1  # before anything can fail: __dealloc__ runs then too
        self.st = <it_tstate *> malloc(sizeof(it_tstate))
        if self.st == NULL:
            raise MemoryError()
        memset(self.st, 0, sizeof(it_tstate))
        self.st.owner = <PyObject *> self
        self.tid = it_gettid()
        self.current = GState()
        self.unbound = self.current
        self.st.current = &self.current.st

    def __dealloc__(self):
        global it_tls, _live_tstates
        _live_tstates -= 1
        if _threads is not None:  # None during interpreter teardown
            _threads.pop(id(self), None)
        if self.st != NULL:
            if self.st.ring != NULL:
                # The drain empties the ring, reports its drops and frees it.
                it_ring_mark_dead(self.st.ring)
            if it_tls == self.st:
                it_tls = NULL
            free(self.st)
            self.st = NULL

    cdef int set_current(self, GState gs) except -1:
        self.current = gs
        self.st.current = &gs.st
        return 0

    cdef int ensure_ring(self) except -1:
        """A ring of the configured size (a resize retires the old one)."""
        cdef it_ring *r
        if self.st.ring != NULL and self.st.ring.cap == _ring_bytes and \
                not it_ff_wants(self.st.ring):  # a crash-survival file opened since
            return 0
        r = it_ring_new(_ring_bytes, self.tid)
        if r == NULL:
            raise MemoryError("infi_tracing: cannot allocate a %d-byte ring" % _ring_bytes)
        if self.st.ring != NULL:
            it_ring_mark_dead(self.st.ring)
        self.st.ring = r
        it_drain_adopt(r)
        return 0

    def stats(self):
        cdef it_ring *r = self.st.ring
        if r == NULL:
            return {"tid": self.tid, "records": 0, "lost": 0, "buffer_bytes": 0, "buffer_used": 0}
        return {
            "tid": self.tid,
            "records": it_counter(&r.drained),
            "lost": it_counter(&r.lost_total),
            "buffer_bytes": r.cap,
            "buffer_used": it_ring_used(r),
        }


cdef ThreadState _thread_state_obj(bint create):
    """This thread's ThreadState (GIL held), created on demand."""
    cdef it_tstate *ts = it_tls
    cdef ThreadState obj
    if ts != NULL:
        return <ThreadState> ts.owner
    if not create:
        return None
    d = <object> PyThreadState_GetDict()
    obj = d.get(_TSTATE_KEY) if d is not None else None
    if obj is None:
        global _threads_seen
        obj = ThreadState()
        _threads_seen += 1
        if d is not None:
            d[_TSTATE_KEY] = obj
        _threads[id(obj)] = _weakref_ref(obj)
    global it_tls
    it_tls = obj.st
    return obj


cdef it_tstate *_thread_slow() noexcept:
    """Hook slow path: first event of a thread, or settings changed."""
    cdef ThreadState obj
    cdef it_saved_exc saved
    cdef it_tstate *result = NULL
    it_exc_save(&saved)
    try:
        obj = _thread_state_obj(True)
        if obj.untraced:
            raise LookupError("never traced")
        obj.ensure_ring()
        _greenlet_hook_thread(obj)
        obj.st.epoch = it_g.epoch  # last: until here every event retries the slow path
        result = obj.st
    except BaseException:
        result = NULL
    it_exc_restore(&saved)
    return result


cdef list _live_thread_states():
    return [t for t in (ref() for ref in list(_threads.values())) if t is not None]
