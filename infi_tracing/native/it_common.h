/* Shared definitions for the infi_tracing native core: levels, events, the
 * monotonic clock and version shims.  Everything here is header-only so the
 * whole core compiles as one translation unit (the Cython module) and the
 * compiler can inline the hot path. */
#ifndef IT_COMMON_H
#define IT_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "it_clock.h"
#include "it_events.h"

#define IT_LIKELY(x) __builtin_expect(!!(x), 1)
#define IT_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* For the hot path's entry and exit: each backend has one or two call
 * sites, and a call of its own costs ~10 instructions of register saves
 * and restores per event (callgrind, 3.11 eval-frame). */
#define IT_ALWAYS_INLINE __attribute__((always_inline))

/* Trace levels: the public constants in infi_tracing mirror these values. */
enum {
    IT_NO_TRACE = 0,
    IT_NO_TRACE_NESTED = 1,
    IT_TRACE_FUNC_NAME = 2,
    IT_TRACE_FUNC_PRIMITIVES = 3,
    IT_TRACE_FUNC_REPR = 4,
};

/* Code flags of a function whose frame is suspended and resumed (a
 * generator, coroutine or async generator): its entries after the first are
 * resumes, its exits before the last are yields.  The flags CPython itself
 * tests to make a generator; CO_ITERABLE_COROUTINE (types.coroutine) is only
 * ever set beside CO_GENERATOR.  The one test of it, for every backend and
 * for the registry (registry.pyx). */
#define IT_GEN_FLAGS (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)

static inline long it_gettid(void) { return (long)syscall(SYS_gettid); }

/* Code-object extra slot: renamed to PyUnstable_* in 3.12. */
#if PY_VERSION_HEX >= 0x030C0000
#define IT_CODE_GET_EXTRA PyUnstable_Code_GetExtra
#define IT_CODE_SET_EXTRA PyUnstable_Code_SetExtra
#define IT_REQUEST_EXTRA_INDEX PyUnstable_Eval_RequestCodeExtraIndex
#else
#define IT_CODE_GET_EXTRA _PyCode_GetExtra
#define IT_CODE_SET_EXTRA _PyCode_SetExtra
#define IT_REQUEST_EXTRA_INDEX _PyEval_RequestCodeExtraIndex
#endif

/* Saving the in-flight exception around slow-path Python calls (the filter,
 * repr()): a traced function that is unwinding must see its own exception
 * unchanged afterwards. */
typedef struct {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *type, *value, *tb;
#endif
} it_saved_exc;

static inline void it_exc_save(it_saved_exc *s) {
#if PY_VERSION_HEX >= 0x030C0000
    s->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&s->type, &s->value, &s->tb);
#endif
}

static inline void it_exc_restore(it_saved_exc *s) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(s->exc);
#else
    PyErr_Restore(s->type, s->value, s->tb);
#endif
}

#endif
