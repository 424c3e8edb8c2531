/* The state of a sink's slow-call retention (it_slow.h has the rules): the
 * settings, the open calls and held records of each thread-greenlet, the
 * output a batch produces, and the counters tracing_stats() reads.  The
 * "omitted" record's payload is defined here too (formatters and readers).
 *
 * Ownership: drain-private (a pass holds `sinks_mu`) but for the atomic
 * counters.  Memory: a greenlet's node (its frames and held records) is
 * freed when its last open call returns; the output buffer and the hash
 * buckets stay with the sink.  A failed allocation counts records lost
 * (never dropped silently) and sets `oom`.  No Python, no GIL. */
#ifndef IT_SLOW_STATE_H
#define IT_SLOW_STATE_H

#include "it_pair.h"
#include "it_registry.h"
#include "it_ring.h"
#include <stdatomic.h>

#define IT_SLOW_MAX_HELD_DEFAULT 100000u
#define IT_SLOW_NONE UINT64_MAX   /* a threshold never met */

/* Payload of an "omitted" record (after its it_record header); the header
 * carries the greenlet, the depth of the call whose children were left out
 * and the time of its exit; code_id is 0. */
typedef struct {
    uint64_t calls;
    int64_t wall_ns, active_ns;
} it_omitted_payload;

#define IT_OMITTED_SIZE ((uint32_t)(sizeof(it_record) + sizeof(it_omitted_payload)))

static inline const it_omitted_payload *it_omitted_of(const it_record *r) {
    return (const it_omitted_payload *)(r + 1);
}

typedef struct {
    uint64_t ts;             /* the call's time */
    uint64_t held_n_at;      /* the greenlet's held count before this call's record */
    uint64_t omitted_calls;
    int64_t omitted_wall, omitted_active;
    size_t held_off;         /* where its call record is held (while not emitted) */
    int32_t depth;
    uint8_t emitted, root;
} it_slow_frame;

typedef struct it_slow_g {
    long tid;
    uint32_t gid;
    struct it_slow_g *next;  /* hash chain */
    it_slow_frame *stack;
    uint32_t len, cap;
    char *held;              /* copied records, each 8-aligned with its size first */
    size_t held_len, held_cap;
    uint64_t held_n;         /* records among them */
    int root;                /* index+1 of the open root frame, 0: none */
} it_slow_g;

#define IT_SLOW_BUCKETS 1024u

typedef struct it_slow {
    /* settings (before the sink is installed) */
    uint64_t min_ns;         /* IT_SLOW_NONE: calls outside roots are never slow enough */
    uint64_t keep_ns;
    char *keep_glob;         /* NULL: no keep_slow rule */
    uint64_t max_held;
    /* drain-private */
    it_pair pair;            /* wall and active times (the one rule, it_pair.h) */
    it_slow_g *buckets[IT_SLOW_BUCKETS];
    it_slow_g *last;         /* the greenlet of the last record: most records follow one */
    it_slow_g *spare;        /* a freed node kept with its buffers: a loop of calls at the
                              * top of a greenlet empties and refills its node each call */
    uint8_t *match;          /* per code id: 0 unknown, 1 no, 2 yes (keep_glob) */
    size_t match_len;
    char *out;               /* records to write, in order */
    size_t out_len, out_cap;
    size_t *outs;            /* their offsets in `out` */
    int64_t *durs;           /* and their durations (exits, else -1) */
    size_t nout, cap_outs;
    int oom;
    /* for tracing_stats() */
    _Atomic uint64_t omitted, held, lost;
} it_slow;

static inline it_slow *it_slow_new(uint64_t min_ns, const char *keep_glob, uint64_t keep_ns,
                                   uint64_t max_held) {
    it_slow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->min_ns = min_ns;
    f->keep_ns = keep_ns;
    f->max_held = max_held ? max_held : IT_SLOW_MAX_HELD_DEFAULT;
    if (keep_glob && !(f->keep_glob = strdup(keep_glob))) {
        free(f);
        return NULL;
    }
    if (it_pair_init(&f->pair)) {
        free(f->keep_glob);
        free(f);
        return NULL;
    }
    return f;
}

static inline void it_slow_free_g(it_slow_g *g) {
    free(g->stack);
    free(g->held);
    free(g);
}

static inline void it_slow_free(it_slow *f) {
    if (!f)
        return;
    for (unsigned i = 0; i < IT_SLOW_BUCKETS; i++)
        for (it_slow_g *g = f->buckets[i], *next; g; g = next) {
            next = g->next;
            it_slow_free_g(g);
        }
    if (f->spare)
        it_slow_free_g(f->spare);
    it_pair_destroy(&f->pair);
    free(f->keep_glob);
    free(f->match);
    free(f->out);
    free(f->outs);
    free(f->durs);
    free(f);
}

static inline unsigned it_slow_hash(long tid, uint32_t gid) {
    uint64_t h = (uint64_t)tid * 0x9E3779B97F4A7C15ull ^ (uint64_t)gid * 0xC2B2AE3D27D4EB4Full;
    return (unsigned)(h >> 40) & (IT_SLOW_BUCKETS - 1);
}

static inline it_slow_g *it_slow_find(it_slow *f, long tid, uint32_t gid, int add) {
    if (f->last && f->last->tid == tid && f->last->gid == gid)
        return f->last;
    unsigned h = it_slow_hash(tid, gid);
    it_slow_g *g = f->buckets[h];
    while (g && !(g->tid == tid && g->gid == gid))
        g = g->next;
    if (!g && add) {
        if (f->spare) {
            g = f->spare;
            f->spare = NULL;
        } else if (!(g = calloc(1, sizeof *g))) {
            f->oom = 1;
            return NULL;
        }
        g->tid = tid;
        g->gid = gid;
        g->next = f->buckets[h];
        f->buckets[h] = g;
    }
    if (g)
        f->last = g;
    return g;
}

static inline void it_slow_drop_g(it_slow *f, it_slow_g *g) {
    it_slow_g **link = &f->buckets[it_slow_hash(g->tid, g->gid)];
    while (*link != g)
        link = &(*link)->next;
    *link = g->next;
    if (f->last == g)
        f->last = NULL;
    if (f->spare) {
        it_slow_free_g(g);
        return;
    }
    /* kept for the next greenlet: empty, with its frames' and held records' memory
     * (but not the memory a keep_slow root held: up to max_held records) */
    if (g->held_cap > (1u << 16)) {
        free(g->held);
        g->held = NULL;
        g->held_cap = 0;
    }
    g->len = 0;
    g->held_len = 0;
    g->held_n = 0;
    g->root = 0;
    g->next = NULL;
    f->spare = g;
}

/* Room for `n` more bytes in a growing buffer; 0 when memory ran out. */
static inline int it_slow_grow(char **buf, size_t *cap, size_t len, size_t n) {
    if (len + n <= *cap)
        return 1;
    size_t c = *cap ? *cap : 4096;
    while (c < len + n)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        return 0;
    *buf = p;
    *cap = c;
    return 1;
}

/* Appends a copy of `rec` to the output, with its duration.  A failed
 * allocation counts it lost (the caller's record is otherwise dropped). */
static inline void it_slow_out(it_slow *f, const it_record *rec, int64_t dur) {
    if (f->nout == f->cap_outs) {
        size_t c = f->cap_outs ? f->cap_outs * 2 : 1024;
        size_t *o = realloc(f->outs, c * sizeof *o);
        int64_t *d = o ? realloc(f->durs, c * sizeof *d) : NULL;
        if (o)
            f->outs = o;
        if (!d)
            goto fail;
        f->durs = d;
        f->cap_outs = c;
    }
    if (!it_slow_grow(&f->out, &f->out_cap, f->out_len, rec->size))
        goto fail;
    memcpy(f->out + f->out_len, rec, rec->size);
    f->outs[f->nout] = f->out_len;
    f->durs[f->nout++] = dur;
    f->out_len += rec->size;
    return;
fail:
    f->oom = 1;
    if (!it_event_is_notice(rec->event))
        atomic_fetch_add_explicit(&f->lost, 1, memory_order_relaxed);
}

static inline const it_record *it_slow_out_rec(const it_slow *f, size_t i) {
    return (const it_record *)(f->out + f->outs[i]);
}

/* A "lost N" notice in the output: `n` records of thread-greenlet `g` held
 * here were given up (counted by the caller). */
static inline void it_slow_out_lost(it_slow *f, uint64_t n, uint64_t ts) {
    it_record rec;
    it_record_lost(&rec, n, ts);
    it_slow_out(f, &rec, -1);
}

static inline void it_slow_hold(it_slow *f, it_slow_g *g, const it_record *rec) {
    if (!it_slow_grow(&g->held, &g->held_cap, g->held_len, rec->size)) {
        f->oom = 1;
        atomic_fetch_add_explicit(&f->lost, 1, memory_order_relaxed);
        return;
    }
    memcpy(g->held + g->held_len, rec, rec->size);
    g->held_len += rec->size;
    g->held_n++;
    atomic_fetch_add_explicit(&f->held, 1, memory_order_relaxed);
}

/* Forgets the held records from byte `off` (record count `n_at` there) on. */
static inline uint64_t it_slow_truncate(it_slow *f, it_slow_g *g, size_t off, uint64_t n_at) {
    uint64_t n = g->held_n - n_at;
    g->held_len = off;
    g->held_n = n_at;
    atomic_fetch_sub_explicit(&f->held, n, memory_order_relaxed);
    return n;
}

/* Writes the held records from byte `off` to the end, in order. */
static inline void it_slow_release(it_slow *f, it_slow_g *g, size_t off) {
    for (size_t p = off; p < g->held_len; p += ((const it_record *)(g->held + p))->size)
        it_slow_out(f, (const it_record *)(g->held + p), -1);
}

#endif
