/* The Perfetto packets the encoder (it_pftrace.h) writes: protobuf wire
 * format, the field numbers of Perfetto's protos (checked by the tests
 * against the `perfetto` package's perfetto_trace_pb2), track uuids, and
 * one function per kind of packet.  Each writes whole packets into an
 * it_out the caller gave room for (IT_PFT_STEP_MAX); no state but the
 * sequence's own (its id, its incremental clock).  No Python. */
#ifndef IT_PFT_PACKETS_H
#define IT_PFT_PACKETS_H

#include "it_out.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IT_PFT_NAME_MAX 1024       /* bytes of a module, qualname or log text kept */
#define IT_PFT_STEP_MAX (4 * IT_PFT_NAME_MAX + 512)  /* the most one step writes */
#define IT_PFT_THREAD 0xFFFFFFFFu  /* the greenlet key of a thread's own sequence */
#define IT_PFT_CLOCK 64u           /* the sequence-scoped incremental clock */

/* Protobuf wire types and the fields written (Perfetto's protos). */
enum {
    IT_PB_VARINT = 0, IT_PB_LEN = 2,
    IT_PB_TRACE_PACKET = 1,
    IT_PB_PKT_CLOCK_SNAPSHOT = 6, IT_PB_PKT_TIMESTAMP = 8, IT_PB_PKT_SEQ = 10,
    IT_PB_PKT_TRACK_EVENT = 11, IT_PB_PKT_INTERNED = 12, IT_PB_PKT_FLAGS = 13,
    IT_PB_PKT_TIMESTAMP_CLOCK = 58, IT_PB_PKT_DEFAULTS = 59, IT_PB_PKT_TRACK_DESC = 60,
    IT_PB_TE_ANNOTATION = 4, IT_PB_TE_TYPE = 9, IT_PB_TE_NAME_IID = 10, IT_PB_TE_TRACK = 11,
    IT_PB_TE_NAME = 23,
    IT_PB_DA_STRING = 6, IT_PB_DA_NAME = 10,
    IT_PB_TD_UUID = 1, IT_PB_TD_NAME = 2, IT_PB_TD_PROCESS = 3, IT_PB_TD_THREAD = 4,
    IT_PB_TD_PARENT = 5,
    IT_PB_PD_PID = 1, IT_PB_PD_NAME = 6,
    IT_PB_THD_PID = 1, IT_PB_THD_TID = 2, IT_PB_THD_NAME = 5,
    IT_PB_ID_EVENT_NAMES = 2, IT_PB_EN_IID = 1, IT_PB_EN_NAME = 2,
    IT_PB_DEF_TRACK_EVENT = 11, IT_PB_DEF_CLOCK = 58, IT_PB_TED_TRACK = 11,
    IT_PB_CS_CLOCKS = 1, IT_PB_CS_PRIMARY = 2,
    IT_PB_CLK_ID = 1, IT_PB_CLK_TIMESTAMP = 2, IT_PB_CLK_INCREMENTAL = 3,
};
enum { IT_PB_SLICE_BEGIN = 1, IT_PB_SLICE_END = 2, IT_PB_INSTANT = 3 };
enum { IT_PB_SEQ_CLEARED = 1 };
enum { IT_PB_CLOCK_REALTIME = 1, IT_PB_CLOCK_MONOTONIC = 3 };

typedef struct {
    int used;
    int64_t pid, tid;
    uint32_t greenlet;      /* IT_PFT_THREAD: the thread's own sequence */
    uint32_t seq;           /* trusted_packet_sequence_id */
    uint64_t last_ts;       /* the incremental clock's value after the last event */
    uint8_t *interned;      /* bitmap of the iids interned on this sequence */
    uint32_t interned_bytes;
    int32_t *open;          /* depths of the slices opened and not ended */
    uint32_t nopen, capopen;
} it_pft_seq;

/* ---- protobuf writing ------------------------------------------------ */

static inline void it_pb_varint(it_out *o, uint64_t v) {
    char tmp[10];
    it_out_put(o, tmp, (size_t)(it_put_varint(tmp, v) - tmp));
}

static inline void it_pb_uint(it_out *o, uint32_t field, uint64_t v) {
    it_pb_varint(o, (uint64_t)field << 3 | IT_PB_VARINT);
    it_pb_varint(o, v);
}

static inline void it_pb_bytes(it_out *o, uint32_t field, const char *s, size_t n) {
    it_pb_varint(o, (uint64_t)field << 3 | IT_PB_LEN);
    it_pb_varint(o, n);
    it_out_put(o, s, n);
}

static inline void it_pb_str(it_out *o, uint32_t field, const char *s) {
    it_pb_bytes(o, field, s, strnlen(s, IT_PFT_NAME_MAX));
}

/* A nested message: its tag, then 3 bytes for its length, filled in by
 * it_pb_close as a padded varint (protobuf parsers, Perfetto's included,
 * accept varints longer than needed; its own writer pads them the same
 * way).  Room: every step is far below the 2 MiB three bytes can say. */
static inline size_t it_pb_open(it_out *o, uint32_t field) {
    it_pb_varint(o, (uint64_t)field << 3 | IT_PB_LEN);
    it_out_put(o, "\x80\x80\x00", 3);
    return o->len;
}

static inline void it_pb_close(it_out *o, size_t start) {
    size_t n = o->len - start;
    char *p = o->p + start - 3;
    p[0] = (char)(0x80 | (n & 0x7f));
    p[1] = (char)(0x80 | ((n >> 7) & 0x7f));
    p[2] = (char)((n >> 14) & 0x7f);
}

/* ---- tracks and packets ---------------------------------------------- */

static inline uint64_t it_pft_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* The uuid of a track: kind 1 process, 2 thread, 3 greenlet.  Never 0. */
static inline uint64_t it_pft_uuid(int kind, int64_t pid, int64_t tid, uint32_t g) {
    uint64_t h = it_pft_mix((uint64_t)kind * 0x9E3779B97F4A7C15ull ^ (uint64_t)pid);
    if (kind >= 2)
        h = it_pft_mix(h ^ (uint64_t)tid);
    if (kind == 3)
        h = it_pft_mix(h ^ g);
    return h ? h : 1;
}

static inline uint64_t it_pft_track_of(int64_t pid, int64_t tid, uint32_t g) {
    return g == IT_PFT_THREAD ? it_pft_uuid(2, pid, tid, 0) : it_pft_uuid(3, pid, tid, g);
}

/* A track descriptor packet (process, thread or greenlet track). */
static inline void it_pft_put_track(it_out *o, uint32_t seq, int kind, int64_t pid, int64_t tid,
                                    uint32_t g) {
    char name[64];  /* names below are at most 40 bytes */
    size_t pkt = it_pb_open(o, IT_PB_TRACE_PACKET);
    it_pb_uint(o, IT_PB_PKT_SEQ, seq);
    size_t td = it_pb_open(o, IT_PB_PKT_TRACK_DESC);
    it_pb_uint(o, IT_PB_TD_UUID, it_pft_uuid(kind, pid, tid, g));
    if (kind == 1) {
        size_t pd = it_pb_open(o, IT_PB_TD_PROCESS);
        it_pb_uint(o, IT_PB_PD_PID, (uint64_t)pid);
        int n = snprintf(name, sizeof name, "python (pid %lld)", (long long)pid);
        it_pb_bytes(o, IT_PB_PD_NAME, name, (size_t)n);
        it_pb_close(o, pd);
    } else if (kind == 2) {
        size_t thd = it_pb_open(o, IT_PB_TD_THREAD);
        it_pb_uint(o, IT_PB_THD_PID, (uint64_t)pid);
        it_pb_uint(o, IT_PB_THD_TID, (uint64_t)tid);
        int n = snprintf(name, sizeof name, "thread %lld", (long long)tid);
        it_pb_bytes(o, IT_PB_THD_NAME, name, (size_t)n);
        it_pb_close(o, thd);
    } else {
        it_pb_uint(o, IT_PB_TD_PARENT, it_pft_uuid(2, pid, tid, 0));
        int n = snprintf(name, sizeof name, "greenlet %u", g);
        it_pb_bytes(o, IT_PB_TD_NAME, name, (size_t)n);
    }
    it_pb_close(o, td);
    it_pb_close(o, pkt);
}

static inline void it_pft_put_clock(it_out *o, uint32_t id, uint64_t ts, int incremental) {
    size_t c = it_pb_open(o, IT_PB_CS_CLOCKS);
    it_pb_uint(o, IT_PB_CLK_ID, id);
    it_pb_uint(o, IT_PB_CLK_TIMESTAMP, ts);
    if (incremental)
        it_pb_uint(o, IT_PB_CLK_INCREMENTAL, 1);
    it_pb_close(o, c);
}

/* The packet's time: a delta on the sequence's incremental clock, or, for
 * a time earlier than the sequence's last (never from one thread's ring;
 * a safeguard), an absolute CLOCK_MONOTONIC time that leaves it alone. */
static inline char *it_pft_put_ts(char *p, it_pft_seq *s, uint64_t ts) {
    if (ts >= s->last_ts) {
        *p++ = (char)(IT_PB_PKT_TIMESTAMP << 3 | IT_PB_VARINT);
        p = it_put_varint(p, ts - s->last_ts);
        s->last_ts = ts;
        return p;
    }
    *p++ = (char)(IT_PB_PKT_TIMESTAMP << 3 | IT_PB_VARINT);
    p = it_put_varint(p, ts);
    p = it_put_varint(p, (uint64_t)IT_PB_PKT_TIMESTAMP_CLOCK << 3 | IT_PB_VARINT);
    return it_put_varint(p, IT_PB_CLOCK_MONOTONIC);
}

/* A slice begin or end on the sequence's track (the hot path: one packet of
 * 10-16 bytes, every length known to fit one byte). */
static inline void it_pft_put_slice(it_out *o, it_pft_seq *s, int type, uint64_t ts,
                                    uint32_t iid) {
    char *start = o->p + o->len, *p = start + 2;
    p = it_pft_put_ts(p, s, ts);
    *p++ = (char)(IT_PB_PKT_SEQ << 3 | IT_PB_VARINT);
    p = it_put_varint(p, s->seq);
    *p++ = (char)(IT_PB_PKT_TRACK_EVENT << 3 | IT_PB_LEN);
    char *te = p++;
    *p++ = (char)(IT_PB_TE_TYPE << 3 | IT_PB_VARINT);
    *p++ = (char)type;
    if (type == IT_PB_SLICE_BEGIN) {
        *p++ = (char)(IT_PB_TE_NAME_IID << 3 | IT_PB_VARINT);
        p = it_put_varint(p, iid);
    }
    *te = (char)(p - te - 1);
    start[0] = (char)(IT_PB_TRACE_PACKET << 3 | IT_PB_LEN);
    start[1] = (char)(p - start - 2);
    o->len += (size_t)(p - start);
}

/* An END for the innermost open slice, which never got its own exit. */
static inline void it_pft_put_cut(it_out *o, it_pft_seq *s, uint64_t ts, const char *why) {
    size_t pkt = it_pb_open(o, IT_PB_TRACE_PACKET);
    char tmp[48], *p = it_pft_put_ts(tmp, s, ts);
    it_out_put(o, tmp, (size_t)(p - tmp));
    it_pb_uint(o, IT_PB_PKT_SEQ, s->seq);
    size_t te = it_pb_open(o, IT_PB_PKT_TRACK_EVENT);
    it_pb_uint(o, IT_PB_TE_TYPE, IT_PB_SLICE_END);
    size_t da = it_pb_open(o, IT_PB_TE_ANNOTATION);
    it_pb_str(o, IT_PB_DA_NAME, "cut");
    it_pb_str(o, IT_PB_DA_STRING, why);
    it_pb_close(o, da);
    it_pb_close(o, te);
    it_pb_close(o, pkt);
    s->nopen--;
}

/* An instant with an inline name on the sequence's track. */
static inline void it_pft_put_instant(it_out *o, it_pft_seq *s, uint64_t ts, const char *a,
                                      const char *b, const char *c) {
    size_t pkt = it_pb_open(o, IT_PB_TRACE_PACKET);
    char tmp[48], *p = it_pft_put_ts(tmp, s, ts);
    it_out_put(o, tmp, (size_t)(p - tmp));
    it_pb_uint(o, IT_PB_PKT_SEQ, s->seq);
    size_t te = it_pb_open(o, IT_PB_PKT_TRACK_EVENT);
    it_pb_uint(o, IT_PB_TE_TYPE, IT_PB_INSTANT);
    size_t na = it_pb_open(o, IT_PB_TE_NAME);
    it_out_put(o, a, strnlen(a, IT_PFT_NAME_MAX));
    if (b)
        it_out_put(o, b, strnlen(b, IT_PFT_NAME_MAX));
    if (c)
        it_out_put(o, c, strnlen(c, IT_PFT_NAME_MAX));
    it_pb_close(o, na);
    it_pb_close(o, te);
    it_pb_close(o, pkt);
}

#endif
