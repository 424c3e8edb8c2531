/* Binary trace file: the compact, lossless, fastest way out.  Records are
 * packed behind chunk headers (name-level calls and returns in a few bytes,
 * the rest as they sit in the ring); the code registry
 * entries they name are written once per process before first use.
 * `python -m infi_tracing decode FILE` turns a file into text, JSON lines or
 * Perfetto (infi_tracing/_binary.py reads it; keep the two in step).
 *
 * File: magic "INFITRC1" (8 bytes), then chunks, each
 *   u32 type | u32 length (payload bytes, a multiple of 8) | payload
 *   type 1 CODE:    i64 pid | u32 code_id | i32 line | u32 nargs | u32 0 |
 *                   NUL-terminated module, qualname, file, argnames... | pad
 *   type 2 RECORDS: i64 pid | i64 tid | i64 wall_offset_ns | records (as in
 *                   it_ring.h: each starts with its u32 size)  [older writers]
 *   type 3 PACKED:  i64 pid | i64 tid | i64 wall_offset_ns | entries | zero pad
 *     entry: u8 tag = event | 0x08 (greenlet follows) | 0x10 (raw record)
 *       raw: the record as in the ring (u32 size first), for records with
 *            values, "lost" and "log" records; it changes no running state
 *       else: varint code_id, varint (ts - previous ts), varint zigzag
 *            (depth - previous depth), [varint greenlet]; the running ts,
 *            depth and greenlet start at 0 in each chunk
 *     A tag byte 0 ends the entries (the pad).  Varints are LEB128.
 * All little-endian (native).  A chunk is written with a single write() so
 * processes appending to one file (fork) never interleave inside a chunk. */
#ifndef IT_BINARY_H
#define IT_BINARY_H

#include "it_format.h"
#include <stdlib.h>

#define IT_BIN_MAGIC "INFITRC1"
enum { IT_BIN_CODE = 1, IT_BIN_RECORDS = 2, IT_BIN_PACKED = 3 };

typedef struct {
    uint32_t type, length;
} it_bin_chunk;

typedef struct it_binary {
    uint8_t *seen;      /* bitmap of code ids already written by this process */
    size_t seen_bytes;
    uint64_t forgets;   /* it_binary_forget() calls: a batch's definitions may be gone */
} it_binary;

static inline it_binary *it_binary_new(void) { return calloc(1, sizeof(it_binary)); }

static inline void it_binary_free(it_binary *b) {
    if (b) {
        free(b->seen);
        free(b);
    }
}

/* In a forked child: code ids are written again under the child's pid. */
static inline void it_binary_after_fork(it_binary *b) {
    if (b->seen)
        memset(b->seen, 0, b->seen_bytes);
}

/* 1 when `id` was put in the file (or in the buffer on its way there). */
static inline int it_binary_seen(const it_binary *b, uint32_t id) {
    return id / 8 < b->seen_bytes && (b->seen[id / 8] & (1u << (id % 8)));
}

/* The CODE chunk of `id` was given up with the buffer holding it (EAGAIN):
 * it is written again before the next record naming `id`. */
static inline void it_binary_forget(it_binary *b, uint32_t id) {
    if (id / 8 < b->seen_bytes)
        b->seen[id / 8] &= (uint8_t)~(1u << (id % 8));
    b->forgets++;
}

/* Returns 1 when `id` had not been written yet (and marks it). */
static inline int it_binary_first_sight(it_binary *b, uint32_t id) {
    size_t byte = id / 8;
    if (byte >= b->seen_bytes) {
        size_t n = b->seen_bytes ? b->seen_bytes : 1024;
        while (n <= byte)
            n *= 2;
        uint8_t *p = realloc(b->seen, n);
        if (!p)
            return 1;  /* written again later: harmless */
        memset(p + b->seen_bytes, 0, n - b->seen_bytes);
        b->seen = p;
        b->seen_bytes = n;
    }
    uint8_t bit = (uint8_t)(1u << (id % 8));
    if (b->seen[byte] & bit)
        return 0;
    b->seen[byte] |= bit;
    return 1;
}

/* A CODE chunk for registry entry `id` into `o`. */
static inline void it_binary_code_chunk(it_out *o, uint32_t id, long pid) {
    const it_code_entry *e = it_registry_get(id);
    size_t start = o->len;
    it_bin_chunk h = {IT_BIN_CODE, 0};
    it_out_put(o, (const char *)&h, sizeof h);
    int64_t p = pid;
    uint32_t fixed[4] = {id, (uint32_t)e->firstlineno, (uint32_t)e->nargs, 0};
    it_out_put(o, (const char *)&p, sizeof p);
    it_out_put(o, (const char *)fixed, sizeof fixed);
    it_out_put(o, e->module, strlen(e->module) + 1);
    it_out_put(o, e->qualname, strlen(e->qualname) + 1);
    it_out_put(o, e->filename, strlen(e->filename) + 1);
    for (int i = 0; i < e->nargs; i++)
        it_out_put(o, e->argnames[i], strlen(e->argnames[i]) + 1);
    static const char zeros[8] = {0};
    it_out_put(o, zeros, (8 - (o->len - start) % 8) % 8);
    ((it_bin_chunk *)(o->p + start))->length = (uint32_t)(o->len - start - sizeof h);
}

/* PACKED entries.  Why: the file sink's cost is dominated by the kernel
 * copying bytes into the page cache; a name-level call or return packs into
 * 4-6 bytes instead of its 32 ring bytes, so the drain keeps up with a tight
 * loop where it used to make the traced program wait (overflow="block"). */
typedef struct {
    uint64_t ts;
    int32_t depth;
    uint32_t greenlet;
} it_packed_state;

/* Bytes a packable record's entry may take: 1 + 4 varints (at most 31), or
 * the raw form it falls back to when its time runs backwards (the drain
 * clamps times per ring, so this is a safeguard): 1 + a bare record. */
#define IT_PACKED_MAX (1 + sizeof(it_record))

/* Records with values, "lost" and "log" records are written raw. */
static inline int it_packed_raw(const it_record *rec) {
    return rec->nvalues || rec->event > IT_EV_YIELD;
}

/* Bytes entry `rec` needs at most. */
static inline size_t it_packed_need(const it_record *rec) {
    return it_packed_raw(rec) ? 1 + (size_t)rec->size : IT_PACKED_MAX;
}

/* Write the entry for `rec` at `p`; returns the end. */
static inline char *it_packed_put(char *p, it_packed_state *st, const it_record *rec) {
    if (it_packed_raw(rec) || rec->ts < st->ts) {
        *p++ = (char)(rec->event | 0x10);
        memcpy(p, rec, rec->size);
        return p + rec->size;
    }
    int gchange = rec->greenlet_id != st->greenlet;
    *p++ = (char)(rec->event | (gchange ? 0x08 : 0));
    p = it_put_varint(p, rec->code_id);
    p = it_put_varint(p, rec->ts - st->ts);
    int64_t dd = (int64_t)rec->depth - st->depth;
    p = it_put_varint(p, ((uint64_t)dd << 1) ^ (uint64_t)(dd >> 63));
    if (gchange)
        p = it_put_varint(p, rec->greenlet_id);
    st->ts = rec->ts;
    st->depth = rec->depth;
    st->greenlet = rec->greenlet_id;
    return p;
}

#endif
