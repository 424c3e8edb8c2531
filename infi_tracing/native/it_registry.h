/* Code registry: what the drain thread needs to format a record (module,
 * qualified name, file, first line, argument names), copied into native
 * memory once per distinct code identity.
 *
 * Ownership and lifetime: entries are written under the GIL by the hook's
 * slow path and never move or change afterwards (chunks of fixed size behind
 * a fixed table), so the drain can read them without a lock for as long as
 * the module is loaded; a record naming entry N is published after entry N
 * was written, and the ring's release/acquire pair orders the two.  Entries
 * are never freed: the registry deduplicates identical identities (see
 * registry.pyx), so regenerating the same code does not grow it. */
#ifndef IT_REGISTRY_H
#define IT_REGISTRY_H

#include "it_common.h"
#include <stdlib.h>

typedef struct it_code_entry {
    char *module;
    char *qualname;
    char *filename;
    int firstlineno;
    int nargs;           /* names in argnames */
    char **argnames;     /* "a", "*args", "**kwargs" (for the drain) */
    uint32_t start_lasti;  /* generator code: offset of the first instruction (profile backend) */
    _Atomic uint64_t calls;  /* call records delivered; written by the drain only (summaries) */
    /* from the drain's pairing (it_drain_pair.h), written by the drain only:
     * wall time of the stretches (call/resume to exit) with a known duration,
     * and their self time while the greenlet ran (less children's, less
     * switched-out time) */
    _Atomic uint64_t total_ns, self_ns;
    PyObject *py_argnames;  /* tuple of str, for reading the frame (GIL); owned, never freed */
    /* Redaction (it_redact.h), set with the GIL at each decision of a code
     * object traced at PRIMITIVES or REPR and read by the hook only (GIL):
     * bit i (i < 63) redacts argument i, bit 63 every argument from the
     * 64th on if any of them is named like a secret; redact_return the
     * return (and yielded) values.  Same identity, same names, same bits,
     * so entries shared by several code objects agree. */
    uint64_t redact_args;
    int redact_return;
} it_code_entry;

#define IT_REG_CHUNK_BITS 10
#define IT_REG_CHUNK (1u << IT_REG_CHUNK_BITS)
#define IT_REG_MAX_CHUNKS 65536u  /* 64 M entries */

static it_code_entry *it_reg_chunks[IT_REG_MAX_CHUNKS];
static _Atomic uint32_t it_reg_count = 1;  /* id 0 means "not registered" */

/* Called (GIL held) after each new entry while a crash-survival file is
 * open (it_flight_file.h): the entry goes to the file before any record
 * naming it is published. */
static void (*it_registry_added)(uint32_t id);

static inline it_code_entry *it_registry_get(uint32_t id) {
    return &it_reg_chunks[id >> IT_REG_CHUNK_BITS][id & (IT_REG_CHUNK - 1)];
}

/* Under the GIL.  Returns 0 when the registry is full or memory runs out;
 * the caller then does not trace the code object. */
static inline uint32_t it_registry_add(it_code_entry *e) {
    uint32_t id = atomic_load_explicit(&it_reg_count, memory_order_relaxed);
    uint32_t chunk = id >> IT_REG_CHUNK_BITS;
    if (chunk >= IT_REG_MAX_CHUNKS)
        return 0;
    if (!it_reg_chunks[chunk]) {
        it_reg_chunks[chunk] = calloc(IT_REG_CHUNK, sizeof(it_code_entry));
        if (!it_reg_chunks[chunk])
            return 0;
    }
    *it_registry_get(id) = *e;
    atomic_store_explicit(&it_reg_count, id + 1, memory_order_release);
    if (it_registry_added)
        it_registry_added(id);
    return id;
}

/* Call counts and times restart (a forked child counts its own). */
static inline void it_registry_reset_counts(void) {
    uint32_t n = atomic_load_explicit(&it_reg_count, memory_order_acquire);
    for (uint32_t id = 1; id < n; id++) {
        it_code_entry *e = it_registry_get(id);
        atomic_store_explicit(&e->calls, 0, memory_order_relaxed);
        atomic_store_explicit(&e->total_ns, 0, memory_order_relaxed);
        atomic_store_explicit(&e->self_ns, 0, memory_order_relaxed);
    }
}

/* Drain only: add to one of an entry's counters (a single writer, so a
 * relaxed load and store, no locked add; readers see whole values). */
static inline void it_registry_bump(_Atomic uint64_t *c, uint64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline uint32_t it_registry_size(void) {
    return atomic_load_explicit(&it_reg_count, memory_order_acquire) - 1;
}

#endif
