/* Perfetto protobuf writer: records as a Perfetto `Trace`, a stream of
 * length-delimited TracePackets (field 1 of Trace), so any prefix made of
 * whole packets is itself a valid trace.  Shared by the live sink
 * (it_sink_pftrace.h, the drain thread, no GIL) and `decode --format
 * perfetto-proto` (the reader).  No Python, no lock: one owner at a time.
 *
 * Layout (the packets themselves: it_pft_packets.h):
 *  - tracks: a process track (ProcessDescriptor pid), one thread track per
 *    (pid, tid) (ThreadDescriptor, which Perfetto nests under its process),
 *    one track per greenlet (name "greenlet N", parent_uuid = its thread's
 *    track).  Track uuids are a hash of (kind, pid, tid, greenlet): the same
 *    track always gets the same uuid, so a descriptor written twice (after
 *    the state below was dropped) is harmless and nothing needs remembering.
 *  - one packet sequence (trusted_packet_sequence_id) per greenlet, plus
 *    one per thread for its "lost N" instants.  Its first packet clears the
 *    incremental state (SEQ_INCREMENTAL_STATE_CLEARED) and sets the
 *    defaults: track_event_defaults.track_uuid = the greenlet's track, and
 *    timestamp_clock_id = 64, a sequence-scoped incremental clock whose
 *    ClockSnapshot ties it to CLOCK_MONOTONIC (the trace's clock, named
 *    primary in the file's first snapshot) and CLOCK_REALTIME (wall time).
 *    Why per greenlet: an event packet then names neither its track nor
 *    an absolute time: a call is
 *    2 (packet) + 2-3 (time delta) + 2 (sequence) + 2 (TrackEvent) + 2
 *    (type) + 2 (name_iid) = 12-13 bytes, a return 10-11, about 1/8 of the
 *    same events in Perfetto's JSON.  SEQ_NEEDS_INCREMENTAL_STATE is not
 *    set on event packets: it would add 2 bytes to each (18%), and Perfetto
 *    reads it only to skip packets after a loss it detected, which a file
 *    written whole, packet by packet, never has.
 *  - names: InternedData.event_names (iid = the function's id: the live
 *    registry's code id, the reader's function index), interned once per
 *    sequence before its first use; TrackEvent.name_iid refers to it.
 *  - calls and resumes are TYPE_SLICE_BEGIN, returns, exception unwinds and
 *    yields TYPE_SLICE_END; "lost N" is a TYPE_INSTANT "lost N records" on
 *    the thread's track, a log record a TYPE_INSTANT "LEVEL logger: message"
 *    on its greenlet's track.  Values (arguments, return values) are not
 *    written: jsonl has them.
 *
 * Slices must nest on a track, and Perfetto closes the innermost open slice
 * at each END, so an END whose BEGIN is not in the trace would close the
 * wrong one.  Each sequence keeps the depths of the slices it opened and
 * pairs by depth as it_pair.h does (an exit closes the open entry of its
 * depth; no open entry of that depth: the exit started before the trace and
 * is left out).  What the pairing drops cannot be left open here, since its
 * BEGIN is written: it is ended where it is found orphaned, with a debug
 * annotation "cut" saying why (its exit was lost, records of the thread
 * were lost, or the trace ended first), so no slice claims a duration it
 * did not have without saying so.
 *
 * Memory: one slot per greenlet with open slices or recent events; slots
 * with nothing open are dropped when the table fills (their next event
 * starts a new sequence, and their ids are reused), so a million
 * short-lived greenlets leave nothing behind.
 *
 * Writing: each step (a new sequence, an interned name, an event, one
 * cut) checks it has IT_PFT_STEP_MAX bytes of room first; out of room,
 * a call returns IT_PFT_FULL having done only whole steps, and is called
 * again for the same record once the buffer was written out. */
#ifndef IT_PFTRACE_H
#define IT_PFTRACE_H

#include "it_events.h"
#include "it_pft_packets.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { IT_PFT_DONE = 0, IT_PFT_FULL = 1 };

typedef struct it_pft {
    it_pft_seq *slots;      /* open addressing, linear probing */
    uint32_t cap, used;     /* cap: a power of two */
    uint32_t next_seq;      /* the next sequence id never used */
    uint32_t *free_seq;     /* ids of sequences ended (their slots dropped), to reuse: a new
                             * sequence clears the state, and small ids keep packets small
                             * however many greenlets a server goes through */
    uint32_t nfree, capfree;
    int64_t wall_offset;    /* realtime - monotonic, for the clock snapshots */
    uint64_t max_ts;        /* the latest time seen: where unfinished slices end */
    it_pft_seq *last;       /* the last slot used (consecutive records share it) */
    int primary_set;        /* the file's first clock snapshot named the trace's clock */
    int oom;                /* an allocation failed: some state was dropped */
} it_pft;

/* ---- tracks and sequences -------------------------------------------- */

static inline int it_pft_init(it_pft *e, int64_t wall_offset) {
    memset(e, 0, sizeof *e);
    e->cap = 256;
    e->slots = calloc(e->cap, sizeof *e->slots);
    e->next_seq = 1;
    e->wall_offset = wall_offset;
    return e->slots ? 0 : -1;
}

static inline void it_pft_slot_free(it_pft_seq *s) {
    free(s->interned);
    free(s->open);
    memset(s, 0, sizeof *s);
}

static inline void it_pft_destroy(it_pft *e) {
    for (uint32_t i = 0; e->slots && i < e->cap; i++)
        it_pft_slot_free(&e->slots[i]);
    free(e->slots);
    free(e->free_seq);
    memset(e, 0, sizeof *e);
}

/* In a forked child (which writes a file of its own, it_sink_pftrace.h):
 * the parent's sequences and open slices are the parent's. */
static inline void it_pft_after_fork(it_pft *e) {
    for (uint32_t i = 0; i < e->cap; i++)
        it_pft_slot_free(&e->slots[i]);
    e->used = 0;
    e->last = NULL;
    e->next_seq = 1;
    e->nfree = 0;
    e->max_ts = 0;
    e->primary_set = 0;  /* the child's file is a trace of its own */
}

static inline uint32_t it_pft_hash(const it_pft *e, int64_t pid, int64_t tid, uint32_t g) {
    return (uint32_t)it_pft_mix((uint64_t)pid * 31 ^ (uint64_t)tid * 0x9E3779B97F4A7C15ull ^
                                (uint64_t)g << 17) & (e->cap - 1);
}

static inline it_pft_seq *it_pft_find(it_pft *e, int64_t pid, int64_t tid, uint32_t g) {
    it_pft_seq *s = e->last;
    if (s && s->greenlet == g && s->tid == tid && s->pid == pid)
        return s;
    for (uint32_t i = it_pft_hash(e, pid, tid, g);; i = (i + 1) & (e->cap - 1)) {
        s = &e->slots[i];
        if (!s->used)
            return NULL;
        if (s->greenlet == g && s->tid == tid && s->pid == pid)
            return e->last = s;
    }
}

/* The table is half full: slots with nothing open go (their sequences end;
 * a later event starts a new one), and the table doubles if the rest still
 * fill half of it.  Returns 0, or -1 when memory ran out (nothing lost). */
static inline int it_pft_make_room(it_pft *e) {
    uint32_t keep = 0;
    for (uint32_t i = 0; i < e->cap; i++)
        keep += e->slots[i].used && e->slots[i].nopen;
    uint32_t cap = e->cap;
    while (keep * 2 + 2 >= cap)
        cap *= 2;
    it_pft_seq *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    it_pft_seq *old = e->slots;
    uint32_t oldcap = e->cap;
    e->slots = slots;
    e->cap = cap;
    e->used = 0;
    e->last = NULL;
    for (uint32_t i = 0; i < oldcap; i++) {
        it_pft_seq *s = &old[i];
        if (!s->used)
            continue;
        if (!s->nopen) {
            if (e->nfree == e->capfree) {
                uint32_t n = e->capfree ? e->capfree * 2 : 256;
                uint32_t *p = realloc(e->free_seq, n * sizeof *p);
                if (p) {
                    e->free_seq = p;
                    e->capfree = n;
                }
            }
            if (e->nfree < e->capfree)
                e->free_seq[e->nfree++] = s->seq;  /* else the id is not reused */
            it_pft_slot_free(s);
            continue;
        }
        uint32_t j = it_pft_hash(e, s->pid, s->tid, s->greenlet);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
        e->used++;
    }
    free(old);
    return 0;
}

/* The slot of (pid, tid, g), its sequence started (first packet and track
 * descriptors written) if it is new.  NULL: out of memory (e->oom). */
static inline it_pft_seq *it_pft_seq_get(it_pft *e, it_out *o, int64_t pid, int64_t tid,
                                         uint32_t g, uint64_t ts) {
    it_pft_seq *s = it_pft_find(e, pid, tid, g);
    if (s)
        return s;
    if ((e->used + 1) * 2 > e->cap && it_pft_make_room(e) < 0) {
        e->oom = 1;
        return NULL;
    }
    uint32_t i = it_pft_hash(e, pid, tid, g);
    while (e->slots[i].used)
        i = (i + 1) & (e->cap - 1);
    s = &e->slots[i];
    s->used = 1;
    s->pid = pid;
    s->tid = tid;
    s->greenlet = g;
    s->seq = e->nfree ? e->free_seq[--e->nfree] : e->next_seq++;
    s->last_ts = ts;
    e->used++;
    e->last = s;
    /* the first packet: state cleared, defaults, the clock (Perfetto reads
     * nothing else of a packet holding a ClockSnapshot) */
    size_t pkt = it_pb_open(o, IT_PB_TRACE_PACKET);
    it_pb_uint(o, IT_PB_PKT_SEQ, s->seq);
    it_pb_uint(o, IT_PB_PKT_FLAGS, IT_PB_SEQ_CLEARED);
    size_t def = it_pb_open(o, IT_PB_PKT_DEFAULTS);
    it_pb_uint(o, IT_PB_DEF_CLOCK, IT_PFT_CLOCK);
    size_t ted = it_pb_open(o, IT_PB_DEF_TRACK_EVENT);
    it_pb_uint(o, IT_PB_TED_TRACK, it_pft_track_of(pid, tid, g));
    it_pb_close(o, ted);
    it_pb_close(o, def);
    size_t cs = it_pb_open(o, IT_PB_PKT_CLOCK_SNAPSHOT);
    it_pft_put_clock(o, IT_PB_CLOCK_MONOTONIC, ts, 0);
    it_pft_put_clock(o, IT_PFT_CLOCK, ts, 1);
    it_pft_put_clock(o, IT_PB_CLOCK_REALTIME, ts + (uint64_t)e->wall_offset, 0);
    if (!e->primary_set) {
        /* once per file: Perfetto takes the trace's clock from the first
         * snapshot, and complains when told again after converting times */
        it_pb_uint(o, IT_PB_CS_PRIMARY, IT_PB_CLOCK_MONOTONIC);
        e->primary_set = 1;
    }
    it_pb_close(o, cs);
    it_pb_close(o, pkt);
    /* the tracks (written again with each new sequence: same uuids) */
    it_pft_put_track(o, s->seq, 1, pid, tid, 0);
    it_pft_put_track(o, s->seq, 2, pid, tid, 0);
    if (g != IT_PFT_THREAD)
        it_pft_put_track(o, s->seq, 3, pid, tid, g);
    return s;
}

static inline int it_pft_room(const it_out *o) { return o->cap - o->len >= IT_PFT_STEP_MAX; }

/* Interns `iid` on the sequence.  0: done (or nothing to do). */
static inline void it_pft_intern(it_pft *e, it_out *o, it_pft_seq *s, uint32_t iid,
                                 const char *module, const char *qualname) {
    uint32_t byte = iid / 8;
    if (byte >= s->interned_bytes) {
        uint32_t n = s->interned_bytes ? s->interned_bytes : 64;
        while (n <= byte)
            n *= 2;
        uint8_t *p = realloc(s->interned, n);
        if (!p) {
            e->oom = 1;  /* interned again each time: bigger, still right */
        } else {
            memset(p + s->interned_bytes, 0, n - s->interned_bytes);
            s->interned = p;
            s->interned_bytes = n;
        }
    }
    uint8_t bit = (uint8_t)(1u << (iid % 8));
    if (byte < s->interned_bytes) {
        if (s->interned[byte] & bit)
            return;
        s->interned[byte] |= bit;
    }
    size_t pkt = it_pb_open(o, IT_PB_TRACE_PACKET);
    it_pb_uint(o, IT_PB_PKT_SEQ, s->seq);
    size_t id = it_pb_open(o, IT_PB_PKT_INTERNED);
    size_t en = it_pb_open(o, IT_PB_ID_EVENT_NAMES);
    it_pb_uint(o, IT_PB_EN_IID, iid);
    size_t m = module ? strnlen(module, IT_PFT_NAME_MAX) : 0;
    size_t q = strnlen(qualname, IT_PFT_NAME_MAX);
    it_pb_varint(o, (uint64_t)IT_PB_EN_NAME << 3 | IT_PB_LEN);
    it_pb_varint(o, m ? m + 1 + q : q);  /* "module.qualname", as the JSON writes it */
    if (m) {
        it_out_put(o, module, m);
        it_out_put(o, ".", 1);
    }
    it_out_put(o, qualname, q);
    it_pb_close(o, en);
    it_pb_close(o, id);
    it_pb_close(o, pkt);
}

static inline void it_pft_saw(it_pft *e, uint64_t ts) {
    if (ts > e->max_ts)
        e->max_ts = ts;
}

/* ---- records --------------------------------------------------------- */

/* A call, resume, return, exception unwind or yield of function `iid`
 * (names used when it is first interned on the sequence).  Returns
 * IT_PFT_DONE, or IT_PFT_FULL: write the buffer out and call again. */
static inline int it_pft_event(it_pft *e, it_out *o, int ev, int64_t pid, int64_t tid, uint32_t g,
                               int32_t depth, uint64_t ts, uint32_t iid, const char *module,
                               const char *qualname) {
    int entry = ev == IT_EV_CALL || ev == IT_EV_RESUME;
    if (!entry && ev != IT_EV_RETURN && ev != IT_EV_UNWIND && ev != IT_EV_YIELD)
        return IT_PFT_DONE;
    if (!it_pft_room(o))
        return IT_PFT_FULL;
    it_pft_saw(e, ts);
    it_pft_seq *s = it_pft_seq_get(e, o, pid, tid, g, ts);
    if (!s)
        return IT_PFT_DONE;  /* out of memory: the record is left out (e->oom says so) */
    /* entries left open at this depth or deeper (entry), or deeper (exit):
     * their exits never came */
    while (s->nopen && (s->open[s->nopen - 1] > depth || (entry && s->open[s->nopen - 1] == depth))) {
        if (!it_pft_room(o))
            return IT_PFT_FULL;
        it_pft_put_cut(o, s, ts, "its exit is not in the trace (records lost)");
    }
    if (!it_pft_room(o))
        return IT_PFT_FULL;
    if (entry) {
        if (s->nopen == s->capopen) {
            uint32_t cap = s->capopen ? s->capopen * 2 : 16;
            int32_t *p = realloc(s->open, cap * sizeof *p);
            if (!p) {
                e->oom = 1;
                return IT_PFT_DONE;
            }
            s->open = p;
            s->capopen = cap;
        }
        it_pft_intern(e, o, s, iid, module, qualname);
        s->open[s->nopen++] = depth;
        it_pft_put_slice(o, s, IT_PB_SLICE_BEGIN, ts, iid);
    } else if (s->nopen && s->open[s->nopen - 1] == depth) {
        s->nopen--;
        it_pft_put_slice(o, s, IT_PB_SLICE_END, ts, 0);
    }  /* else: its entry is not in the trace (it began before): left out */
    return IT_PFT_DONE;
}

/* Ends the open slices of the sequences of (pid, tid), or of every
 * sequence when `all`, at `ts`.  IT_PFT_FULL: call again after a write. */
static inline int it_pft_cut_all(it_pft *e, it_out *o, int all, int64_t pid, int64_t tid,
                                 uint64_t ts, const char *why) {
    for (uint32_t i = 0; i < e->cap; i++) {
        it_pft_seq *s = &e->slots[i];
        if (!s->used || (!all && (s->pid != pid || s->tid != tid)))
            continue;
        while (s->nopen) {
            if (!it_pft_room(o))
                return IT_PFT_FULL;
            it_pft_put_cut(o, s, ts > s->last_ts ? ts : s->last_ts, why);
        }
    }
    return IT_PFT_DONE;
}

/* `count` records of thread (pid, tid) were lost at `ts`: every slice open
 * in its greenlets is ended there (their exits may be among the lost), then
 * an instant "lost N records" goes on the thread's track. */
static inline int it_pft_lost(it_pft *e, it_out *o, int64_t pid, int64_t tid, uint64_t ts,
                              uint64_t count) {
    it_pft_saw(e, ts);
    if (it_pft_cut_all(e, o, 0, pid, tid, ts, "records of its thread were lost") != IT_PFT_DONE)
        return IT_PFT_FULL;
    if (!it_pft_room(o))
        return IT_PFT_FULL;
    it_pft_seq *s = it_pft_seq_get(e, o, pid, tid, IT_PFT_THREAD, ts);
    if (!s)
        return IT_PFT_DONE;
    char text[48];
    snprintf(text, sizeof text, "lost %llu records", (unsigned long long)count);
    it_pft_put_instant(o, s, ts, text, NULL, NULL);
    return IT_PFT_DONE;
}

/* A log record: an instant "LEVEL logger: message" on its greenlet's track. */
static inline int it_pft_log(it_pft *e, it_out *o, int64_t pid, int64_t tid, uint32_t g,
                             uint64_t ts, const char *level, const char *logger,
                             const char *message) {
    if (!it_pft_room(o))
        return IT_PFT_FULL;
    it_pft_saw(e, ts);
    it_pft_seq *s = it_pft_seq_get(e, o, pid, tid, g, ts);
    if (!s)
        return IT_PFT_DONE;
    char head[IT_PFT_NAME_MAX * 2 + 4];
    snprintf(head, sizeof head, "%.*s %.*s: ", IT_PFT_NAME_MAX, level, IT_PFT_NAME_MAX, logger);
    it_pft_put_instant(o, s, ts, head, message, NULL);
    return IT_PFT_DONE;
}

/* The trace ends: slices still open end at the latest time seen, cut. */
static inline int it_pft_finish(it_pft *e, it_out *o) {
    return it_pft_cut_all(e, o, 1, 0, 0, e->max_ts, "the trace ends before its exit");
}

#endif
