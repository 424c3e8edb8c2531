/* Eval-frame backend (PEP 523) for Python 3.10 and 3.11: our function
 * evaluates every Python frame by calling CPython's default evaluator, with
 * the entry recorded before and the exit after.  Call and return are seen
 * in the same C stack frame, so the exit undoes exactly what the entry did.
 *
 * Private API: _PyInterpreterState_SetEvalFrameFunc is only used when no
 * other eval-frame function (a debugger's) is installed. */
#ifndef IT_EVALFRAME_H
#define IT_EVALFRAME_H

#include "it_backends.h"

/* The frame being decided by the 3.11 eval-frame hook (see _decide). */
static __thread PyObject *it_pending_globals __attribute__((tls_model("initial-exec")));
static __thread PyObject *const *it_pending_fast __attribute__((tls_model("initial-exec")));

/* C-stack guard (it_stack.h), GIL held.  Calls of traced functions the
 * hook let run past it because the C stack was low (3.10): their call and
 * return records are counted lost, so the stream shows a "lost" record
 * where they were. */
static uint64_t it_stack_untraced_calls;
/* Set by backends.pyx: hands tracing to the profile callback on every
 * thread (it_evalframe_retire plus the bookkeeping); GIL held, never
 * leaves an exception. */
static int (*it_stack_fallback)(void);

#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030C0000
#define IT_HAVE_EVALFRAME 1
#include "it_stack.h"

/* The hook gave way to the profile callback in mid-session (3.11, C stack
 * low): the returns of the frames it had entered are the callback's to
 * record.  Cleared when the hook is installed again. */
static int it_evalframe_retired;

#if PY_VERSION_HEX >= 0x030B0000
/* The leading fields of CPython 3.11's _PyInterpreterFrame
 * (Include/internal/pycore_frame.h), which we read but never write. */
typedef struct it_iframe {
    PyObject *f_func;
    PyObject *f_globals;
    PyObject *f_builtins;
    PyObject *f_locals;
    PyCodeObject *f_code;
    PyFrameObject *frame_obj;
    struct it_iframe *previous;
    _Py_CODEUNIT *prev_instr;
    int stacktop;
    char is_entry;
    char owner;
    PyObject *localsplus[1];
} it_iframe;
typedef struct _PyInterpreterFrame it_eval_frame_t;
#define IT_FRAME(f) ((it_iframe *)(f))
#else
typedef PyFrameObject it_eval_frame_t;
#endif

/* The default evaluator will refuse this frame with RecursionError before
 * running any of it: a frame that never ran gets no records.  Mirrors the
 * check at the top of _PyEval_EvalFrameDefault (_Py_EnterRecursiveCall and
 * _Py_CheckRecursiveCall), which counts this frame before comparing. */
static inline int it_frame_will_overflow(PyThreadState *tstate) {
    if (tstate->recursion_headroom)
        return 0;  /* already handling an overflow: CPython lets it run */
#if PY_VERSION_HEX >= 0x030B0000
    return tstate->recursion_remaining <= 0 &&
           tstate->recursion_limit - tstate->recursion_remaining >= Py_GetRecursionLimit();
#else
    return tstate->recursion_depth + 1 > Py_GetRecursionLimit();
#endif
}

/* The C stack of this thread is low (it_stack.h): 1 when the frame is to
 * run without this hook, 0 when the hook handles it as usual.  Measured
 * (bytes of C stack per Python frame, traced / filtered / untraced):
 * 3.11 596 / 401 / ~0, its profile backend ~0; 3.10 580 / 417 / 417, its
 * profile backend 514.  So calling CPython's evaluator directly (our frame
 * left out) saves 3.11 nothing, the hook being installed is what nests;
 * only removing the hook does.  3.11 therefore hands tracing to the profile
 * callback for the rest of the session: nothing goes untraced, and the
 * deeper frames cost what they cost untraced.  On 3.10 the profile
 * backend would still cost more than untraced, so the frames below the
 * floor run untraced by the hook (exactly the untraced stack cost) and
 * each traced call among them is counted as two lost records. */
static __attribute__((noinline)) int it_eval_frame_low_stack(PyThreadState *tstate,
                                                             it_eval_frame_t *frame) {
#if PY_VERSION_HEX >= 0x030B0000
    if (!it_evalframe_retired && it_stack_fallback)
        it_stack_fallback();
    if (it_evalframe_retired)
        return 1;  /* the profile callback sees this frame start, and the rest */
    /* The switch failed (only a MemoryError can make it): count, as 3.10 does. */
    PyCodeObject *co = IT_FRAME(frame)->f_code;
#else
    PyCodeObject *co = frame->f_code;
#endif
    if (tstate->tracing || it_frame_will_overflow(tstate))
        return 1;  /* the hook would not record this frame either */
#if PY_VERSION_HEX >= 0x030B0000
    it_pending_globals = IT_FRAME(frame)->f_globals, it_pending_fast = IT_FRAME(frame)->localsplus;
    int would = it_enter_impl(co, it_lookup(co), NULL, IT_FRAME(frame)->localsplus, 0, 1);
    it_pending_globals = NULL;
#else
    int would = it_enter_impl(co, it_lookup(co), frame, NULL, 0, 1);
#endif
    if (would == IT_ENTER_NESTED)
        return 0;  /* its exclusion must cover its callees: one hook frame */
    if (would == IT_ENTER_RECORDED) {
        it_ring *r = it_tls->ring;  /* it_enter_impl got the thread's state */
        it_ring_count_drop(r);      /* its call ... */
        it_ring_count_drop(r);      /* ... and its return */
        it_stack_untraced_calls++;
    }
    return 1;
}

static PyObject *it_eval_frame(PyThreadState *tstate, it_eval_frame_t *frame, int throwflag) {
    /* First: the frames below the floor include filtered ones, which nest
     * C frames on 3.11 too.  One thread-local load and a compare. */
    uintptr_t sp = it_stack_pointer();
    if (IT_UNLIKELY(sp < it_stack_floor) && it_stack_is_low(sp) &&
        it_eval_frame_low_stack(tstate, frame))
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
#if PY_VERSION_HEX >= 0x030B0000
    PyCodeObject *co = IT_FRAME(frame)->f_code;
#else
    PyCodeObject *co = frame->f_code;
#endif
    uint64_t d = it_lookup(co);
    /* Filtered out (NO_TRACE, decided this generation): the bulk of the
     * frames of a filtered program.  Nothing is recorded or counted for
     * them whatever the other checks below say, so none of them run. */
    if (it_decision_is_no_trace(d))
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    /* tstate->tracing: inside a trace or profile function, or greenlet's
     * switch tracer -- code the other backends do not see either. */
    if (IT_UNLIKELY(it_busy | tstate->tracing) || !it_g.active)
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    if (IT_UNLIKELY(it_frame_will_overflow(tstate)))
        return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    int resume = 0;
    int gen = (co->co_flags & IT_GEN_FLAGS) != 0;
#if PY_VERSION_HEX >= 0x030B0000
    /* First sight: the filter needs the frame's globals and arguments, and
     * 3.11 has no public way to make its frame object before it runs. */
    if (IT_UNLIKELY((d >> 40) != it_g.gen))
        it_pending_globals = IT_FRAME(frame)->f_globals, it_pending_fast = IT_FRAME(frame)->localsplus;
#endif
    if (IT_UNLIKELY(gen)) {
#if PY_VERSION_HEX >= 0x030B0000
        /* 3.11 evaluates a generator function's frame once to create the
         * generator (RETURN_GENERATOR): not a call of the function. */
        const _Py_CODEUNIT *code = (const _Py_CODEUNIT *)co->co_code_adaptive;
        Py_ssize_t at = IT_FRAME(frame)->prev_instr - code;
        if (at < 0) {
            it_pending_globals = NULL;
            return _PyEval_EvalFrameDefault(tstate, frame, throwflag);
        }
        uint32_t id = it_gen_code_id(co, &d, NULL);
        resume = id && (uint32_t)(at * 2) >= it_registry_get(id)->start_lasti;
#else
        resume = frame->f_lasti >= 0;
#endif
    }
#if PY_VERSION_HEX >= 0x030B0000
    int entered = it_enter_known(co, d, NULL, IT_FRAME(frame)->localsplus, resume);
    it_pending_globals = NULL;
#else
    int entered = it_enter_known(co, d, frame, NULL, resume);
#endif
    PyObject *result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    if ((entered != IT_ENTER_RECORDED && entered != IT_ENTER_NESTED) ||
        IT_UNLIKELY(it_evalframe_retired))
        return result;
    /* One it_exit call site, so that inlining it costs one copy. */
    int ev = IT_EV_RETURN;
    const char *exc_name = NULL;
    if (!result) {
        PyObject *t = PyErr_Occurred();
        ev = IT_EV_UNWIND;
        exc_name = t && PyType_Check(t) ? ((PyTypeObject *)t)->tp_name : "?";
    } else if (IT_UNLIKELY(gen)) {
#if PY_VERSION_HEX >= 0x030B0000
        int op = _Py_OPCODE(*IT_FRAME(frame)->prev_instr);
        int yielded = op == it_yield_opcode;
#else
        int yielded = frame->f_state == FRAME_SUSPENDED;
#endif
        if (yielded)
            ev = IT_EV_YIELD;
    }
    it_exit(co, ev, result, exc_name);
    return result;
}

/* 1 when installed; 0 when another eval-frame function is in place. */
static int it_evalframe_install(void) {
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (current == it_eval_frame)
        return 1;
    if (current != _PyEval_EvalFrameDefault)
        return 0;
    _PyInterpreterState_SetEvalFrameFunc(interp, it_eval_frame);
    it_evalframe_retired = 0;
    return 1;
}

static void it_evalframe_uninstall(void) {
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    if (_PyInterpreterState_GetEvalFrameFunc(interp) == it_eval_frame)
        _PyInterpreterState_SetEvalFrameFunc(interp, _PyEval_EvalFrameDefault);
}

/* In mid-session, for good: the profile callback on every thread first
 * (no moment without a hook), then the hook removed.  Python code could
 * run in between (audit hooks of sys.setprofile): the caller holds it_busy
 * so that neither records it twice.  Threads started later: the caller
 * sets threading's profile hook. */
static void it_evalframe_retire(void) {
    it_profile_install_all(1);
    it_evalframe_uninstall();
    it_evalframe_retired = 1;
}

/* Another tool's eval-frame function is installed (ours is not). */
static int it_evalframe_taken(void) {
    _PyFrameEvalFunction current =
        _PyInterpreterState_GetEvalFrameFunc(PyThreadState_Get()->interp);
    return current != _PyEval_EvalFrameDefault && current != it_eval_frame;
}
#else
#define IT_HAVE_EVALFRAME 0
static void it_evalframe_retire(void) {}
static int it_evalframe_install(void) { return 0; }
static void it_evalframe_uninstall(void) {}
static int it_evalframe_taken(void) { return 0; }
#endif

#endif
