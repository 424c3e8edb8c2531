/* Stress test of the per-thread ring (infi_tracing/native/it_ring.h), meant
 * to be built with -fsanitize=thread: one producer thread and one drain
 * thread hammer a small ring, so records wrap around the end (PAD records)
 * thousands of times, with sizes from a bare header to a quarter of the ring.
 *
 * The ring primitives are the real ones (it_ring_new/reserve/commit/free,
 * the drop accounting it_ring_count_drop and it_ring_emit_lost, the compact
 * record's it_compact_word / it_record_is_compact / it_compact_expand, and
 * the fields the drain uses).  The producer's emit loop and the drain's walk are
 * copied from it_hook.h (it_emit, it_overflow) and it_drain.h (it_drain_ring,
 * it_drain_report_pending_lost), which need a live interpreter; keep them in
 * step.
 *
 * Checks, per mode:
 *  - every record lies inside the buffer, its size is a multiple of 8, its
 *    payload is intact (a pattern derived from its sequence number: a torn
 *    or overwritten record fails), sequence numbers only grow;
 *  - records without payload are 16-byte compact records whenever their
 *    "greenlet" (it changes every 64 records) is the last full record's, as
 *    in it_emit; expanded with the greenlet the drain followed, every record
 *    names its own, also when the full record of a greenlet change was
 *    dropped;
 *  - block: every record arrives, in order, none lost;
 *  - drop: the drain also claims pending drops now and then as a flush
 *    does, racing the producer's own LOST records; at the end records
 *    delivered + drops reported (in the stream and claimed) == records
 *    produced, and reported drops == the producer's lost_total: each drop
 *    reported exactly once.
 * ThreadSanitizer reports any access the ring's release/acquire pairs do not
 * order.  Exit status 0 when every check passed.
 *
 * Usage: ring_stress [records [ring_bytes]] */
#include "it_ring.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define PAYLOAD_MAX 1000u  /* plus the header: at most a quarter of a 4 KiB ring */

typedef struct {
    it_ring *r;
    uint64_t n;           /* records to produce */
    int block;
    _Atomic int done;     /* producer finished: like it_ring_mark_dead */
    _Atomic int broken;   /* the drain cannot walk the ring any more: both stop */
    /* drain results */
    uint64_t delivered, compact, lost_in_stream, lost_claimed, pads, errors;
} stress;

/* Deterministic per-sequence size and payload, so the drain can check both. */
static uint32_t payload_len(uint64_t seq) {
    uint64_t x = seq * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    uint32_t len = (uint32_t)(x % (PAYLOAD_MAX + 1));
    return seq % 7 == 0 ? 0 : len;  /* plenty of bare headers too */
}

static char payload_byte(uint64_t seq, uint32_t i) { return (char)((seq * 31 + i * 7) & 0xff); }

/* The "greenlet" a record belongs to: it changes every 64 records, so
 * compact records follow full ones that switch greenlets. */
static uint32_t greenlet_of(uint64_t seq) { return (uint32_t)(seq / 64); }

/* A drop costs the producer nothing, so it would outrun the drain for good
 * and the ring would hardly move.  A traced program does work between
 * records: here, after a few drops in a row, the producer lets the drain
 * empty half the ring, so the ring keeps wrapping with drops and LOST
 * records between runs of delivered records. */
static void drop(stress *s, uint64_t drops) {
    it_ring_count_drop(s->r);
    if (drops % 3 == 0)
        while (it_ring_used(s->r) > s->r->cap / 2 && !atomic_load(&s->broken))
            sched_yield();
}

static void *producer(void *arg) {
    stress *s = arg;
    it_ring *r = s->r;
    uint64_t drops = 0;
    for (uint64_t seq = 0; seq < s->n && !atomic_load(&s->broken); seq++) {
        uint32_t plen = payload_len(seq);
        uint32_t size = IT_ROUND_UP((uint32_t)sizeof(it_record) + plen);
        if (atomic_load_explicit(&r->lost_pending, memory_order_relaxed) && !it_ring_emit_lost(r)) {
            drop(s, ++drops);  /* still full: this record is dropped too */
            continue;
        }
        int compact = plen == 0 && greenlet_of(seq) == r->last_gid;  /* it_emit's rule */
        if (compact)
            size = IT_COMPACT_SIZE;
        it_record *rec = (it_record *)it_ring_reserve(r, size);
        while (!rec && s->block && !atomic_load(&s->broken)) {
            sched_yield();  /* the real producer sleeps 50 us with the GIL released */
            rec = (it_record *)it_ring_reserve(r, size);
        }
        if (!rec) {
            drop(s, ++drops);
            continue;
        }
        if (compact) {
            uint64_t *c = (uint64_t *)rec;
            c[0] = it_compact_word(IT_EV_CALL, 0, (uint32_t)seq);
            c[1] = seq;
            it_ring_commit(r, size);
            continue;
        }
        r->last_gid = greenlet_of(seq);  /* once the record is in the ring */
        rec->size = size;
        rec->event = IT_EV_CALL;
        rec->nvalues = 0;
        rec->code_id = (uint32_t)seq;
        rec->greenlet_id = greenlet_of(seq);
        rec->ts = seq;
        rec->depth = (int32_t)plen;
        rec->reserved = 0;
        char *p = (char *)(rec + 1);
        for (uint32_t i = 0; i < plen; i++)
            p[i] = payload_byte(seq, i);
        it_ring_commit(r, size);
    }
    atomic_store_explicit(&s->done, 1, memory_order_release);
    return NULL;
}

static void fail(stress *s, const char *what, uint64_t pos, uint64_t a, uint64_t b) {
    if (s->errors++ < 10)
        fprintf(stderr, "ring_stress: %s at ring position %" PRIu64 ": %" PRIu64 " vs %" PRIu64 "\n",
                what, pos, a, b);
}

/* it_drain_ring: everything up to the head seen now, then release the tail. */
static size_t drain_once(stress *s, uint64_t *next_seq) {
    it_ring *r = s->r;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t n = 0;
    uint64_t pos = tail;
    uint32_t gid = r->drain_gid;
    it_record whole;
    while (pos < head) {
        uint64_t off = pos & r->mask;
        const it_record *rec = (const it_record *)(r->buf + off);
        int compact = it_record_is_compact(rec);
        uint32_t size = compact ? IT_COMPACT_SIZE : rec->size;
        if (size < 8 || size % 8 || off + size > r->cap || pos + size > head) {
            fail(s, "bad record size", pos, size, r->cap - off);
            atomic_store(&s->broken, 1);  /* cannot walk on */
            return 0;
        }
        pos += size;
        if (compact) {  /* before any look at `event`: a compact record has none there */
            it_compact_expand((const it_compact *)rec, gid, &whole);
            rec = &whole;
        } else if (rec->event == IT_EV_PAD) {
            s->pads++;
            continue;
        } else if (rec->event != IT_EV_LOST) {
            gid = rec->greenlet_id;
        }
        if (rec->event == IT_EV_LOST) {
            if (s->block)
                fail(s, "LOST record in block mode", pos, rec->count, 0);
            s->lost_in_stream += rec->count;
            atomic_fetch_add_explicit(&r->lost_in_stream, rec->count, memory_order_relaxed);
            continue;
        }
        uint64_t seq = rec->ts;
        uint32_t plen = payload_len(seq);
        if (rec->event != IT_EV_CALL || rec->code_id != (uint32_t)seq ||
            rec->depth != (int32_t)plen || (compact && plen) ||
            (!compact && size != IT_ROUND_UP((uint32_t)sizeof(it_record) + plen))) {
            fail(s, "corrupt record header", pos, seq, rec->code_id);
            continue;
        }
        if (rec->greenlet_id != greenlet_of(seq))
            fail(s, compact ? "compact record in the wrong greenlet" : "wrong greenlet", pos, seq,
                 rec->greenlet_id);
        if (compact)
            s->compact++;
        if (s->block ? seq != *next_seq : seq < *next_seq)
            fail(s, "sequence out of order", pos, seq, *next_seq);
        /* In the stream, drops before this record are reported no later
         * than it (claims by the drain may report them earlier). */
        if (s->lost_in_stream > seq - s->delivered)
            fail(s, "more drops reported than happened", pos, s->lost_in_stream,
                 seq - s->delivered);
        const char *p = (const char *)(rec + 1);
        for (uint32_t i = 0; i < plen; i++) {
            if (p[i] != payload_byte(seq, i)) {
                fail(s, "payload overwritten", pos, seq, i);
                break;
            }
        }
        *next_seq = seq + 1;
        s->delivered++;
        n++;
    }
    r->drain_gid = gid;  /* with tail, as it_drain_ring does */
    /* release: done reading these bytes before the producer reuses them */
    atomic_store_explicit(&r->tail, pos, memory_order_release);
    atomic_fetch_add_explicit(&r->drained, n, memory_order_relaxed);
    return n;
}

/* it_drain_report_pending_lost: a flush, or the producer has exited. */
static void claim_pending(stress *s) {
    s->lost_claimed += atomic_exchange_explicit(&s->r->lost_pending, 0, memory_order_relaxed);
}

static void *drain(void *arg) {
    stress *s = arg;
    uint64_t next_seq = 0, passes = 0;
    for (;;) {
        /* done before the pass: a final pass after it sees every commit */
        int done = atomic_load_explicit(&s->done, memory_order_acquire);
        size_t n = drain_once(s, &next_seq);
        if (++passes % 256 == 0 && !s->block)
            claim_pending(s);  /* a flush racing the producer */
        if (atomic_load(&s->broken))
            break;
        if (done) {
            drain_once(s, &next_seq);
            claim_pending(s);
            break;
        }
        /* Nothing to read: give the core to the producer (block mode: it
         * may be waiting for room), in drop mode only now and then so the
         * ring fills up and overflows. */
        if (!n && (s->block || passes % 16 == 0))
            sched_yield();
    }
    return NULL;
}

static int run(uint64_t n, uint64_t cap, int block) {
    stress s;
    memset(&s, 0, sizeof s);
    s.r = it_ring_new(cap, 1);
    s.n = n;
    s.block = block;
    if (!s.r) {
        fprintf(stderr, "ring_stress: out of memory\n");
        return 1;
    }
    pthread_t pt, dt;
    if (pthread_create(&dt, NULL, drain, &s) || pthread_create(&pt, NULL, producer, &s)) {
        fprintf(stderr, "ring_stress: pthread_create failed\n");
        return 1;
    }
    pthread_join(pt, NULL);
    pthread_join(dt, NULL);
    if (atomic_load(&s.broken)) {
        fprintf(stderr, "ring_stress %s: the ring could not be walked\n", block ? "block" : "drop");
        return 1;
    }
    uint64_t lost_total = it_counter(&s.r->lost_total);
    uint64_t reported = s.lost_in_stream + s.lost_claimed;
    if (s.delivered + reported != n)
        fail(&s, "delivered + reported drops != produced", 0, s.delivered + reported, n);
    if (reported != lost_total)
        fail(&s, "reported drops != lost_total", 0, reported, lost_total);
    if (it_counter(&s.r->lost_in_stream) != s.lost_in_stream)
        fail(&s, "lost_in_stream counter", 0, it_counter(&s.r->lost_in_stream), s.lost_in_stream);
    if (n >= 100000 && !s.compact)
        fail(&s, "no compact records were written", 0, s.compact, n);
    if (!block && n >= 100000 && (!s.delivered || !s.lost_in_stream || !s.pads))
        fail(&s, "drop mode did not exercise delivery, LOST records and wraps", 0, s.delivered,
             s.lost_in_stream);
    if (block && (lost_total || s.delivered != n))
        fail(&s, "block mode lost records", 0, lost_total, n - s.delivered);
    if (it_ring_used(s.r))
        fail(&s, "ring not empty at the end", 0, it_ring_used(s.r), 0);
    printf("ring_stress %s: %" PRIu64 " records into a %" PRIu64 "-byte ring: %" PRIu64
           " delivered (%" PRIu64 " compact), %" PRIu64 " lost (%" PRIu64 " reported in the"
           " stream, %" PRIu64 " claimed by the drain), %" PRIu64 " pads at the wrap, %" PRIu64
           " errors\n", block ? "block" : "drop", n, cap, s.delivered, s.compact, lost_total,
           s.lost_in_stream, s.lost_claimed, s.pads, s.errors);
    it_ring_free(s.r);
    return s.errors != 0;
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    uint64_t cap = argc > 2 ? strtoull(argv[2], NULL, 10) : 4096;
    printf("ring_stress: record clock %s\n", it_clock_init());  /* as the extension does */
    if (cap < 4096 || (cap & (cap - 1))) {
        fprintf(stderr, "ring_stress: ring_bytes must be a power of two >= 4096\n");
        return 2;
    }
    int rc = run(n, cap, 1);
    rc |= run(n, cap, 0);
    if (!rc)
        printf("ring_stress: all checks passed\n");
    return rc;
}
