/* Exit's bounded call of a Python sink's method (flush(), close()): the
 * call runs on a helper pthread of its own while the exiting thread waits
 * for it, without the GIL, at most the exit bound (it_exit.h).  A call that
 * has not returned by then is given up on: exit goes on to finalize the
 * interpreter and the helper is left behind, never to touch Python again.
 *
 * Why a native pthread: from Python 3.12 on, the threading module refuses
 * to start threads once interpreter exit has begun (atexit functions run
 * after that point), and a thread gevent patched would be a greenlet of the
 * exiting thread.  PyGILState_Ensure() gives the helper a thread state of
 * its own, as the drain thread gets one (it_drain_python.h).
 *
 * `mu` makes "the call returned" and "exit gave up on it" exclusive: the
 * helper takes it, with the GIL held, as soon as the call returns; the
 * exiting thread takes it without the GIL (lock order: never wait for `mu`
 * while another holder could wait for the GIL it holds -- the helper holds
 * `mu` only for a few stores).  Ownership: the exiting thread frees the
 * struct after joining the helper; a given-up helper owns it (leaked: it
 * parks for good). */
#ifndef IT_EXIT_CALL_H
#define IT_EXIT_CALL_H

#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct it_exit_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    PyObject *fn, *args;  /* owned: taken with the GIL by it_exit_call_start, released by the helper */
    int returned;   /* the call returned: exit no longer gives up on it */
    int done;       /* the helper gave its thread state back: exit may join it */
    int abandoned;  /* exit gave up: the helper parks when the call returns */
} it_exit_call;

static void *it_exit_call_main(void *arg) {
    it_exit_call *c = (it_exit_call *)arg;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_Call(c->fn, c->args, NULL);
    pthread_mutex_lock(&c->mu);
    int abandoned = c->abandoned;
    c->returned = !abandoned;
    pthread_mutex_unlock(&c->mu);
    if (abandoned) {
        /* exit went on, and may be finalizing: let the GIL go and touch
         * nothing of Python again (its objects may be gone) */
        PyEval_SaveThread();
        for (;;)
            pause();
    }
    if (!r)
        PyErr_Clear();  /* the callers' functions catch their sinks' errors themselves */
    Py_XDECREF(r);
    Py_DECREF(c->fn);
    Py_DECREF(c->args);
    PyGILState_Release(g);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* With the GIL: start calling `fn(*args)` (`args` a tuple) on a helper
 * thread.  NULL when no thread could be made (the caller then calls it
 * itself, unbounded). */
static it_exit_call *it_exit_call_start(PyObject *fn, PyObject *args) {
    it_exit_call *c = (it_exit_call *)calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    Py_INCREF(fn);
    Py_INCREF(args);
    c->fn = fn;
    c->args = args;
    if (pthread_create(&c->thread, NULL, it_exit_call_main, c) != 0) {
        Py_DECREF(fn);
        Py_DECREF(args);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return NULL;
    }
    return c;
}

/* Without the GIL (the helper needs it): wait up to `ms` for the call
 * started by it_exit_call_start.  Returns 1 when it returned (`c` is freed),
 * 0 when exit gave up on it (`c` is the helper's now). */
static int it_exit_call_wait(it_exit_call *c, long ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (!c->done && !c->returned && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
    if (!c->done && !c->returned) {
        c->abandoned = 1;
        pthread_mutex_unlock(&c->mu);
        pthread_detach(c->thread);
        return 0;
    }
    while (!c->done)  /* returned: it only gives its thread state back now */
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return 1;
}

#endif
