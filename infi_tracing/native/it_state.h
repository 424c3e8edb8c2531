/* Per-thread and per-greenlet tracer state and the process-wide settings
 * the hook reads.
 *
 * GIL: every field here is read and written by the traced thread with the
 * GIL held (hooks, the greenlet switch callback, the public API), so plain
 * loads and stores suffice.  The drain thread never touches this file's
 * structures; it only sees rings. */
#ifndef IT_STATE_H
#define IT_STATE_H

#include "it_ring.h"

#define IT_PAYLOAD_MAX 4096  /* bytes of rendered values one record may carry */

typedef struct it_gstate {
    int32_t depth;        /* traced frames open in this greenlet */
    int32_t nested_excl;  /* NO_TRACE_NESTED frames open (hook-managed) */
    int32_t user_excl;    /* exclude/suspend nesting (API-managed) */
    uint32_t id;          /* small increasing greenlet id, never id() */
    uint32_t session;     /* it_g.session when depth was last valid */
} it_gstate;

typedef struct it_tstate {
    it_ring *ring;
    it_gstate *current;   /* the running greenlet's state; owned by a GState object */
    uint32_t epoch;       /* it_g.epoch when the greenlet tracer was checked */
    PyObject *owner;      /* borrowed: the ThreadState object that owns this struct */
    char scratch[IT_PAYLOAD_MAX];
} it_tstate;

typedef struct {
    int active;              /* hooks may record */
    int block;               /* overflow="block" */
    int generators;          /* emit RESUME/YIELD instead of CALL/RETURN */
    uint32_t session;        /* bumped by set_tracing: resets greenlet depths */
    uint32_t epoch;          /* bumped when threads must re-check greenlet hooks */
    uint64_t gen;            /* decision generation stored in code extras (24 bits) */
    Py_ssize_t extra_index;  /* code-object extra slot for cached decisions */
    PyObject *disable;       /* sys.monitoring.DISABLE (3.12+) */
} it_globals;

static it_globals it_g = {0, 0, 0, 1, 1, 1, -1, NULL};

/* The traced thread's state.  Set by the Cython slow path; cleared when the
 * thread's Python state is torn down.  initial-exec: one load from the
 * thread pointer instead of a __tls_get_addr call per event (8 bytes of the
 * static TLS surplus glibc keeps for dlopen'ed modules). */
static __thread it_tstate *it_tls __attribute__((tls_model("initial-exec")));

/* Slow paths implemented in Cython (set at module init).  Both are called
 * with the GIL held and never leave an exception set. */
static it_tstate *(*it_thread_slow)(void);
static uint64_t (*it_decide)(PyCodeObject *co, PyFrameObject *frame);

/* Cached decision word stored in the code object's extra slot:
 *   bit 0 always 1 | bits 1-7 level | bits 8-39 registry id | bits 40-63 generation
 * A code object's extras die with it, so a new code object at a reused
 * address starts with no decision: no stale verdict can be found. */
static inline uint64_t it_decision_pack(int level, uint32_t code_id) {
    return 1u | ((uint64_t)level << 1) | ((uint64_t)code_id << 8) | (it_g.gen << 40);
}

#endif
