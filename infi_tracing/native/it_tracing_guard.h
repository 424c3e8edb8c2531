/* Running the user's filter with CPython's tracing guard lowered.
 *
 * The profile and sys.monitoring backends are called with tstate->tracing
 * raised: CPython sends no events while a tracer runs.  greenlet saves and
 * restores a greenlet's use_tracing flag on a switch but not that counter,
 * so a filter that switches greenlets (gevent-patched I/O in the filter)
 * would leave every other greenlet of the thread untraced until it returns.
 * So the filter runs with the counter lowered back to the program's level;
 * it_busy (saved per greenlet by the switch callback) keeps our own hooks
 * out of the filter's frames instead.  The eval-frame backend calls us with
 * the counter at 0 already: nothing to lower. */
#ifndef IT_TRACING_GUARD_H
#define IT_TRACING_GUARD_H

#include <Python.h>

/* Returns 1 when it lowered the counter (pass it to it_tracing_raise). */
static inline int it_tracing_lower(void) {
    PyThreadState *ts = PyThreadState_Get();
    if (ts->tracing <= 0)
        return 0;
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_LeaveTracing(ts);
#else
    ts->tracing--;
    ts->cframe->use_tracing = ts->tracing == 0 &&
                              (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL);
#endif
    return 1;
}

static inline void it_tracing_raise(int lowered) {
    if (!lowered)
        return;
    PyThreadState *ts = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_EnterTracing(ts);
#else
    ts->tracing++;
    ts->cframe->use_tracing = 0;
#endif
}

#endif
