/* Single-producer single-consumer byte ring, one per traced OS thread.
 *
 * Producer: the traced thread, always holding the GIL.  Consumer: the drain
 * pthread, never holding the GIL.  Positions are 64-bit byte counters that
 * only grow; `pos & mask` is the offset into `buf`.
 *
 * Memory ordering:
 *  - the producer fills a record, then publishes it with a release store of
 *    `head`; the drain's acquire load of `head` makes the record bytes (and
 *    the code-registry entry the record names, written earlier under the
 *    GIL) visible to it;
 *  - the drain finishes reading records, then frees the space with a release
 *    store of `tail`; the producer's acquire load of `tail` guarantees the
 *    drain no longer reads bytes it is about to overwrite.
 * The producer keeps a private copy of `tail` so that the common case reads
 * no cache line the drain writes. */
#ifndef IT_RING_H
#define IT_RING_H

#include "it_common.h"
#include <stdlib.h>

typedef struct it_record {
    uint32_t size;        /* bytes including header and payload, multiple of 8 */
    uint16_t event;       /* IT_EV_* */
    uint16_t nvalues;     /* NUL-terminated strings in the payload */
    union {
        struct {
            uint32_t code_id;     /* index into the code registry */
            uint32_t greenlet_id;
        };
        uint64_t count;           /* IT_EV_LOST: records dropped */
    };
    uint64_t ts;          /* it_clock_raw(); the drain makes it nanoseconds */
    int32_t depth;
    uint32_t reserved;
} it_record;              /* 32 bytes; payload follows */

/* The compact form of the commonest record: a name-level call, return,
 * resume or yield (no payload) in the same greenlet as the ring's previous
 * full record.  16 bytes instead of 32: the hook writes two words, and the
 * ring, the cache lines travelling from the traced thread's core to the
 * drain's, and the drain's reads are halved.  The drain expands it back to
 * an it_record (greenlet id from the last full record it read) before any
 * sink sees it.  `word`: bit 0 set (a full record's size is a multiple of
 * 8, so bit 0 tells the two apart), bits 1-3 the event, bits 4-31 the
 * depth; a deeper frame, or a greenlet switch, gets a full record. */
typedef struct it_compact {
    uint32_t word;
    uint32_t code_id;
    uint64_t ts;
} it_compact;

#define IT_COMPACT_SIZE 16u
#define IT_COMPACT_MAX_DEPTH ((1 << 28) - 1)

/* The compact record's first 8 bytes (word and code id, one store). */
static inline uint64_t it_compact_word(int ev, int32_t depth, uint32_t code_id) {
    return 1u | ((uint32_t)ev << 1) | ((uint32_t)depth << 4) | ((uint64_t)code_id << 32);
}

static inline int it_record_is_compact(const it_record *rec) { return rec->size & 1; }

/* A `lost` notice: `count` records of this thread were dropped before `ts`
 * (the one way every writer of one -- ring, drain, recorder, retention --
 * fills it in). */
static inline void it_record_lost(it_record *rec, uint64_t count, uint64_t ts) {
    memset(rec, 0, sizeof *rec);
    rec->size = sizeof *rec;
    rec->event = IT_EV_LOST;
    rec->count = count;
    rec->ts = ts;
}

/* The whole record a compact one stands for; `gid` is the greenlet of the
 * last full record before it in the ring. */
static inline void it_compact_expand(const it_compact *c, uint32_t gid, it_record *out) {
    out->size = sizeof(it_record);
    out->event = (uint16_t)((c->word >> 1) & 7);
    out->nvalues = 0;
    out->code_id = c->code_id;
    out->greenlet_id = gid;
    out->ts = c->ts;
    out->depth = (int32_t)(c->word >> 4);
    out->reserved = 0;
}

#define IT_RECORD_ALIGN 8u
#define IT_ROUND_UP(n) (((n) + IT_RECORD_ALIGN - 1) & ~(uint32_t)(IT_RECORD_ALIGN - 1))

/* Layout: each cache line is written by one side only, and the drain reads
 * nothing the producer writes on every record except `head`, once per pass.
 * A line the drain reads moves to its core, and the producer's next store
 * to it has to take it back; before, the drain read `buf` and `mask` for
 * every record from the line the producer writes on every record (the
 * measured difference was within noise: benchmarks/NOTES.md "Third pass").
 * Line 1: everything the producer's fast path touches.  Line 2: tail and
 * what the drain writes.  Line 3: the drain's copies of the geometry, and
 * fields written rarely. */
#define IT_LINE _Alignas(64)
typedef struct it_ring {
    /* line 1: the producer's (the drain reads head once per pass, and
     * swaps lost_pending only at a flush or thread exit) */
    IT_LINE _Atomic uint64_t head;    /* written by the producer only */
    uint64_t cached_tail;
    uint64_t reserved_head;           /* head after a pad, between reserve/commit */
    uint64_t cap, mask;
    char *buf;
    /* drops not yet reported by a LOST record: the producer adds, and
     * whoever swaps it to zero (producer writing a LOST record, or the drain
     * for an idle or exited thread) reports exactly those: each drop is
     * reported once. */
    _Atomic uint64_t lost_pending;
    uint32_t last_gid;                /* greenlet of the last full record written */
    /* line 2: written by the drain only */
    IT_LINE _Atomic uint64_t tail;
    /* --flight-recorder-file (it_flight_file.h): the drain converts a full
     * record's time in place; (pos << 1) | 1 while it converts the record at
     * pos, pos << 1 once every full record before pos is converted, so
     * recover knows which records in the ring carry nanoseconds */
    _Atomic uint64_t conv_state;
    /* counters read by tracing_stats() (relaxed) */
    _Atomic uint64_t drained;         /* function records delivered (not "lost" notices) */
    _Atomic uint64_t lost_in_stream;  /* drops covered by LOST records drained */
    /* drain-private: the greenlet of the last full record up to `tail`
     * (compact records after it are in that greenlet); it follows
     * last_gid, one record behind the other */
    uint32_t drain_gid;
    it_clock_conv conv;               /* drain-private: record times to nanoseconds */
    /* line 3: set up once, and fields written rarely */
    IT_LINE uint64_t dcap, dmask;     /* the drain's copies of cap and mask, and of buf */
    char *dbuf;                       /* (the drain converts times in place) */
    _Atomic uint64_t lost_total;      /* records dropped on overflow (producer adds) */
    _Atomic int dead;                 /* the thread has exited; drain frees */
    long tid;                         /* OS thread id (gettid) */
    int in_file;                      /* struct and buffer live in the crash-survival file */
    struct it_ring *next;             /* drain's private list / adoption stack */
} it_ring;

/* Set while a crash-survival file is open (it_flight_file.h): rings are
 * taken from it (NULL from it: ordinary memory), and given back to it. */
static it_ring *(*it_ring_alloc_hook)(uint64_t cap, long tid);
static void (*it_ring_free_hook)(it_ring *r);

static inline it_ring *it_ring_new(uint64_t cap, long tid) {
    it_ring *r = it_ring_alloc_hook ? it_ring_alloc_hook(cap, tid) : NULL;
    if (r)
        return r;
    if (posix_memalign((void **)&r, 64, sizeof(it_ring)) != 0)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->buf = malloc(cap);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->cap = r->dcap = cap;
    r->mask = r->dmask = cap - 1;
    r->dbuf = r->buf;
    r->tid = tid;
    /* before any record: every time in this ring comes after this sample */
    r->conv.prev = it_clock_sample();
    return r;
}

static inline void it_ring_free(it_ring *r) {
    if (r && r->in_file && it_ring_free_hook) {
        it_ring_free_hook(r);  /* the slot is free again; the mapping stays */
    } else if (r) {
        free(r->buf);
        free(r);
    }
}

/* Reserve `size` contiguous bytes (size a multiple of 8, at most cap/2).
 * Returns NULL when the ring is full.  When the record would straddle the
 * end of the buffer, a PAD record fills the rest and the record starts at
 * offset 0; the pad becomes visible together with the record at commit. */
static char *it_ring_reserve_slow(it_ring *r, uint32_t size);

static inline __attribute__((always_inline)) char *it_ring_reserve(it_ring *r, uint32_t size) {
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t off = head & r->mask;
    /* common case: no wrap and room left since the last look at tail */
    if (IT_LIKELY(off + size <= r->cap && head + size - r->cached_tail <= r->cap)) {
        r->reserved_head = head;
        return r->buf + off;
    }
    return it_ring_reserve_slow(r, size);
}

static __attribute__((noinline)) char *it_ring_reserve_slow(it_ring *r, uint32_t size) {
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t off = head & r->mask;
    uint64_t contig = r->cap - off;
    uint64_t need = contig < size ? contig + size : size;
    if (IT_UNLIKELY(head + need - r->cached_tail > r->cap)) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + need - r->cached_tail > r->cap)
            return NULL;
    }
    if (IT_UNLIKELY(contig < size)) {
        it_record *pad = (it_record *)(r->buf + off);
        pad->size = (uint32_t)contig;  /* contig >= 8: everything is 8-aligned */
        pad->event = IT_EV_PAD;
        head += contig;
        off = 0;
    }
    r->reserved_head = head;
    return r->buf + off;
}

static inline void it_ring_commit(it_ring *r, uint32_t size) {
    atomic_store_explicit(&r->head, r->reserved_head + size, memory_order_release);
}

/* Counters for statistics: relaxed, any thread. */
static inline uint64_t it_counter(_Atomic uint64_t *p) {
    return atomic_load_explicit(p, memory_order_relaxed);
}

/* The producer thread has exited: the drain empties, reports and frees. */
static inline void it_ring_mark_dead(it_ring *r) {
    atomic_store_explicit(&r->dead, 1, memory_order_release);
}

/* Bytes waiting to be drained (either side may call it). */
static inline uint64_t it_ring_used(it_ring *r) {
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

/* Producer side of drop accounting, shared by the hook and the C stress
 * test (tests/native/ring_stress.c).  A drop: counted where the drain
 * reports it (lost_pending) and in the total (only the producer writes it). */
static inline void it_ring_count_drop(it_ring *r) {
    atomic_fetch_add_explicit(&r->lost_pending, 1, memory_order_relaxed);
    atomic_store_explicit(&r->lost_total,
                          atomic_load_explicit(&r->lost_total, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Report earlier drops in the stream, at the point where they happened.
 * Whoever swaps lost_pending to zero owns those drops (see it_drain.h).
 * Out of line: it runs only after a drop. */
static __attribute__((noinline)) int it_ring_emit_lost(it_ring *r) {
    it_record *rec = (it_record *)it_ring_reserve(r, sizeof(it_record));
    if (!rec)
        return 0;
    it_record_lost(rec, atomic_exchange_explicit(&r->lost_pending, 0, memory_order_relaxed),
                   it_clock_raw());
    it_ring_commit(r, sizeof *rec);
    return 1;
}

#endif
