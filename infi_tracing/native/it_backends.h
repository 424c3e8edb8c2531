/* Hook backends: thin adapters from each CPython event API to it_enter /
 * it_exit.  They run in the traced thread with the GIL held; CPython does
 * not re-enter them for calls they make (tracing is off inside a callback). */
#ifndef IT_BACKENDS_H
#define IT_BACKENDS_H

#include "it_hook.h"

/* ---- PyEval_SetProfile (every version) ---------------------------------
 * The profile API reports a generator's resume as "call" and its yield as
 * "return"; we tell them apart from the frame's position: a frame that has
 * not started yet stands at its first instruction, a yielding frame stands
 * on a YIELD_VALUE instruction (3.13: on the RESUME right after it).  It also hides the in-flight exception from
 * the callback (saved away before the call), so exception records from this
 * backend name the type as "?". */
static int it_yield_opcode = -1, it_yield_from_opcode = -1;
static int it_return_value_opcode = -1, it_return_const_opcode = -1, it_resume_opcode = -1;

static inline int it_frame_lasti(PyFrameObject *frame) {
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetLasti(frame);
#else
    return frame->f_lasti < 0 ? -1 : frame->f_lasti * 2;
#endif
}

static inline int it_profile_is_resume(PyCodeObject *co, PyFrameObject *frame, uint32_t start) {
    if (!(co->co_flags & IT_GEN_FLAGS))
        return 0;
    int lasti = it_frame_lasti(frame);
    return lasti >= 0 && (uint32_t)lasti > start;
}

/* The opcode a frame stands on (deoptimized code, so never an
 * INSTRUMENTED_* variant), or -1. */
static inline int it_frame_opcode(PyCodeObject *co, PyFrameObject *frame) {
    int lasti = it_frame_lasti(frame);
    if (lasti < 0)
        return -1;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *code = PyCode_GetCode(co);
#else
    PyObject *code = co->co_code;
    Py_INCREF(code);
#endif
    int op = -1;
    if (code) {
        if (lasti < PyBytes_GET_SIZE(code))
            op = (unsigned char)PyBytes_AS_STRING(code)[lasti];
        Py_DECREF(code);
    } else {
        PyErr_Clear();
    }
    return op;
}

/* How a frame is being left, for a profile "return" event.  From 3.12 the
 * profile API reports an exception exit as a return of None, so a None
 * return not standing on a return instruction is an exception. */
static inline int it_profile_exit_kind(PyCodeObject *co, PyFrameObject *frame, PyObject *arg) {
    int gen = (co->co_flags & IT_GEN_FLAGS) != 0;
#if PY_VERSION_HEX >= 0x030C0000
    int check = gen || arg == Py_None;
#else
    int check = gen;
#endif
    if (!check)
        return IT_EV_RETURN;
#if PY_VERSION_HEX < 0x030B0000
    /* 3.10 marks a suspended frame; its YIELD_FROM (await) also steps
     * f_lasti back onto the instruction before it, so the opcode test
     * below would take an await for a return. */
    if (gen && frame->f_state == FRAME_SUSPENDED)
        return IT_EV_YIELD;
#endif
    int op = it_frame_opcode(co, frame);
    /* 3.13 reports a yield with the frame already on the RESUME after it */
    if (gen && op >= 0 &&
        (op == it_yield_opcode || op == it_yield_from_opcode || op == it_resume_opcode))
        return IT_EV_YIELD;
#if PY_VERSION_HEX >= 0x030C0000
    if (arg == Py_None && op != it_return_value_opcode && op != it_return_const_opcode)
        return IT_EV_UNWIND;
#endif
    (void)arg;
    return IT_EV_RETURN;
}

static int it_profile_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (what != PyTrace_CALL && what != PyTrace_RETURN)
        return 0;  /* C function events: Python functions only */
    PyCodeObject *co = PyFrame_GetCode(frame);
    if (what == PyTrace_CALL) {
        int resume = 0;
        if (IT_UNLIKELY(co->co_flags & IT_GEN_FLAGS)) {
            uint64_t d = it_lookup(co);
            uint32_t id = it_gen_code_id(co, &d, frame);
            resume = id && it_profile_is_resume(co, frame, it_registry_get(id)->start_lasti);
        }
        it_enter(co, frame, NULL, resume);
    } else if (arg == NULL || PyErr_Occurred()) {
        PyObject *t = PyErr_Occurred();
        it_exit(co, IT_EV_UNWIND, NULL, t && PyType_Check(t) ? ((PyTypeObject *)t)->tp_name : "?");
    } else {
        int ev = it_profile_exit_kind(co, frame, arg);
        /* the profile API does not show the exception itself */
        it_exit(co, ev, ev == IT_EV_UNWIND ? NULL : arg, "?");
    }
    Py_DECREF(co);
    return 0;
}

/* ---- sys.monitoring (3.12+) --------------------------------------------
 * C functions registered with sys.monitoring.register_callback, called by
 * vectorcall.  Returning DISABLE switches the event off for that code
 * location until restart_events(): untraced code then costs nothing. */
#if PY_VERSION_HEX >= 0x030C0000
static inline PyObject *it_mon_result(int r) {
    return Py_NewRef(r == IT_DISABLE ? it_g.disable : Py_None);
}
/* it_exit answers IT_DISABLE or 0 */

/* Each callback is an object of a small type of our own whose vectorcall
 * slot is the callback itself: sys.monitoring calls it through
 * PyObject_Vectorcall, straight into our function.  (A builtin function
 * made from a PyMethodDef goes through cfunction_vectorcall_FASTCALL first,
 * which checks keywords and the recursion limit on every event.)  CPython
 * always passes the documented positional arguments, so nargs is only
 * checked to be safe against a direct call from Python. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    const char *name;
} it_mon_cb;

#define IT_NARGS(nargsf) PyVectorcall_NARGS(nargsf)

/* PY_START and PY_RESUME: (code, offset). */
static inline PyObject *it_mon_enter(PyObject *const *args, size_t nargsf, int resume) {
    return it_mon_result(IT_NARGS(nargsf) >= 1
                             ? it_enter((PyCodeObject *)args[0], NULL, NULL, resume)
                             : 0);
}

/* PY_RETURN and PY_YIELD: (code, offset, value). */
static inline PyObject *it_mon_leave(PyObject *const *args, size_t nargsf, int ev) {
    return it_mon_result(IT_NARGS(nargsf) >= 3
                             ? it_exit((PyCodeObject *)args[0], ev, args[2], NULL)
                             : 0);
}

static PyObject *it_mon_start(PyObject *self, PyObject *const *args, size_t nargsf,
                              PyObject *kw) {
    (void)self, (void)kw;
    return it_mon_enter(args, nargsf, 0);
}

static PyObject *it_mon_resume(PyObject *self, PyObject *const *args, size_t nargsf,
                               PyObject *kw) {
    (void)self, (void)kw;
    return it_mon_enter(args, nargsf, 1);
}

/* PY_THROW is not a local event: it cannot be disabled. */
static PyObject *it_mon_throw(PyObject *self, PyObject *const *args, size_t nargsf,
                              PyObject *kw) {
    (void)self, (void)kw;
    if (IT_NARGS(nargsf) >= 1)
        it_enter((PyCodeObject *)args[0], NULL, NULL, 1);
    Py_RETURN_NONE;
}

static PyObject *it_mon_return(PyObject *self, PyObject *const *args, size_t nargsf,
                               PyObject *kw) {
    (void)self, (void)kw;
    return it_mon_leave(args, nargsf, IT_EV_RETURN);
}

static PyObject *it_mon_yield(PyObject *self, PyObject *const *args, size_t nargsf,
                              PyObject *kw) {
    (void)self, (void)kw;
    return it_mon_leave(args, nargsf, IT_EV_YIELD);
}

static PyObject *it_mon_unwind(PyObject *self, PyObject *const *args, size_t nargsf,
                               PyObject *kw) {
    (void)self, (void)kw;
    if (IT_NARGS(nargsf) >= 3)
        it_exit((PyCodeObject *)args[0], IT_EV_UNWIND, NULL, Py_TYPE(args[2])->tp_name);
    Py_RETURN_NONE;
}

static const struct {
    const char *name;
    vectorcallfunc fn;
} it_mon_defs[] = {
    {"py_start", it_mon_start},   {"py_resume", it_mon_resume}, {"py_throw", it_mon_throw},
    {"py_return", it_mon_return}, {"py_yield", it_mon_yield},   {"py_unwind", it_mon_unwind},
};

static void it_mon_cb_dealloc(PyObject *self) { Py_TYPE(self)->tp_free(self); }

static PyObject *it_mon_cb_repr(PyObject *self) {
    return PyUnicode_FromFormat("<infi_tracing %s callback>", ((it_mon_cb *)self)->name);
}

static PyTypeObject it_mon_cb_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infi_tracing.native._core.MonitoringCallback",
    .tp_basicsize = sizeof(it_mon_cb),
    .tp_dealloc = it_mon_cb_dealloc,
    .tp_vectorcall_offset = offsetof(it_mon_cb, vectorcall),
    .tp_repr = it_mon_cb_repr,
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
};

/* New reference to the callback named `name`, or NULL with an exception. */
static PyObject *it_mon_callback(const char *name) {
    if (!(it_mon_cb_type.tp_flags & Py_TPFLAGS_READY) && PyType_Ready(&it_mon_cb_type) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof it_mon_defs / sizeof it_mon_defs[0]; i++) {
        if (strcmp(it_mon_defs[i].name, name) == 0) {
            it_mon_cb *cb = PyObject_New(it_mon_cb, &it_mon_cb_type);
            if (cb) {
                cb->vectorcall = it_mon_defs[i].fn;
                cb->name = it_mon_defs[i].name;
            }
            return (PyObject *)cb;
        }
    }
    PyErr_Format(PyExc_KeyError, "no monitoring callback %s", name);
    return NULL;
}
#else
static PyObject *it_mon_callback(const char *name) {
    PyErr_Format(PyExc_RuntimeError, "sys.monitoring needs Python 3.12 (callback %s)", name);
    return NULL;
}
#endif

/* Install or remove the profile callback on every existing thread.
 * Threads started later get it through threading.setprofile (see
 * backends.pyx). */
static void it_profile_install_all(int on) {
#if PY_VERSION_HEX >= 0x030C0000
    PyEval_SetProfileAllThreads(on ? it_profile_callback : NULL, NULL);
#else
    PyThreadState *me = PyThreadState_Get();
    PyInterpreterState *interp = me->interp;
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t; t = PyThreadState_Next(t))
        if (_PyEval_SetProfile(t, on ? it_profile_callback : NULL, NULL) < 0)
            PyErr_Clear();
#endif
}

static void it_profile_install_current(void) { PyEval_SetProfile(it_profile_callback, NULL); }

#endif
