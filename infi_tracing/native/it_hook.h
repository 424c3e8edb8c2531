/* The hot path: what runs in the traced thread on every Python call and
 * return, shared by all backends (sys.monitoring callbacks, the PEP 523
 * eval-frame function in it_evalframe.h, the profile callback).  No lock, no allocation, no Python call except on the slow
 * paths (first event of a thread, first sight of a code object, rendering
 * values at the higher trace levels). */
#ifndef IT_HOOK_H
#define IT_HOOK_H

#include "it_state.h"
#include "it_registry.h"
#include "it_render.h"
#include "it_drain.h"

/* What it_enter did, so a backend can undo exactly that at the exit. */
enum {
    IT_ENTER_NONE = 0,      /* nothing recorded or counted */
    IT_DISABLE = 1,         /* not traced at all: sys.monitoring may DISABLE it */
    IT_ENTER_RECORDED = 2,  /* a call/resume record; depth went up */
    IT_ENTER_NESTED = 3,    /* a NO_TRACE_NESTED frame: exclusion went up */
};

/* Set while the hook runs Python code of its own (the filter, repr(), the
 * thread slow path).  CPython does not re-enter profile or monitoring
 * callbacks, but the eval-frame hook sees every frame, ours included. */
static __thread int it_busy __attribute__((tls_model("initial-exec")));

/* Full ring: either wait for the drain (overflow="block", GIL released so
 * other threads go on) or count the drop.  Out of line: it is rare. */
static __attribute__((noinline)) char *it_overflow(it_ring *r, uint32_t size) {
    it_drain_restart_if_deferred();  /* paused for a fork and not back yet */
    if (it_g.block) {
        for (;;) {
            if (!it_drain_running())
                break;
            PyThreadState *save = PyEval_SaveThread();
            it_drain_wake();
            struct timespec t = {0, 50000};
            nanosleep(&t, NULL);
            PyEval_RestoreThread(save);
            char *p = it_ring_reserve(r, size);
            if (p)
                return p;
        }
    }
    it_ring_count_drop(r);
    return NULL;
}

/* `size` bytes of the ring, or NULL when the record is dropped. */
static inline __attribute__((always_inline)) char *it_reserve(it_ring *r, uint32_t size) {
    char *p = it_ring_reserve(r, size);
    return IT_LIKELY(p != NULL) ? p : it_overflow(r, size);
}

/* A full record (32-byte header and `plen` bytes of payload) in greenlet
 * `gid`; compact records after it are in that greenlet (last_gid). */
static inline IT_ALWAYS_INLINE void it_emit_full(it_ring *r, int ev, uint32_t code_id,
                                                 uint32_t gid, int32_t depth,
                                                 const char *payload, uint32_t plen,
                                                 uint16_t nvalues) {
    uint32_t size = IT_ROUND_UP((uint32_t)sizeof(it_record) + plen);
    it_record *rec = (it_record *)it_reserve(r, size);
    if (!rec)
        return;
    r->last_gid = gid;  /* only once the record is in the ring: the drain sees it */
    rec->size = size;
    rec->event = (uint16_t)ev;
    rec->nvalues = nvalues;
    rec->code_id = code_id;
    rec->greenlet_id = gid;
    rec->ts = it_clock_raw();
    rec->depth = depth;
    rec->reserved = 0;
    if (plen)
        memcpy((char *)(rec + 1), payload, plen);
    it_ring_commit(r, size);
}

/* Drops not reported yet go into the stream first, where they happened.
 * Returns 0 when the ring is still full (the caller's record is dropped
 * too, and counted). */
static inline IT_ALWAYS_INLINE int it_emit_lost_first(it_ring *r) {
    if (IT_UNLIKELY(atomic_load_explicit(&r->lost_pending, memory_order_relaxed)) &&
        !it_ring_emit_lost(r)) {
        it_overflow(r, 0);
        return 0;
    }
    return 1;
}

/* Always inlined: called with constants from each site, so the common
 * record (no payload) compiles to a handful of stores without a call. */
static inline __attribute__((always_inline)) void it_emit(it_tstate *ts, int ev,
                                                          uint32_t code_id, it_gstate *g,
                                                          int32_t depth, const char *payload,
                                                          uint32_t plen, uint16_t nvalues) {
    it_ring *r = ts->ring;
    if (!it_emit_lost_first(r))
        return;
    if (IT_LIKELY(!plen && !nvalues && g->id == r->last_gid &&
                  (uint32_t)depth <= IT_COMPACT_MAX_DEPTH)) {
        /* the common record, compact (it_ring.h): two stores */
        uint64_t *c = (uint64_t *)it_reserve(r, IT_COMPACT_SIZE);
        if (!c)
            return;
        c[0] = it_compact_word(ev, depth, code_id);
        c[1] = it_clock_raw();
        it_ring_commit(r, IT_COMPACT_SIZE);
        return;
    }
    it_emit_full(r, ev, code_id, g->id, depth, payload, plen, nvalues);
}

/* The greenlet switch callback (GIL held): the thread leaves greenlet
 * `from` for `to`.  Always a full record (the compact form has no room for
 * its event); its greenlet is `to`, so the records after it are compact
 * again, and `from` rides in code_id (it_events.h).  Thousands a second,
 * not millions: the hook's hot path is not involved. */
static inline void it_emit_switch(it_tstate *ts, uint32_t from, uint32_t to) {
    it_ring *r = ts->ring;
    if (!it_g.active || !r || from == to)
        return;
    if (!it_emit_lost_first(r))
        return;
    it_emit_full(r, IT_EV_SWITCH, from, to, 0, NULL, 0, 0);
}

static inline void it_gstate_check_session(it_gstate *g) {
    if (IT_UNLIKELY(g->session != it_g.session)) {
        /* A new set_tracing(): frames opened under the previous session will
         * return unseen, so depth restarts from here. */
        g->depth = 0;
        g->nested_excl = 0;
        g->session = it_g.session;
    }
}

/* Read one argument of a frame that is just starting. */
static inline PyObject *it_frame_var(PyFrameObject *frame, PyObject *locals, PyObject *name) {
#if PY_VERSION_HEX >= 0x030C0000
    (void)locals;
    PyObject *v = PyFrame_GetVar(frame, name);
    if (!v)
        PyErr_Clear();
    return v;
#else
    (void)frame;
    PyObject *v = locals ? PyDict_GetItemWithError(locals, name) : NULL;
    if (!v)
        PyErr_Clear();
    Py_XINCREF(v);
    return v;
#endif
}

/* Render the arguments of a starting frame into ts->scratch (GIL held).
 * `fast`, when given, holds the argument values in order (an eval-frame
 * hook's frame before it runs); otherwise they are read from `frame`. */
static __attribute__((noinline)) uint32_t it_render_args(it_tstate *ts, PyFrameObject *frame,
                                                         PyObject *const *fast,
                                                         uint32_t code_id, int level,
                                                         uint16_t *nvalues) {
    it_code_entry *e = it_registry_get(code_id);
    it_out b = {ts->scratch, 0, sizeof ts->scratch};
    PyObject *locals = NULL;
    if ((!frame && !fast) || !e->py_argnames)
        return 0;
    it_saved_exc saved;
    it_exc_save(&saved);
    if (!fast) {
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
        locals = PyFrame_GetLocals(frame);
        if (!locals)
            PyErr_Clear();
#elif PY_VERSION_HEX < 0x030B0000
        if (PyFrame_FastToLocalsWithError(frame) == 0) {
            locals = frame->f_locals;
            Py_XINCREF(locals);
        } else {
            PyErr_Clear();
        }
#endif
    }
    Py_ssize_t n = PyTuple_GET_SIZE(e->py_argnames);
    uint64_t redact = e->redact_args;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v;
        if (IT_UNLIKELY(redact) && (redact >> (i < 63 ? i : 63)) & 1) {
            /* named like a secret: not even read (no __repr__ runs) */
            it_out_puts(&b, IT_REDACTED);
            it_out_terminate(&b);
            continue;
        }
        size_t start = b.len;
        if (fast) {
            v = fast[i];
            Py_XINCREF(v);
        } else {
            v = it_frame_var(frame, locals, PyTuple_GET_ITEM(e->py_argnames, i));
        }
        if (v) {
            it_render_value(&b, v, level);
            Py_DECREF(v);
            it_redact_value(&b, start);
        } else {
            it_out_puts(&b, "<unbound>");
            it_out_terminate(&b);
        }
    }
    Py_XDECREF(locals);
    it_exc_restore(&saved);
    *nvalues = (uint16_t)n;
    return (uint32_t)b.len;
}

/* Render a return or yielded value of code `code_id` into ts->scratch;
 * '<redacted>' for a function named like a secret (get_token). */
static __attribute__((noinline)) uint32_t it_render_one(it_tstate *ts, PyObject *v,
                                                        uint32_t code_id, int level) {
    it_out b = {ts->scratch, 0, sizeof ts->scratch};
    if (it_registry_get(code_id)->redact_return) {
        it_out_puts(&b, IT_REDACTED);
        it_out_terminate(&b);
        return (uint32_t)b.len;
    }
    it_saved_exc saved;
    it_exc_save(&saved);
    it_render_value(&b, v, level);
    it_exc_restore(&saved);
    it_redact_value(&b, 0);
    return (uint32_t)b.len;
}

static inline uint32_t it_put_name(it_tstate *ts, const char *name) {
    size_t n = strlen(name);
    if (n >= sizeof ts->scratch)
        n = sizeof ts->scratch - 1;
    memcpy(ts->scratch, name, n);
    ts->scratch[n] = '\0';
    return (uint32_t)n + 1;
}

static inline it_tstate *it_current_tstate(void) {
    it_tstate *ts = it_tls;
    if (IT_UNLIKELY(!ts || ts->epoch != it_g.epoch))
        ts = it_thread_slow();
    return ts;
}

/* The cached decision of a code object.  co_extra is a public field of
 * PyCodeObject (3.10-3.13) pointing to CPython's _PyCodeObjectExtra
 * {Py_ssize_t ce_size; void *ce_extras[]}; reading it inline saves the
 * function call _PyCode_GetExtra makes on every event.  Writes still go
 * through the API (registry.pyx). */
typedef struct {
    Py_ssize_t ce_size;
    void *ce_extras[1];
} it_code_extra;

static inline uint64_t it_lookup(PyCodeObject *co) {
    const it_code_extra *ex = (const it_code_extra *)co->co_extra;
    if (IT_UNLIKELY(!ex || it_g.extra_index >= ex->ce_size))
        return 0;
    return (uint64_t)(uintptr_t)ex->ce_extras[it_g.extra_index];
}

/* The decision of a code object whose cached one is stale or missing
 * (slow path: the filter may run). */
static __attribute__((noinline)) uint64_t it_redecide(PyCodeObject *co, PyFrameObject *frame) {
    it_busy++;
    uint64_t d = it_decide(co, frame);
    it_busy--;
    return d;
}

/* The registry id of generator or coroutine code, to tell its start from a
 * resume by the entry's first instruction (profile and eval-frame
 * backends), deciding first when the cached decision is stale: a frame
 * suspended before tracing (re)started is resumed, not called, as
 * sys.monitoring reports it.  0 when not decided now (not tracing, or in
 * our own code) or not traced.  `*d` becomes the fresh decision. */
static inline uint32_t it_gen_code_id(PyCodeObject *co, uint64_t *d, PyFrameObject *frame) {
    if (IT_UNLIKELY((*d >> 40) != it_g.gen)) {
        if (!it_g.active || it_busy || !it_current_tstate())
            return 0;
        *d = it_redecide(co, frame);
    }
    return (*d >> 40) == it_g.gen ? (uint32_t)(*d >> 8) : 0;
}

/* A frame starts (CALL) or is re-entered (RESUME).  Returns what it did
 * (IT_ENTER_*); IT_DISABLE when the code object is not traced at all, so
 * sys.monitoring can switch the event off for it.  `frame` may be NULL
 * (monitoring: found on demand), `fast` the argument values (eval-frame);
 * `d` is it_lookup(co), possibly stale (then it is decided again here).
 * With `dry` (a constant at each call site) it only says what it would do:
 * no record, no depth or exclusion change (the code may get decided). */
static inline IT_ALWAYS_INLINE int it_enter_impl(PyCodeObject *co, uint64_t d,
                                                 PyFrameObject *frame, PyObject *const *fast,
                                                 int resume, int dry) {
    /* it_busy: the filter runs with CPython's tracing guard lowered
     * (it_tracing_guard.h), so its own frames come through here. */
    if (IT_UNLIKELY(!it_g.active || it_busy))
        return IT_ENTER_NONE;
    it_tstate *ts = it_current_tstate();
    if (IT_UNLIKELY(!ts))
        return IT_ENTER_NONE;
    if (IT_UNLIKELY((d >> 40) != it_g.gen)) {
        d = it_redecide(co, frame);
        if (!d)
            return IT_ENTER_NONE;
    }
    int level = (int)((d >> 1) & 0x7f);
    it_gstate *g = ts->current;
    it_gstate_check_session(g);
    if (level < IT_TRACE_FUNC_NAME) {
        if (level == IT_NO_TRACE)
            return IT_DISABLE;
        if (!dry)
            g->nested_excl++;
        return IT_ENTER_NESTED;
    }
    if (g->nested_excl | g->user_excl)
        return IT_ENTER_NONE;
    if (dry)
        return IT_ENTER_RECORDED;
    uint32_t code_id = (uint32_t)(d >> 8);
    int32_t depth = g->depth++;
    uint32_t plen = 0;
    uint16_t nv = 0;
    if (IT_UNLIKELY(level >= IT_TRACE_FUNC_PRIMITIVES) && !resume) {
#if PY_VERSION_HEX >= 0x030C0000
        if (!frame && !fast)
            frame = PyEval_GetFrame();
#endif
        it_busy++;
        plen = it_render_args(ts, frame, fast, code_id, level, &nv);
        it_busy--;
        g = ts->current;  /* a __repr__ may have switched greenlets and back */
    }
    it_emit(ts, resume && it_g.generators ? IT_EV_RESUME : IT_EV_CALL, code_id, g, depth,
            ts->scratch, plen, nv);
    return IT_ENTER_RECORDED;
}

static inline IT_ALWAYS_INLINE int it_enter_known(PyCodeObject *co, uint64_t d,
                                                  PyFrameObject *frame,
                                                  PyObject *const *fast, int resume) {
    return it_enter_impl(co, d, frame, fast, resume, 0);
}

/* it_enter_known with the decision looked up here; a caller that has
 * already read it (the eval-frame hook) passes it in instead. */
static inline int it_enter(PyCodeObject *co, PyFrameObject *frame, PyObject *const *fast,
                           int resume) {
    return it_enter_known(co, it_lookup(co), frame, fast, resume);
}

/* The cached decision says "not traced at all" (NO_TRACE, current
 * generation): nothing to record or count for this frame. */
static inline int it_decision_is_no_trace(uint64_t d) {
    return d == it_decision_pack(IT_NO_TRACE, 0);  /* NO_TRACE never has a code id */
}

/* A frame is left: by return (`value` the return value), by yield (ev
 * YIELD, `value` the yielded value) or by an exception (ev UNWIND,
 * `exc_name` the exception type's name).  A return whose
 * call was not seen (it started before tracing) is not recorded. */
static inline IT_ALWAYS_INLINE int it_exit(PyCodeObject *co, int ev, PyObject *value,
                                           const char *exc_name) {
    if (IT_UNLIKELY(!it_g.active || it_busy))
        return 0;
    uint64_t d = it_lookup(co);
    if (IT_UNLIKELY((d >> 40) != it_g.gen))
        return 0;  /* its start was never seen in this session */
    it_tstate *ts = it_current_tstate();
    if (IT_UNLIKELY(!ts))
        return 0;
    int level = (int)((d >> 1) & 0x7f);
    it_gstate *g = ts->current;
    it_gstate_check_session(g);
    if (level < IT_TRACE_FUNC_NAME) {
        if (level == IT_NO_TRACE)
            return IT_DISABLE;
        if (g->nested_excl > 0)
            g->nested_excl--;
        return 0;
    }
    if ((g->nested_excl | g->user_excl) || g->depth <= 0)
        return 0;
    int32_t depth = --g->depth;
    uint32_t plen = 0;
    uint16_t nv = 0;
    if (ev == IT_EV_UNWIND) {
        plen = it_put_name(ts, exc_name ? exc_name : "?");
        nv = 1;
    } else if (IT_UNLIKELY(level >= IT_TRACE_FUNC_PRIMITIVES) && value) {
        it_busy++;
        plen = it_render_one(ts, value, (uint32_t)(d >> 8), level);
        it_busy--;
        nv = 1;
        g = ts->current;
    }
    if (ev == IT_EV_YIELD && !it_g.generators)
        ev = IT_EV_RETURN;
    it_emit(ts, ev, (uint32_t)(d >> 8), g, depth, ts->scratch, plen, nv);
    return 0;
}

/* A logging record in the stream, at the current greenlet's depth (GIL
 * held).  The three values are copied, each cut to keep the record small. */
static inline void it_log_record(const char *level, const char *logger, const char *message) {
    if (!it_g.active)
        return;
    it_tstate *ts = it_current_tstate();
    if (!ts)
        return;
    it_gstate *g = ts->current;
    it_gstate_check_session(g);
    if (g->nested_excl | g->user_excl)
        return;
    it_out b = {ts->scratch, 0, sizeof ts->scratch};
    it_out_put(&b, level, strnlen(level, 32));
    it_out_terminate(&b);
    it_out_put(&b, logger, strnlen(logger, 200));
    it_out_terminate(&b);
    size_t start = b.len;
    it_out_put(&b, message, strnlen(message, sizeof ts->scratch - b.len - 1));
    it_out_terminate(&b);
    it_redact_value(&b, start);  /* a message is matched as a value is */
    it_emit(ts, IT_EV_LOG, 0, g, g->depth, ts->scratch, (uint32_t)b.len, 3);
}

#endif
