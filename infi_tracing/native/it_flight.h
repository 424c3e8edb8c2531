/* The flight recorder: records kept in memory, not streamed, bounded by
 * bytes and by age; a snapshot writes the recent past as a binary trace.
 *
 * Design: the recorder is a sink of the drain (IT_SINK_FLIGHT).  Traced
 * threads do exactly what they do when streaming (write their ring); the
 * drain packs each batch into the recorder's blocks instead of a file's
 * buffer, so flight mode costs the traced program no more than binary
 * streaming and needs no second ring discipline.  Other sinks may run
 * beside it (a thin live stream).
 *
 * Blocks: IT_FLIGHT_BLOCK bytes each, at most size / IT_FLIGHT_BLOCK of
 * them in all (allocated on first need).  Each block is one self-contained
 * PACKED chunk of one thread (it_binary.h: the running state restarts in
 * every chunk), so a snapshot copies blocks as they are.  A thread fills
 * its open block; a full one is closed onto the global FIFO.  When no block
 * is free, the oldest closed block (of any thread: the FIFO orders them by
 * closing time, so every thread keeps about the same stretch of the past)
 * is taken back: its thread has "wrapped", and the count of records it lost
 * goes into the snapshot as a `lost` record.
 *
 * Locking: everything here runs with the drain's `sinks_mu` held (the drain
 * delivering a batch, a snapshot detaching or giving back blocks, a reset),
 * never with the GIL required; a snapshot's file is written after the lock
 * is released (it_flight_snap.h), so the drain is held only for moving
 * list heads.
 * Traced threads never wait for the recorder: they only write their rings. */
#ifndef IT_FLIGHT_H
#define IT_FLIGHT_H

#include "it_binary.h"
#include "it_ring.h"
#include "it_flight_slow.h"
#include "it_flight_file.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define IT_FLIGHT_BLOCK (64 * 1024)
/* A PACKED chunk's fixed part: header, pid, tid, wall offset. */
#define IT_FLIGHT_HEAD (sizeof(it_bin_chunk) + 3 * sizeof(int64_t))

typedef struct it_flight_block {
    struct it_flight_block *next;    /* owner's list, oldest first */
    struct it_flight_block *fnext;   /* global FIFO of closed blocks, or the free list */
    struct it_flight_thread *owner;
    uint64_t first_ts, last_ts;      /* ns, of its entries (0: none yet) */
    uint64_t records;                /* entries that are records (not notices) */
    uint64_t ring_dropped;           /* what its `lost` notices count: records the ring dropped */
    size_t len;                      /* bytes used, IT_FLIGHT_HEAD included */
    it_packed_state st;              /* the running state of its entries */
    /* --flight-recorder-file (it_flight_file.h), read by recover: */
    _Atomic uint64_t seq;            /* opening order, 0: free or being reset */
    _Atomic uint64_t pub;            /* (ring end >> 3) << 17 | len, one release store per entry */
    uint64_t ring_serial;            /* the ring whose records it holds (it_ff_slot_meta) */
    char data[IT_FLIGHT_BLOCK];      /* the chunk: header, fixed part, entries */
} it_flight_block;

typedef struct it_flight_thread {
    long tid;
    it_flight_block *head, *newest;  /* its blocks, oldest first */
    it_flight_block *open;           /* the block being filled (closed ones are on the FIFO) */
    int discard;                     /* it_flight_snap.h: its detached blocks are stale */
    uint64_t wrapped;                /* records taken back with its blocks (ever) */
    uint64_t dropped;                /* records that found no block (ever) */
} it_flight_thread;

typedef struct it_flight {
    uint64_t window_ns;              /* a snapshot holds at most this much of the past */
    size_t max_blocks, nblocks;      /* allowed, allocated (detached ones included) */
    size_t detached;                 /* blocks a snapshot is writing (it_flight_snap.h) */
    it_flight_block *free_list;
    it_flight_block *fifo_head, *fifo_tail;
    it_flight_thread **threads;
    size_t nthreads, cap_threads;
    it_flight_thread *last;          /* the thread of the last batch (lookup cache) */
    it_binary *codes;                /* code ids the blocks name (CODE chunks at a snapshot) */
    it_flight_slow *slow;            /* --dump-on-slow rules, or NULL (it_flight_slow.h) */
    uint64_t kept, evicted, dropped, snapshots;  /* records; read by flight_stats() */
    /* the crash-survival file's block pool (NULL: malloc): blocks beyond it
     * (a snapshot has some out) come from malloc and are not in the file */
    it_ff *file;
    char *pool;
    size_t pool_n, pool_next;
    it_flight_block *pool_free;
    uint64_t next_seq;
} it_flight;

/* The block stride in the file (whole cache lines). */
static inline size_t it_flight_block_stride(void) {
    return it_ff_round(sizeof(it_flight_block), 64);
}

static inline int it_flight_in_pool(const it_flight *f, const it_flight_block *b) {
    return f->pool && (const char *)b >= f->pool &&
           (const char *)b < f->pool + f->pool_n * it_flight_block_stride();
}

static it_flight_block *it_flight_block_alloc(it_flight *f) {
    if (f->pool) {
        it_flight_block *b = f->pool_free;
        if (b) {
            f->pool_free = b->fnext;
            return b;
        }
        if (f->pool_next < f->pool_n)
            return (it_flight_block *)(f->pool + f->pool_next++ * it_flight_block_stride());
    }
    it_flight_block *b = malloc(sizeof *b);
    if (b)
        memset(b, 0, offsetof(it_flight_block, data));
    return b;
}

static void it_flight_block_free(it_flight *f, it_flight_block *b) {
    if (it_flight_in_pool(f, b)) {
        atomic_store_explicit(&b->seq, 0, memory_order_release);  /* recover skips it */
        b->fnext = f->pool_free;
        f->pool_free = b;
    } else {
        free(b);
    }
}

/* Use the process's crash-survival file for the blocks (GIL held, before
 * the recorder is a sink).  The file's pool is this recorder's from now on
 * (a recorder it replaces no longer touches it: it_flight_reset). */
static inline void it_flight_use_file(it_flight *f) {
    it_ff *ff = it_ff_cur;
    if (!ff)
        return;
    f->file = ff;
    ff->owner = f;
    f->pool = ff->base + ff->h->blocks_off;
    f->pool_n = ff->nblocks;
    f->pool_next = 0;
    f->pool_free = NULL;
    for (size_t i = 0; i < f->pool_n; i++)  /* what an earlier recorder left there is gone */
        atomic_store(&((it_flight_block *)(f->pool + i * it_flight_block_stride()))->seq, 0);
}

/* Blocks a recorder of `size` bytes may have (also the file's pool). */
static inline size_t it_flight_max_blocks(uint64_t size) {
    size_t n = size / sizeof(it_flight_block);
    return n < 2 ? 2 : n;
}

/* Open `fd` as the process's crash-survival file (it_flight_file.h) with
 * room for a recorder of `size` bytes; 0 or an errno value. */
static inline int it_flight_file_open(int fd, uint64_t ring_bytes, uint64_t size) {
    const uint64_t layout[5] = {offsetof(it_flight_block, seq), offsetof(it_flight_block, pub),
                                offsetof(it_flight_block, ring_serial),
                                offsetof(it_flight_block, data), IT_FLIGHT_BLOCK};
    return it_ff_open(fd, ring_bytes, it_flight_max_blocks(size), it_flight_block_stride(),
                      layout);
}

static inline it_flight *it_flight_new(uint64_t window_ns, uint64_t size) {
    it_flight *f = calloc(1, sizeof(it_flight));
    if (!f)
        return NULL;
    f->codes = it_binary_new();
    if (!f->codes) {
        free(f);
        return NULL;
    }
    f->window_ns = window_ns;
    f->max_blocks = it_flight_max_blocks(size);
    return f;
}

/* Forget every record (a forked child starts empty: the parent's past is
 * the parent's to dump).  The blocks go back to the free list. */
static void it_flight_reset(it_flight *f) {
    for (size_t i = 0; i < f->nthreads; i++) {
        it_flight_block *b = f->threads[i]->head;
        /* with a file, blocks are dropped wholesale (below): after a fork
         * their links are gone (it_ff_fork_detach), and a newer recorder
         * may own the pool */
        while (b && !f->file) {
            it_flight_block *next = b->next;
            b->fnext = f->free_list;
            f->free_list = b;
            b = next;
        }
        free(f->threads[i]);
    }
    f->nthreads = 0;
    f->last = NULL;
    f->fifo_head = f->fifo_tail = NULL;
    f->kept = f->evicted = f->dropped = 0;
    /* a snapshot being written at fork time is the parent's: its blocks are
     * left to it (in the child, no thread will give them back) */
    f->nblocks -= f->detached;
    f->detached = 0;
    it_binary_after_fork(f->codes);
    if (f->file) {
        f->free_list = NULL;  /* blocks outside the pool, if any, are leaked: rare */
        f->nblocks = 0;
        if (f->file->owner == f)
            it_flight_use_file(f);
        else
            f->pool = NULL, f->pool_n = 0, f->file = NULL;
    }
}

/* In a forked child: an empty recorder, the slow-call waiter to be started again. */
static inline void it_flight_after_fork(it_flight *f) {
    it_flight_reset(f);
    if (f->slow)
        it_flight_slow_after_fork(f->slow);
}

static inline void it_flight_free(it_flight *f) {
    if (!f)
        return;
    if (f->file && f->file->owner == f)
        f->file->owner = NULL;  /* what the blocks hold stays for recover (keep_file) */
    it_flight_reset(f);
    while (f->free_list) {
        it_flight_block *next = f->free_list->fnext;
        if (!it_flight_in_pool(f, f->free_list))
            free(f->free_list);
        f->free_list = next;
    }
    free(f->threads);
    it_binary_free(f->codes);
    it_flight_slow_free(f->slow);
    free(f);
}

static it_flight_thread *it_flight_thread_of(it_flight *f, long tid) {
    if (f->last && f->last->tid == tid)
        return f->last;
    for (size_t i = 0; i < f->nthreads; i++)
        if (f->threads[i]->tid == tid)
            return f->last = f->threads[i];
    /* a thread whose blocks were all taken back makes room for the new one
     * (not while a snapshot has blocks out: they go back to their thread) */
    for (size_t i = 0; i < f->nthreads && !f->detached; i++)
        if (!f->threads[i]->head) {
            memset(f->threads[i], 0, sizeof(it_flight_thread));
            f->threads[i]->tid = tid;
            return f->last = f->threads[i];
        }
    if (f->nthreads == f->cap_threads) {
        size_t cap = f->cap_threads ? 2 * f->cap_threads : 16;
        it_flight_thread **p = realloc(f->threads, cap * sizeof *p);
        if (!p)
            return NULL;
        f->threads = p;
        f->cap_threads = cap;
    }
    it_flight_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tid = tid;
    f->threads[f->nthreads++] = t;
    return f->last = t;
}

/* The oldest closed block, taken from its thread (which has wrapped), or NULL. */
static it_flight_block *it_flight_evict_oldest(it_flight *f) {
    it_flight_block *b = f->fifo_head;
    if (!b)
        return NULL;  /* every block is some thread's open one, or none could be made */
    f->fifo_head = b->fnext;
    if (!f->fifo_head)
        f->fifo_tail = NULL;
    it_flight_thread *o = b->owner;  /* b is the oldest of o's: its head */
    o->head = b->next;
    if (!o->head)
        o->newest = NULL;
    o->wrapped += b->records + b->ring_dropped;  /* the drops it reported go with it */
    f->evicted += b->records;
    return b;
}

static void it_flight_close_block(it_flight *f, it_flight_block *b) {
    b->fnext = NULL;
    if (f->fifo_tail)
        f->fifo_tail->fnext = b;
    else
        f->fifo_head = b;
    f->fifo_tail = b;
}

/* No closed block left: the open block of the thread that wrote least
 * recently goes on the FIFO (it is that thread's only block, so the FIFO's
 * order holds).  Why: a thread that ended, or went quiet, keeps its open
 * block forever otherwise, and enough of them (a pool of short-lived
 * threads) would leave no block to take. */
static void it_flight_close_stalest(it_flight *f) {
    it_flight_thread *stalest = NULL;
    for (size_t i = 0; i < f->nthreads; i++) {
        it_flight_thread *t = f->threads[i];
        if (t->open && t->open == t->head && t != f->last &&
            (!stalest || t->open->last_ts < stalest->open->last_ts))
            stalest = t;
    }
    if (stalest) {
        it_flight_close_block(f, stalest->open);
        stalest->open = NULL;
    }
}

/* A block for a thread's next records: a free one, a new one while under
 * the bound, else the oldest closed one.  While a snapshot has blocks out,
 * the bound grows by as many (the memory a copy would have taken), so
 * recording goes on without taking back what it did not write yet. */
static it_flight_block *it_flight_take_block(it_flight *f) {
    it_flight_block *b = f->free_list;
    if (b) {
        f->free_list = b->fnext;
        return b;
    }
    if (f->nblocks < f->max_blocks + f->detached) {
        b = it_flight_block_alloc(f);
        if (b) {
            f->nblocks++;
            return b;
        }
    }
    if (!f->fifo_head)
        it_flight_close_stalest(f);
    return it_flight_evict_oldest(f);
}

/* A new open block for `t` (its chunk header filled in); NULL: none. */
static it_flight_block *it_flight_open_block(it_flight *f, it_flight_thread *t, long pid,
                                             int64_t wall_offset) {
    if (t->open)
        it_flight_close_block(f, t->open);
    t->open = NULL;
    /* after the close: at worst the block just closed is taken back for the
     * same thread (a ring of one block) */
    it_flight_block *b = it_flight_take_block(f);
    if (!b)
        return NULL;  /* no block at all (allocation failed) */
    /* seq 0 first: recover must not read a block being reset */
    atomic_store_explicit(&b->seq, 0, memory_order_release);
    atomic_store_explicit(&b->pub, IT_FLIGHT_HEAD, memory_order_relaxed);
    b->next = b->fnext = NULL;
    b->owner = t;
    b->first_ts = b->last_ts = 0;
    b->records = b->ring_dropped = 0;
    b->ring_serial = 0;
    memset(&b->st, 0, sizeof b->st);
    it_bin_chunk h = {IT_BIN_PACKED, 0};
    int64_t fixed[3] = {pid, t->tid, wall_offset};
    memcpy(b->data, &h, sizeof h);
    memcpy(b->data + sizeof h, fixed, sizeof fixed);
    b->len = IT_FLIGHT_HEAD;
    if (f->pool)  /* the header and an empty block, then it counts */
        atomic_store_explicit(&b->seq, ++f->next_seq, memory_order_release);
    if (t->newest)
        t->newest->next = b;
    else
        t->head = b;
    t->newest = t->open = b;
    return b;
}

/* Set by the drain around a batch from a ring: the ring position after
 * each record (NULL for records made by the drain itself). */
static const uint64_t *it_flight_ring_ends;

/* With a file: the entry just put in `b` counts for recover, and so does
 * the ring position after it (0: records that are in no ring).  One
 * release store: the entry's bytes come first, and a record is always in
 * a block (pub says so) or still in its ring past the block's ring end --
 * never neither, and recover drops the ring copy of one in both. */
static inline void it_flight_publish(it_flight_block *b, uint64_t ring_end) {
    uint64_t old = atomic_load_explicit(&b->pub, memory_order_relaxed);
    uint64_t end_bits = ring_end ? ring_end >> 3 : old >> IT_FF_LEN_BITS;
    atomic_store_explicit(&b->pub, (end_bits << IT_FF_LEN_BITS) | b->len, memory_order_release);
}

/* The records an entry accounts for: 1 for a record, the count of a
 * `lost` notice (records the ring dropped before it: once the notice is
 * taken back or cut off with its block, the snapshot's own `lost` record
 * must count them, or they would vanish), 0 for other notices. */
static inline uint64_t it_flight_stands_for(const it_record *rec) {
    if (rec->event == IT_EV_LOST)
        return rec->count;
    return !it_event_is_notice(rec->event);
}

/* The drain's batch (sinks_mu held): packed into the thread's blocks;
 * records that find no block are counted lost for the sink.  `durs`: the
 * exits' durations (the pairing runs when there are slow-call rules). */
static void it_flight_batch(it_flight *f, _Atomic uint64_t *sink_records,
                            _Atomic uint64_t *sink_lost, const it_ring *r,
                            const it_record **recs, const int64_t *durs, size_t n, long pid,
                            int64_t wall_offset) {
    it_flight_thread *t = it_flight_thread_of(f, r->tid);
    uint64_t kept = 0, lost = 0;
    uint64_t serial = f->pool && r->in_file ? it_ff_ring_serial(r) : 0;
    const uint64_t *ends = serial ? it_flight_ring_ends : NULL;
    for (size_t i = 0; i < n; i++) {
        const it_record *rec = recs[i];
        int is_record = !it_event_is_notice(rec->event);
        size_t need = it_packed_need(rec) + 8;  /* + the chunk's pad */
        it_flight_block *b = t ? t->open : NULL;
        if (t && (!b || b->len + need > IT_FLIGHT_BLOCK) && IT_FLIGHT_HEAD + need <= IT_FLIGHT_BLOCK)
            b = it_flight_open_block(f, t, pid, wall_offset);
        if (!b || b->len + need > IT_FLIGHT_BLOCK) {
            lost += is_record;
            if (t)
                t->dropped += it_flight_stands_for(rec);
            continue;
        }
        if (it_event_has_code(rec->event))
            it_binary_first_sight(f->codes, rec->code_id);
        char *end = it_packed_put(b->data + b->len, &b->st, rec);
        b->len = (size_t)(end - b->data);
        if (f->pool && it_flight_in_pool(f, b)) {
            if (ends && b->ring_serial != serial) {
                atomic_store_explicit(&b->pub, b->len, memory_order_relaxed);  /* no end yet */
                b->ring_serial = serial;
            }
            it_flight_publish(b, ends ? ends[i] : 0);
        }
        if (!b->first_ts)
            b->first_ts = rec->ts;
        if (rec->ts > b->last_ts)
            b->last_ts = rec->ts;
        b->records += is_record;
        b->ring_dropped += it_flight_stands_for(rec) - is_record;
        kept += is_record;
    }
    f->kept += kept;
    f->dropped += lost;
    if (f->slow)
        it_flight_slow_check(f->slow, recs, durs, n);  /* after the records are in */
    atomic_fetch_add_explicit(sink_records, kept, memory_order_relaxed);
    atomic_fetch_add_explicit(sink_lost, lost, memory_order_relaxed);
}

#endif
