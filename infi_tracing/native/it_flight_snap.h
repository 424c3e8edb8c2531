/* A flight-recorder snapshot: the recorder's blocks are detached under the
 * drain's lock (it_flight_detach: moving list heads, no copy), written as a
 * binary trace with no lock and no GIL (it_flight_write), then given back
 * under the lock as the older part of the past (it_flight_reattach).  So
 * the drain is held for microseconds whatever the window's size, and no
 * traced thread ever waits for the snapshot (they only write their rings).
 * Meanwhile the recorder goes on in new blocks; its bound grows by the
 * blocks out (the memory a copy would take), and shrinks back, oldest
 * first, when they return.  A thread whose new blocks had to be taken back
 * meanwhile would have a hole between the two parts: its returned blocks
 * are dropped then (counted as wrapped), so what remains is contiguous.
 *
 * The window: records of the last `window_ns`, cut further to the stretch
 * every thread covers -- a thread that wrapped (lost its oldest blocks)
 * covers only from its oldest block on, so nothing before that is written
 * for any thread; otherwise a quiet thread's old calls would look like the
 * whole story beside a busy thread's last milliseconds.  Each thread with
 * records left out (taken back, older than the cut, or dropped) starts
 * with a `lost` record counting them: nothing looks complete that is not. */
#ifndef IT_FLIGHT_SNAP_H
#define IT_FLIGHT_SNAP_H

#include "it_flight.h"
#include "it_writev.h"

typedef struct {
    it_flight_thread *thread;   /* the recorder's entry (kept while blocks are out) */
    long tid;
    uint64_t left_out;          /* records before the window, taken back or dropped */
    uint64_t wrapped_at;        /* the thread's `wrapped` when detached */
    it_flight_block *head, *last;  /* its detached blocks, oldest first */
    it_flight_block *open;         /* the one of them being filled then (not on the FIFO) */
    size_t nblocks;
} it_flight_snap_thread;

typedef struct {
    uint64_t cut;               /* ns: nothing before it is written */
    long pid;
    it_flight_snap_thread *threads;
    size_t nthreads;
    it_flight_block *fifo_head, *fifo_tail;  /* the detached closed blocks, in order */
    uint8_t *codes;             /* copy of the code-id bitmap */
    size_t codes_bytes;
    size_t nblocks;             /* detached */
    uint64_t records, bytes;    /* written, counted by it_flight_write */
} it_flight_snap;

static inline size_t it_flight_round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* With sinks_mu held.  Returns 0 or ENOMEM (nothing detached then). */
static int it_flight_detach(it_flight *f, long pid, it_flight_snap *s) {
    memset(s, 0, sizeof *s);
    s->pid = pid;
    uint64_t now = it_now_ns();
    uint64_t cut = now > f->window_ns ? now - f->window_ns : 0;
    for (size_t i = 0; i < f->nthreads; i++) {
        it_flight_thread *t = f->threads[i];
        if (t->wrapped && t->head && t->head->first_ts > cut)
            cut = t->head->first_ts;
    }
    s->cut = cut;
    s->threads = calloc(f->nthreads ? f->nthreads : 1, sizeof *s->threads);
    s->codes = malloc(f->codes->seen_bytes ? f->codes->seen_bytes : 1);
    if (!s->threads || !s->codes) {
        free(s->threads);
        free(s->codes);
        return ENOMEM;
    }
    memcpy(s->codes, f->codes->seen, f->codes->seen_bytes);
    s->codes_bytes = f->codes->seen_bytes;
    for (size_t i = 0; i < f->nthreads; i++) {
        it_flight_thread *t = f->threads[i];
        if (!t->head)
            continue;
        it_flight_snap_thread *st = &s->threads[s->nthreads++];
        st->thread = t;
        st->tid = t->tid;
        st->left_out = t->wrapped + t->dropped;
        st->wrapped_at = t->wrapped;
        st->head = t->head;
        st->last = t->newest;
        st->open = t->open;
        for (it_flight_block *b = t->head; b; b = b->next)
            st->nblocks++;
        s->nblocks += st->nblocks;
        t->head = t->newest = t->open = NULL;  /* its next record opens a new block */
    }
    s->fifo_head = f->fifo_head;
    s->fifo_tail = f->fifo_tail;
    f->fifo_head = f->fifo_tail = NULL;
    f->detached += s->nblocks;
    f->snapshots++;
    return 0;
}

/* With sinks_mu held: the snapshot's blocks go back to their threads, in
 * front of what was recorded meanwhile, then the recorder shrinks back to
 * its bound (oldest blocks first).  Frees the snapshot's own memory. */
static void it_flight_reattach(it_flight *f, it_flight_snap *s) {
    for (size_t i = 0; i < s->nthreads; i++) {
        it_flight_snap_thread *st = &s->threads[i];
        st->thread->discard = st->thread->wrapped != st->wrapped_at;
    }
    /* the FIFO: returned closed blocks, returned open blocks, then the new ones */
    it_flight_block *now_head = f->fifo_head;
    it_flight_block *now_tail = f->fifo_tail;
    f->fifo_head = f->fifo_tail = NULL;
    for (it_flight_block *b = s->fifo_head, *next; b; b = next) {
        next = b->fnext;
        if (!b->owner->discard)
            it_flight_close_block(f, b);
    }
    for (size_t i = 0; i < s->nthreads; i++) {
        it_flight_snap_thread *st = &s->threads[i];
        if (!st->thread->discard && st->open)
            it_flight_close_block(f, st->open);  /* closed now: the newer blocks follow */
    }
    if (now_head) {
        if (f->fifo_tail)
            f->fifo_tail->fnext = now_head;
        else
            f->fifo_head = now_head;
        f->fifo_tail = now_tail;
    }
    for (size_t i = 0; i < s->nthreads; i++) {
        it_flight_snap_thread *st = &s->threads[i];
        it_flight_thread *t = st->thread;
        if (t->discard) {
            for (it_flight_block *b = st->head, *next; b; b = next) {
                next = b->next;
                t->wrapped += b->records + b->ring_dropped;
                f->evicted += b->records;
                it_flight_block_free(f, b);
                f->nblocks--;
            }
        } else {
            st->last->next = t->head;
            t->head = st->head;
            if (!t->newest)
                t->newest = st->last;
        }
        t->discard = 0;
    }
    f->detached -= s->nblocks;
    while (f->nblocks > f->max_blocks + f->detached) {
        it_flight_block *b = it_flight_evict_oldest(f);
        if (!b)
            break;
        it_flight_block_free(f, b);
        f->nblocks--;
    }
    free(s->threads);
    free(s->codes);
    memset(s, 0, sizeof *s);
}

/* ---- writing (no lock, no GIL) ---------------------------------------- */

/* The snapshot's pieces go out gathered (it_writev.h): the blocks where they
 * lie, and what is made for the file (CODE chunks, each thread's first
 * chunk) from an arena that is reused once what it holds is written. */
enum {
    IT_FLIGHT_ARENA = 512 * 1024,
    IT_FLIGHT_PIECE = 2 * IT_FLIGHT_BLOCK,  /* room for a first chunk, or a CODE chunk */
};

typedef struct {
    it_writev w;
    size_t used;                     /* arena bytes queued */
    char arena[IT_FLIGHT_ARENA];
} it_flight_out;

/* Where the next made piece goes: IT_FLIGHT_PIECE bytes of the arena (what
 * is queued is written first when the arena is short of them). */
static inline char *it_flight_room(it_flight_out *o) {
    if (IT_FLIGHT_ARENA - o->used < IT_FLIGHT_PIECE) {
        it_writev_flush(&o->w);
        o->used = 0;
    }
    return o->arena + o->used;
}

/* The piece made at it_flight_room() is `len` bytes: queue it. */
static inline void it_flight_made(it_flight_out *o, size_t len) {
    it_writev_add(&o->w, o->arena + o->used, len);
    o->used += len;
}

static inline const char *it_flight_varint(const char *p, const char *end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t byte = (uint8_t)*p++;
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;  /* our own blocks: cannot happen, but never read past them */
}

/* One entry of a block we packed: its record's time and kind, the running
 * state after it (`st`), whether it is raw (changes no state), and the
 * records it accounts for (`stands_for`, it_flight_stands_for).  Returns
 * the next entry, or NULL at the end. */
static const char *it_flight_entry(const char *p, const char *end, it_packed_state *st,
                                   uint64_t *ts, int *is_record, int *raw,
                                   uint64_t *stands_for) {
    if (p >= end || !*p)
        return NULL;
    uint8_t tag = (uint8_t)*p++;
    if (tag & 0x10) {
        it_record rec;
        memcpy(&rec, p, sizeof rec);
        *ts = rec.ts;
        *is_record = !it_event_is_notice(rec.event);
        *stands_for = it_flight_stands_for(&rec);
        *raw = 1;
        return p + rec.size;
    }
    uint64_t code, dts, zz, g;
    if (!(p = it_flight_varint(p, end, &code)) || !(p = it_flight_varint(p, end, &dts)) ||
        !(p = it_flight_varint(p, end, &zz)))
        return NULL;
    if (tag & 0x08) {
        if (!(p = it_flight_varint(p, end, &g)))
            return NULL;
        st->greenlet = (uint32_t)g;
    }
    st->ts += dts;
    st->depth += (int32_t)((zz >> 1) ^ (~(zz & 1) + 1));
    *ts = st->ts;
    *is_record = 1;
    *stands_for = 1;
    *raw = 0;
    return p;
}

/* The records of the first block of a thread at or after the cut, as a
 * chunk in `out` (room: a block + a lost entry + a re-encoded entry): the
 * `lost` entry first when `left_out` (plus what the cut leaves out) is not
 * zero.  The first packed entry kept is re-encoded against a zero state;
 * the entries after it are copied as they are (their deltas hold). */
static size_t it_flight_first_chunk(const char *data, size_t len, uint64_t records,
                                    uint64_t cut, uint64_t left_out, char *out,
                                    uint64_t *written) {
    const char *p = data + IT_FLIGHT_HEAD, *end = data + len;
    it_packed_state st = {0, 0, 0};
    uint64_t ts = 0, skipped = 0, skipped_for = 0, stands_for = 0;
    int is_record = 0, raw = 0;
    const char *entry = p, *next;
    /* skip what is before the cut */
    while ((next = it_flight_entry(entry, end, &st, &ts, &is_record, &raw, &stands_for)) &&
           ts < cut) {
        skipped += is_record;
        skipped_for += stands_for;  /* and the ring's drops its notices report */
        entry = next;
    }
    left_out += skipped_for;
    *written += records - skipped;  /* the block's `records` counts every entry kept */
    memcpy(out, data, IT_FLIGHT_HEAD);
    char *q = out + IT_FLIGHT_HEAD;
    uint64_t first_ts = next ? ts : cut;
    if (left_out) {
        it_record lost;
        it_record_lost(&lost, left_out, first_ts);
        *q++ = (char)(IT_EV_LOST | 0x10);
        memcpy(q, &lost, sizeof lost);
        q += sizeof lost;
    }
    /* raw entries up to the first packed one go as they are; the packed one
     * is re-encoded whole (`st` is the state after it), the rest copied */
    while (next) {
        if (raw) {
            memcpy(q, entry, (size_t)(next - entry));
            q += next - entry;
            entry = next;
            next = it_flight_entry(entry, end, &st, &ts, &is_record, &raw, &stands_for);
            continue;
        }
        it_packed_state zero = {0, 0, 0};
        it_record rec;
        uint64_t code = 0;
        memset(&rec, 0, sizeof rec);
        it_flight_varint(entry + 1, end, &code);
        rec.size = sizeof rec;
        rec.event = (uint16_t)(*entry & 7);
        rec.code_id = (uint32_t)code;
        rec.greenlet_id = st.greenlet;
        rec.ts = st.ts;
        rec.depth = st.depth;
        q = it_packed_put(q, &zero, &rec);
        memcpy(q, next, (size_t)(end - next));
        q += end - next;
        break;
    }
    size_t clen = (size_t)(q - out);
    size_t padded = it_flight_round8(clen);
    memset(q, 0, padded - clen);
    ((it_bin_chunk *)out)->length = (uint32_t)(padded - sizeof(it_bin_chunk));
    return padded;
}

/* The detached snapshot as a binary trace on `fd`, no lock held: the drain
 * never touches detached blocks.  Returns 0 or an errno value. */
static int it_flight_write(it_flight_snap *s, int fd) {
    it_flight_out *o = malloc(sizeof *o);
    if (!o)
        return ENOMEM;
    it_writev_init(&o->w, fd);
    o->used = 0;
    it_writev_add(&o->w, IT_BIN_MAGIC, 8);
    /* CODE chunks of every code the blocks name (registry entries are never
     * freed or changed: read without a lock) */
    for (size_t byte = 0; !o->w.rc && byte < s->codes_bytes; byte++)
        for (int bit = 0; bit < 8 && s->codes[byte]; bit++)
            if (s->codes[byte] & (1u << bit)) {
                it_out c = {it_flight_room(o), 0, IT_FLIGHT_PIECE};
                it_binary_code_chunk(&c, (uint32_t)(byte * 8 + bit), s->pid);
                it_flight_made(o, c.len);
            }
    for (size_t i = 0; !o->w.rc && i < s->nthreads; i++) {
        it_flight_snap_thread *t = &s->threads[i];
        it_flight_block *b = t->head;
        uint64_t left_out = t->left_out;
        for (; b && (!b->first_ts || b->last_ts < s->cut); b = b->next)
            left_out += b->records + b->ring_dropped;  /* wholly before the window */
        if (b && (b->first_ts < s->cut || left_out)) {
            size_t n = it_flight_first_chunk(b->data, b->len, b->records, s->cut, left_out,
                                             it_flight_room(o), &s->records);
            it_flight_made(o, n);
            s->bytes += n;
            b = b->next;
        }
        for (; b; b = b->next) {
            if (!b->first_ts)
                continue;  /* opened, nothing in it yet */
            /* the block is the chunk: pad and length in place (room: see
             * it_flight_batch), written from where it lies */
            size_t padded = it_flight_round8(b->len);
            memset(b->data + b->len, 0, padded - b->len);
            ((it_bin_chunk *)b->data)->length = (uint32_t)(padded - sizeof(it_bin_chunk));
            it_writev_add(&o->w, b->data, padded);
            s->records += b->records;
            s->bytes += padded;
        }
    }
    int rc = it_writev_flush(&o->w);
    free(o);
    return rc;
}

#endif
