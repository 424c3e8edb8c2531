/* The crash-survival file (--flight-recorder-file): the rings' structs and
 * buffers, the flight recorder's blocks and the code registry's entries live
 * in one MAP_SHARED file mapping instead of malloc'd memory, so whatever the
 * process had committed is still in the page cache after a SIGKILL, an OOM
 * kill or a segfault; `python -m infi_tracing recover` (reader side:
 * infi_tracing/analysis/_recover.py, which parses this layout) turns it into
 * a binary trace.
 *
 * Why the rings and not only the blocks: the drain lags by up to a few ms
 * under load, so the records still in the rings are the last ones before
 * the death -- the ones an operator wants.  The traced thread's hot path is
 * unchanged: it writes the same ring (now backed by the file's pages) and
 * publishes with the same release store of `head`, which now lives in the
 * file too.
 *
 * Ownership: one file per process (`it_ff`), created by Python (the path
 * rule of sinks/files.py) and handed over as an fd; the mapping is never
 * unmapped (rings in it may outlive the recorder).  A forked child replaces
 * the mapping in place (same address: every pointer into it stays valid)
 * by a file of its own before it writes anything (it_ff_fork_detach/attach).
 *
 * Layout (all little-endian, offsets in the header so the reader needs no
 * struct of the tracer):
 *   [0, 4096)  header (it_ff_header)
 *   codes      CODE chunks of it_binary.h, appended under the GIL, `code_len`
 *              published with a release store before any record naming them
 *   slots      nslots x IT_FF_SLOT (64-aligned): an it_ring struct (head, tail,
 *              conv_state at the offsets the header gives) + slot meta
 *   rings      nslots x ring_bytes: the rings' buffers
 *   blocks     nblocks x block_stride: it_flight_block (seq, pub, serial,
 *              data at the offsets the header gives)
 * Liveness: the writer holds flock(LOCK_SH) on the file; recover tries
 * LOCK_EX|LOCK_NB to tell a live writer from a dead one. */
#ifndef IT_FLIGHT_FILE_H
#define IT_FLIGHT_FILE_H

#include "it_binary.h"
#include "it_clock.h"
#include "it_ring.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#define IT_FF_MAGIC "INFIFLT1"
#define IT_FF_VERSION 1
#define IT_FF_HEADER 4096
#define IT_FF_SLOT 320          /* an it_ring (4 cache lines) + meta (one line) */
#define IT_FF_SLOT_META 256
#define IT_FF_SLOTS 16          /* threads whose rings live in the file */
#define IT_FF_CODES (4u << 20)  /* bytes of CODE chunks */
/* a block's `pub`: (ring end >> 3) in the high 47 bits, its length in the low 17 */
#define IT_FF_LEN_BITS 17

typedef struct {
    char magic[8];
    uint32_t version, header_size;
    int64_t pid;
    uint64_t file_size;
    uint64_t clock_tsc;             /* 1: ring records carry TSC ticks */
    int64_t wall_offset;            /* realtime - monotonic, ns */
    uint64_t calib0_ticks, calib0_ns;  /* a clock sample at creation */
    _Atomic uint64_t calib_seq;     /* calib[calib_seq & 1] is the latest sample */
    uint64_t calib[2][2];           /* (ticks, ns), written by the drain after each pass */
    uint64_t code_off, code_cap;
    _Atomic uint64_t code_len;
    uint64_t slots_off, nslots, slot_stride, slot_meta_off;
    uint64_t ring_head_off, ring_tail_off, ring_conv_off, ring_gid_off;
    uint64_t rings_off, ring_bytes;
    uint64_t blocks_off, nblocks, block_stride;
    uint64_t blk_seq_off, blk_pub_off, blk_serial_off, blk_data_off, blk_data_size;
    _Atomic uint64_t rings_outside;   /* rings that found no slot (their records are not here) */
    _Atomic uint64_t codes_outside;   /* code entries that found no room */
} it_ff_header;

typedef struct {
    _Atomic uint64_t state;   /* 1: in use (set after the rest) */
    int64_t tid;
    uint64_t serial;          /* the ring's serial: blocks name it with their `pub` */
    uint64_t buf_off, cap;
} it_ff_slot_meta;

_Static_assert(sizeof(it_ring) <= IT_FF_SLOT_META, "a ring's struct overlaps its slot's meta");
_Static_assert(sizeof(it_ff_slot_meta) <= IT_FF_SLOT - IT_FF_SLOT_META, "slot meta too big");

typedef struct it_ff {
    char *base;
    size_t size;
    int fd;
    it_ff_header *h;
    uint64_t ring_bytes, nslots, nblocks;
    size_t block_stride;
    uint64_t blk_layout[5];   /* it_flight_block's seq, pub, ring_serial, data offsets; data size */
    pthread_mutex_t mu;       /* slot allocation (once per thread, never the hot path) */
    uint64_t next_serial;     /* under mu */
    void *owner;              /* the it_flight whose blocks these are */
} it_ff;

/* The process's file, or NULL.  Set with the GIL; read by ring allocation
 * (GIL) and the drain (after the file exists it never changes but at fork). */
static it_ff *it_ff_cur;

static inline char *it_ff_slot(it_ff *ff, uint64_t i) {
    return ff->base + ff->h->slots_off + i * IT_FF_SLOT;
}
static inline it_ff_slot_meta *it_ff_meta(it_ff *ff, uint64_t i) {
    return (it_ff_slot_meta *)(it_ff_slot(ff, i) + IT_FF_SLOT_META);
}
static inline int it_ff_holds(const it_ff *ff, const void *p) {
    return ff && (const char *)p >= ff->base && (const char *)p < ff->base + ff->size;
}

static inline size_t it_ff_round(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* The file's geometry for `nblocks` blocks of `block_stride` bytes and
 * rings of `ring_bytes`. */
static inline size_t it_ff_size(uint64_t ring_bytes, uint64_t nblocks, size_t block_stride) {
    return IT_FF_HEADER + IT_FF_CODES + it_ff_round(IT_FF_SLOTS * IT_FF_SLOT, 4096) +
           IT_FF_SLOTS * ring_bytes + nblocks * block_stride;
}

/* Size `fd` up front (a full disk fails here, not at the first record) and
 * map it shared.  Returns 0 or an errno value. */
static int it_ff_map(int fd, size_t size, char *at, char **out) {
    if (ftruncate(fd, (off_t)size) != 0)
        return errno;
    int rc = posix_fallocate(fd, 0, (off_t)size);
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL)
        return rc;  /* ENOSPC: said now, not by a SIGBUS at a record */
    void *p = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
    if (p == MAP_FAILED)
        return errno;
    *out = p;
    return 0;
}

/* The header of a fresh file (the mapping is zeroed). */
static void it_ff_init_header(it_ff *ff) {
    it_ff_header *h = ff->h;
    memcpy(h->magic, IT_FF_MAGIC, 8);
    atomic_store(&h->code_len, 0);
    h->version = IT_FF_VERSION;
    h->header_size = IT_FF_HEADER;
    h->pid = (int64_t)getpid();
    h->file_size = ff->size;
    h->clock_tsc = (uint64_t)it_clock_tsc;
    h->wall_offset = (int64_t)(it_realtime_ns() - it_now_ns());
    it_clock_point p = it_clock_sample();
    h->calib0_ticks = h->calib[0][0] = p.ticks;
    h->calib0_ns = h->calib[0][1] = p.ns;
    h->code_off = IT_FF_HEADER;
    h->code_cap = IT_FF_CODES;
    h->slots_off = IT_FF_HEADER + IT_FF_CODES;
    h->nslots = ff->nslots;
    h->slot_stride = IT_FF_SLOT;
    h->slot_meta_off = IT_FF_SLOT_META;
    h->ring_head_off = offsetof(it_ring, head);
    h->ring_tail_off = offsetof(it_ring, tail);
    h->ring_conv_off = offsetof(it_ring, conv_state);
    h->ring_gid_off = offsetof(it_ring, drain_gid);
    h->rings_off = h->slots_off + it_ff_round(IT_FF_SLOTS * IT_FF_SLOT, 4096);
    h->ring_bytes = ff->ring_bytes;
    h->blocks_off = h->rings_off + IT_FF_SLOTS * ff->ring_bytes;
    h->nblocks = ff->nblocks;
    h->block_stride = ff->block_stride;
    h->blk_seq_off = ff->blk_layout[0];
    h->blk_pub_off = ff->blk_layout[1];
    h->blk_serial_off = ff->blk_layout[2];
    h->blk_data_off = ff->blk_layout[3];
    h->blk_data_size = ff->blk_layout[4];
}

/* Append registry entry `id` as a CODE chunk (GIL held: registry adds and
 * this are serialised by it).  The release store of code_len comes before
 * the hook publishes any record naming `id`. */
static void it_ff_add_code(uint32_t id) {
    it_ff *ff = it_ff_cur;
    if (!ff)
        return;
    char tmp[16384];
    it_out o = {tmp, 0, sizeof tmp};
    it_binary_code_chunk(&o, id, (long)ff->h->pid);
    uint64_t len = atomic_load_explicit(&ff->h->code_len, memory_order_relaxed);
    /* a full buffer: the chunk was cut (names longer than 16 KiB) */
    if (o.len >= sizeof tmp || len + o.len > ff->h->code_cap) {
        atomic_fetch_add_explicit(&ff->h->codes_outside, 1, memory_order_relaxed);
        return;
    }
    memcpy(ff->base + ff->h->code_off + len, tmp, o.len);
    atomic_store_explicit(&ff->h->code_len, len + o.len, memory_order_release);
}

static void it_ff_add_all_codes(void) {
    uint32_t n = it_registry_size();
    for (uint32_t id = 1; id <= n; id++)
        it_ff_add_code(id);
}

/* A ring in a free slot of the file (GIL held), or NULL: the caller then
 * takes ordinary memory (counted in rings_outside). */
static it_ring *it_ff_ring_new(uint64_t cap, long tid) {
    it_ff *ff = it_ff_cur;
    if (!ff)
        return NULL;
    if (cap != ff->ring_bytes) {
        atomic_fetch_add_explicit(&ff->h->rings_outside, 1, memory_order_relaxed);
        return NULL;
    }
    pthread_mutex_lock(&ff->mu);
    for (uint64_t i = 0; i < ff->nslots; i++) {
        it_ff_slot_meta *m = it_ff_meta(ff, i);
        if (atomic_load_explicit(&m->state, memory_order_relaxed))
            continue;
        it_ring *r = (it_ring *)it_ff_slot(ff, i);
        memset(r, 0, sizeof *r);
        r->buf = r->dbuf = ff->base + ff->h->rings_off + i * ff->ring_bytes;
        r->cap = r->dcap = cap;
        r->mask = r->dmask = cap - 1;
        r->tid = tid;
        r->conv.prev = it_clock_sample();
        r->in_file = 1;
        m->tid = tid;
        m->serial = ++ff->next_serial;
        m->buf_off = (uint64_t)(r->buf - ff->base);
        m->cap = cap;
        atomic_store_explicit(&m->state, 1, memory_order_release);
        pthread_mutex_unlock(&ff->mu);
        return r;
    }
    pthread_mutex_unlock(&ff->mu);
    atomic_fetch_add_explicit(&ff->h->rings_outside, 1, memory_order_relaxed);
    return NULL;
}

/* 1 when `r` should be replaced by a ring in the file (it was made before
 * the file, and a slot is free): GIL held. */
static int it_ff_wants(it_ring *r) {
    it_ff *ff = it_ff_cur;
    if (!ff || r->in_file || r->cap != ff->ring_bytes)
        return 0;
    for (uint64_t i = 0; i < ff->nslots; i++)
        if (!atomic_load_explicit(&it_ff_meta(ff, i)->state, memory_order_relaxed))
            return 1;
    return 0;
}

static inline uint64_t it_ff_ring_serial(const it_ring *r) {
    return ((const it_ff_slot_meta *)((const char *)r + IT_FF_SLOT_META))->serial;
}

/* The drain frees an exited thread's ring once empty: its slot is free again. */
static void it_ff_ring_free(it_ring *r) {
    it_ff_slot_meta *m = (it_ff_slot_meta *)((char *)r + IT_FF_SLOT_META);
    atomic_store_explicit(&m->state, 0, memory_order_release);
}

/* The drain, after a pass: a fresh clock sample, so recover converts the
 * TSC ticks of records still in a ring with a recent rate.  Written to the
 * slot not in use, then published by one store: never torn. */
static inline void it_ff_calibrate_now(it_ff *ff) {
    uint64_t seq = atomic_load_explicit(&ff->h->calib_seq, memory_order_relaxed) + 1;
    it_clock_point p = it_clock_sample();
    ff->h->calib[seq & 1][0] = p.ticks;
    ff->h->calib[seq & 1][1] = p.ns;
    atomic_store_explicit(&ff->h->calib_seq, seq, memory_order_release);
}

static inline void it_ff_calibrate(void) {
    if (it_ff_cur && it_ff_cur->h->clock_tsc)
        it_ff_calibrate_now(it_ff_cur);
}

/* Take over `fd` (already created 0600 by Python) as the process's file;
 * `blk_layout`: see it_ff.  Returns 0 or an errno value (the fd is the
 * caller's to close then). */
static int it_ff_open(int fd, uint64_t ring_bytes, uint64_t nblocks, size_t block_stride,
                      const uint64_t blk_layout[5]) {
    it_ff *ff = calloc(1, sizeof *ff);
    if (!ff)
        return ENOMEM;
    ff->fd = fd;
    ff->ring_bytes = ring_bytes;
    ff->nslots = IT_FF_SLOTS;
    ff->nblocks = nblocks;
    ff->block_stride = block_stride;
    memcpy(ff->blk_layout, blk_layout, sizeof ff->blk_layout);
    ff->size = it_ff_size(ring_bytes, nblocks, block_stride);
    pthread_mutex_init(&ff->mu, NULL);
    int rc = flock(fd, LOCK_SH | LOCK_NB) != 0 ? errno : 0;
    if (!rc)
        rc = it_ff_map(fd, ff->size, NULL, &ff->base);
    if (rc) {
        free(ff);
        return rc;
    }
    ff->h = (it_ff_header *)ff->base;
    it_ff_init_header(ff);
    /* a second sample 1 ms on: recover has a tick rate even if the process
     * dies before the drain's first pass (it_ff_calibrate) */
    usleep(1000);
    it_ff_calibrate_now(ff);
    it_ff_cur = ff;
    it_ff_add_all_codes();  /* codes registered before the file */
    it_registry_added = it_ff_add_code;
    it_ring_free_hook = it_ff_ring_free;
    it_ring_alloc_hook = it_ff_ring_new;
    return 0;
}

/* ---- fork --------------------------------------------------------------- */

/* In a forked child: replace the mapping, at the same address, by anonymous
 * memory (fd < 0) or by the child's own file, keeping what the child's rings
 * need: their structs and, with `keep_records`, the records between tail
 * and head of the live ones (a few at most: see it_ff_child_attach).
 * Without, every ring starts empty, as it_drain_after_fork_child makes it
 * anyway.  `rings`: every ring the child knows of (n of them).  Sets *err
 * to 0 or an errno value (the old mapping stays then). */
static void it_ff_replace(it_ff *ff, int fd, it_ring **rings, size_t n, int keep_records,
                          int *err) {
    it_ring *saved = calloc(n ? n : 1, sizeof(it_ring));
    char **pending = calloc(n ? n : 1, sizeof(char *));
    if (!saved || !pending) {
        free(saved);
        free(pending);
        *err = ENOMEM;
        if (fd < 0)
            abort();  /* the child would write the parent's file: never */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        it_ring *r = rings[i];
        if (!it_ff_holds(ff, r))
            continue;
        memcpy(&saved[i], r, sizeof(it_ring));
        uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);
        if (keep_records && !atomic_load(&r->dead) && head > tail &&
            (pending[i] = malloc(head - tail)))
            for (uint64_t pos = tail; pos < head; pos++)  /* bytes, wrapping: rarely any */
                pending[i][pos - tail] = r->buf[pos & r->mask];
    }
    char *p = NULL;
    int rc = 0;
    if (fd >= 0) {
        rc = it_ff_map(fd, ff->size, ff->base, &p);
    } else {
        p = mmap(ff->base, ff->size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        rc = p == MAP_FAILED ? errno : 0;
    }
    if (rc && fd < 0)
        abort();  /* the parent's file would be written by the child: never */
    *err = rc;
    /* a fresh mapping is zeroed (the child's file is opened with O_TRUNC);
     * on failure the anonymous one stays, header and codes as they are */
    if (!rc)
        it_ff_init_header(ff);
    for (size_t i = 0; i < n; i++) {
        it_ring *r = rings[i];
        if (!it_ff_holds(ff, r))
            continue;
        memcpy(r, &saved[i], sizeof(it_ring));
        uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);
        if (pending[i]) {
            for (uint64_t pos = tail; pos < head; pos++)
                r->buf[pos & r->mask] = pending[i][pos - tail];
            free(pending[i]);
        } else if (!rc) {  /* nothing of it kept: empty */
            atomic_store(&r->tail, head);
            atomic_store(&r->conv_state, head << 1);
            r->cached_tail = head;
            r->drain_gid = r->last_gid;
        }
        uint64_t slot = (uint64_t)((char *)r - (ff->base + ff->h->slots_off)) / IT_FF_SLOT;
        it_ff_slot_meta *m = it_ff_meta(ff, slot);
        m->tid = r->tid;
        m->serial = ++ff->next_serial;
        m->buf_off = (uint64_t)(r->buf - ff->base);
        m->cap = r->cap;
        atomic_store(&m->state, 1);
    }
    free(saved);
    free(pending);
}

/* In the child, before it touches the mapping: off the parent's file. */
static void it_ff_fork_detach(it_ring **rings, size_t n) {
    it_ff *ff = it_ff_cur;
    if (!ff)
        return;
    int err;
    it_ff_replace(ff, -1, rings, n, 0, &err);  /* the parent's records are the parent's */
    pthread_mutex_init(&ff->mu, NULL);
    close(ff->fd);  /* the parent's lock stays the parent's */
    ff->fd = -1;
}

/* In the child, once Python opened its own file `fd`: the mapping becomes
 * that file.  Returns 0 or an errno value (the child keeps the anonymous
 * mapping then: it works, nothing survives it). */
static int it_ff_fork_attach(int fd, it_ring **rings, size_t n) {
    it_ff *ff = it_ff_cur;
    if (!ff)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        return errno;
    int err;
    it_ff_replace(ff, fd, rings, n, 1, &err);
    if (err)
        return err;
    ff->fd = fd;
    usleep(1000);  /* a tick rate from the start (see it_ff_open) */
    it_ff_calibrate_now(ff);
    it_ff_add_all_codes();
    return 0;
}

#endif
