/* The binary trace source: reads the files infi_tracing/native/it_binary.h
 * writes (its top comment is the format) as it_rrec records.  The Python
 * reader kept as the tests' reference (tests/reference_binary.py, formerly
 * infi_tracing/_binary.py) reads the same format: keep the two in step.
 *
 * Streaming: a chunk is read whole into the input's buffer (it_rinput.h),
 * its entries decoded in place; records' values point into the buffer and
 * stay valid until the next call (which may refill it).  Memory grows with
 * the distinct (pid, code id) pairs of the file, never with its length.
 *
 * Every check of the format is here, once: the fuzz harness drives this
 * header through it_reader.h, so what it exercises is what decode runs.
 * A second magic where a chunk header is expected is a concatenated file
 * (`cat a.itr b.itr`): reading goes on.  No Python, no lock. */
#ifndef IT_READ_BINARY_H
#define IT_READ_BINARY_H

#include "it_rinput.h"
#include "it_rsource.h"
#include "../../native/it_events.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#define IT_RBIN_MAGIC "INFITRC1"
#define IT_RBIN_MAGIC_LEN 8
#define IT_RBIN_RECORD 32  /* a raw record's fixed part (it_record of it_ring.h) */
#define IT_RBIN_HEAD 24    /* pid, tid, wall offset of a RECORDS or PACKED chunk */
enum { IT_RBIN_CODE = 1, IT_RBIN_RECORDS = 2, IT_RBIN_PACKED = 3 };

/* (pid, code id) -> function index: open addressing, func 0 marks a free slot. */
typedef struct {
    int64_t pid;
    uint32_t code;
    uint32_t func;
} it_rbin_code;

typedef struct {
    it_rsource base;  /* first: the reader holds an it_rsource * */
    it_rinput in;
    int kind;         /* the chunk being read: IT_RBIN_RECORDS, IT_RBIN_PACKED, 0 between */
    const uint8_t *p, *end;  /* its unread entries, in in.buf */
    int64_t pid, tid, wall_offset;
    uint64_t ts;      /* PACKED running state, from 0 in each chunk */
    int32_t depth;
    uint32_t greenlet;
    it_rbin_code *codes;
    uint32_t ncodes, capcodes;  /* capcodes: a power of two, at least twice ncodes */
} it_rbin;

static inline int it_rbin_fail(it_rbin *s, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int it_rbin_fail(it_rbin *s, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->base.err, sizeof s->base.err, fmt, ap);
    va_end(ap);
    s->base.err_offset = offset;
    s->kind = 0;
    return -1;
}

/* File offset of a pointer into the current chunk. */
static inline uint64_t it_rbin_at(const it_rbin *s, const uint8_t *p) {
    return s->in.base + (uint64_t)(p - s->in.buf);
}

static inline uint32_t it_rbin_slot(const it_rbin *s, int64_t pid, uint32_t code) {
    uint64_t h = ((uint64_t)pid * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)code * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29;
    return (uint32_t)h & (s->capcodes - 1);
}

static inline uint32_t it_rbin_func(const it_rbin *s, int64_t pid, uint32_t code) {
    for (uint32_t i = it_rbin_slot(s, pid, code);; i = (i + 1) & (s->capcodes - 1)) {
        const it_rbin_code *c = &s->codes[i];
        if (!c->func || (c->code == code && c->pid == pid))
            return c->func;
    }
}

/* Defines (or redefines: a later CODE chunk wins) a code; -1 when memory runs out. */
static inline int it_rbin_define(it_rbin *s, int64_t pid, uint32_t code, uint32_t func) {
    if ((s->ncodes + 1) * 2 > s->capcodes) {
        uint32_t cap = s->capcodes * 2;
        it_rbin_code *old = s->codes, *codes = calloc(cap, sizeof *codes);
        if (!codes)
            return -1;
        uint32_t oldcap = s->capcodes;
        s->codes = codes;
        s->capcodes = cap;
        for (uint32_t i = 0; i < oldcap; i++)
            if (old[i].func) {
                uint32_t j = it_rbin_slot(s, old[i].pid, old[i].code);
                while (codes[j].func)
                    j = (j + 1) & (cap - 1);
                codes[j] = old[i];
            }
        free(old);
    }
    uint32_t i = it_rbin_slot(s, pid, code);
    while (s->codes[i].func && !(s->codes[i].code == code && s->codes[i].pid == pid))
        i = (i + 1) & (s->capcodes - 1);
    if (!s->codes[i].func)
        s->ncodes++;
    s->codes[i] = (it_rbin_code){pid, code, func};
    return 0;
}

/* A CODE chunk's payload at `p` (`len` bytes); `at` is the chunk's offset. */
static inline int it_rbin_code_chunk(it_rbin *s, const uint8_t *p, uint32_t len, uint64_t at) {
    if (len < IT_RBIN_HEAD)
        return it_rbin_fail(s, at, "damaged code entry at byte %" PRIu64 ": %u bytes, "
                            "expected at least %d", at, len, IT_RBIN_HEAD);
    int64_t pid;
    uint32_t code, nargs;
    int32_t line;
    memcpy(&pid, p, 8);
    memcpy(&code, p + 8, 4);
    memcpy(&line, p + 12, 4);
    memcpy(&nargs, p + 16, 4);
    /* module, qualname, file, then the argument names, each NUL-terminated */
    const char *names[3];
    const uint8_t *q = p + IT_RBIN_HEAD, *end = p + len;
    if (nargs > (uint32_t)(end - q))  /* each name takes a byte at least */
        return it_rbin_fail(s, at, "damaged code entry at byte %" PRIu64 ": it claims %u "
                            "argument names in %u bytes", at, nargs, len);
    const char **argnames = nargs ? malloc(nargs * sizeof *argnames) : NULL;
    if (nargs && !argnames)
        return it_rbin_fail(s, at, "out of memory reading the code entry at byte %" PRIu64, at);
    for (uint32_t i = 0; i < 3 + nargs; i++) {
        const uint8_t *nul = memchr(q, 0, (size_t)(end - q));
        if (!nul) {
            free(argnames);
            return it_rbin_fail(s, at, "damaged code entry at byte %" PRIu64 ": name %u of %u "
                                "is not NUL-terminated within the chunk", at, i + 1, 3 + nargs);
        }
        if (i < 3)
            names[i] = (const char *)q;
        else
            argnames[i - 3] = (const char *)q;
        q = nul + 1;
    }
    uint32_t func = it_rfuncs_intern(s->base.funcs, names[0], strlen(names[0]), names[1],
                                     strlen(names[1]), names[2], strlen(names[2]), line,
                                     (int)nargs, argnames);
    free(argnames);
    if (!func || it_rbin_define(s, pid, code, func))
        return it_rbin_fail(s, at, "out of memory reading the code entry at byte %" PRIu64, at);
    return 0;
}

/* The next chunk header and chunk: 1 when a RECORDS or PACKED chunk is
 * ready, 0 at a clean end of the file, -1 on an error. */
static inline int it_rbin_next_chunk(it_rbin *s) {
    for (;;) {
        uint64_t at = it_rinput_offset(&s->in);
        int r = it_rinput_need(&s->in, 8);
        if (r <= 0) {
            size_t left = it_rinput_avail(&s->in);
            if (s->in.read_errno)
                return it_rbin_fail(s, at + left, "cannot read at byte %" PRIu64 ": %s",
                                    at + left, strerror(s->in.read_errno));
            if (!left)
                return 0;
            return it_rbin_fail(s, at, "ends inside a chunk header at byte %" PRIu64
                                " (cut short, or still being written)", at);
        }
        const uint8_t *h = it_rinput_ptr(&s->in);
        if (!memcmp(h, IT_RBIN_MAGIC, 7)) {  /* the file's start, or a file appended to it */
            if (h[7] != IT_RBIN_MAGIC[7])
                return it_rbin_fail(s, at, "format version %c at byte %" PRIu64 " (magic "
                                    "INFITRC%c), this reader knows 1",
                                    h[7] >= 0x20 && h[7] < 0x7f ? h[7] : '?', at,
                                    h[7] >= 0x20 && h[7] < 0x7f ? h[7] : '?');
            it_rinput_skip(&s->in, IT_RBIN_MAGIC_LEN);
            continue;
        }
        if (at == 0)
            return it_rbin_fail(s, 0, "not a binary trace: no INFITRC1 magic at byte 0");
        uint32_t type, len;
        memcpy(&type, h, 4);
        memcpy(&len, h + 4, 4);
        if (type < IT_RBIN_CODE || type > IT_RBIN_PACKED)
            return it_rbin_fail(s, at, "unknown chunk type %u at byte %" PRIu64 " (expected 1 "
                                "code, 2 records or 3 packed records)", type, at);
        if (len > IT_RINPUT_MAX - 8)
            return it_rbin_fail(s, at, "the chunk at byte %" PRIu64 " claims %u bytes, more "
                                "than the %u MiB a chunk may have", at, len, IT_RINPUT_MAX >> 20);
        r = it_rinput_need(&s->in, 8 + (size_t)len);
        if (r < 0)
            return it_rbin_fail(s, at, "out of memory reading the chunk at byte %" PRIu64, at);
        if (!r) {
            if (s->in.read_errno)
                return it_rbin_fail(s, at, "cannot read the chunk at byte %" PRIu64 ": %s", at,
                                    strerror(s->in.read_errno));
            return it_rbin_fail(s, at, "ends inside a chunk at byte %" PRIu64 " (cut short, or "
                                "still being written): it needs %u bytes, %zu remain", at, len,
                                it_rinput_avail(&s->in) - 8);
        }
        const uint8_t *body = it_rinput_ptr(&s->in) + 8;
        /* Skipped now; the pointers into it stay valid until the next
         * it_rinput_need(), which only the next chunk calls. */
        it_rinput_skip(&s->in, 8 + (size_t)len);
        if (type == IT_RBIN_CODE) {
            if (it_rbin_code_chunk(s, body, len, at))
                return -1;
            continue;
        }
        if (len < IT_RBIN_HEAD)
            return it_rbin_fail(s, at, "damaged chunk at byte %" PRIu64 ": %u bytes, expected "
                                "at least %d", at, len, IT_RBIN_HEAD);
        memcpy(&s->pid, body, 8);
        memcpy(&s->tid, body + 8, 8);
        memcpy(&s->wall_offset, body + 16, 8);
        s->p = body + IT_RBIN_HEAD;
        s->end = body + len;
        s->kind = (int)type;
        s->ts = 0;
        s->depth = 0;
        s->greenlet = 0;
        return 1;
    }
}

static inline void it_rbin_common(const it_rbin *s, it_rrec *out, const uint8_t *at) {
    out->pid = s->pid;
    out->tid = s->tid;
    out->wall_offset = s->wall_offset;
    out->source = s->base.index;
    out->offset = it_rbin_at(s, at);
    out->from_greenlet = 0;
    out->count = 0;
    out->values = NULL;
    out->nvalues = 0;
    out->values_len = 0;
}

/* A raw record (as in the ring) at s->p, `size` bytes (checked to fit). */
static inline int it_rbin_raw(it_rbin *s, it_rrec *out, uint32_t size) {
    const uint8_t *p = s->p;
    uint16_t event, nvalues;
    uint32_t code, greenlet;
    uint64_t ts;
    int32_t depth;
    memcpy(&event, p + 4, 2);
    memcpy(&nvalues, p + 6, 2);
    memcpy(&code, p + 8, 4);
    memcpy(&greenlet, p + 12, 4);
    memcpy(&ts, p + 16, 8);
    memcpy(&depth, p + 24, 4);
    if (event < IT_EV_CALL || event >= IT_EV_COUNT)
        return it_rbin_fail(s, it_rbin_at(s, p), "damaged record at byte %" PRIu64 ": event %u "
                            "(expected 1 to %d)", it_rbin_at(s, p), event, IT_EV_COUNT - 1);
    it_rbin_common(s, out, p);
    out->event = event;
    out->ts = ts;
    out->greenlet = greenlet;
    out->depth = depth;
    out->func = 0;
    s->p += size;
    if (event == IT_EV_LOST) {
        out->greenlet = 0;
        out->depth = 0;
        out->count = (uint64_t)code | (uint64_t)greenlet << 32;
        return 1;
    }
    if (event == IT_EV_SWITCH) {
        out->from_greenlet = code;
        out->depth = 0;
        return 1;
    }
    if (event == IT_EV_OMITTED) {  /* u64 calls, i64 wall ns, i64 active ns (it_slow.h) */
        if (size < IT_RBIN_RECORD + 24)
            return it_rbin_fail(s, out->offset, "damaged record at byte %" PRIu64 ": an "
                                "omitted record of %u bytes, expected %d", out->offset, size,
                                IT_RBIN_RECORD + 24);
        memcpy(&out->count, p + IT_RBIN_RECORD, 8);
        memcpy(&out->duration_ns, p + IT_RBIN_RECORD + 8, 8);
        memcpy(&out->active_ns, p + IT_RBIN_RECORD + 16, 8);
        return 1;
    }
    if (event != IT_EV_LOG) {
        out->func = it_rbin_func(s, s->pid, code);
        if (!out->func)
            return it_rbin_fail(s, out->offset, "the record at byte %" PRIu64 " names code %u of "
                                "pid %" PRId64 ", which the file never defined", out->offset,
                                code, s->pid);
    }
    /* values: NUL-terminated strings after the fixed part; a log record has
     * three (level, logger, message); a string cut by the record's end ends
     * the values (the writer always terminates them) */
    uint32_t want = event == IT_EV_LOG ? 3 : nvalues;
    const uint8_t *v = p + IT_RBIN_RECORD, *vend = p + size, *q = v;
    uint32_t n = 0;
    for (; n < want && q < vend; n++) {
        const uint8_t *nul = memchr(q, 0, (size_t)(vend - q));
        if (!nul)
            break;
        q = nul + 1;
    }
    /* non-NULL even with no value: the record was stored with its values
     * (none), not at name level (an exception then shows as "?") */
    out->values = (const char *)v;
    out->nvalues = n;
    out->values_len = (uint32_t)(q - v);
    return 1;
}

/* LEB128 at s->p, within the chunk; -1 when it runs past the chunk's end,
 * -2 when it is longer than 64 bits. */
static inline int it_rbin_varint(it_rbin *s, uint64_t *v) {
    const uint8_t *p = s->p;
    if (p < s->end && *p < 0x80) {  /* the common case: one byte */
        *v = *p;
        s->p = p + 1;
        return 0;
    }
    uint64_t value = 0;
    for (unsigned shift = 0; p < s->end; shift += 7) {
        if (shift >= 64)
            return -2;
        uint8_t b = *p++;
        value |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            if (shift == 63 && b > 1)
                return -2;
            *v = value;
            s->p = p;
            return 0;
        }
    }
    return -1;
}

/* One PACKED entry: 1 with a record in *out, 0 at the pad (the chunk is
 * done), -1 on damage. */
static inline int it_rbin_packed(it_rbin *s, it_rrec *out) {
    const uint8_t *at = s->p;
    uint8_t tag = *s->p++;
    if (!tag) {
        s->p = s->end;
        return 0;
    }
    if (tag & 0x10) {
        if (tag & 0xe0)
            return it_rbin_fail(s, it_rbin_at(s, at), "damaged packed entry at byte %" PRIu64
                                ": tag 0x%02x", it_rbin_at(s, at), tag);
        uint32_t size;
        if (s->end - s->p < IT_RBIN_RECORD)
            return it_rbin_fail(s, it_rbin_at(s, at), "damaged record at byte %" PRIu64 ": it "
                                "runs past the chunk's end", it_rbin_at(s, at));
        memcpy(&size, s->p, 4);
        if (size < IT_RBIN_RECORD || size > (uint64_t)(s->end - s->p))
            return it_rbin_fail(s, it_rbin_at(s, at), "damaged record at byte %" PRIu64 ": size "
                                "%u (expected %d to %td)", it_rbin_at(s, at), size,
                                IT_RBIN_RECORD, s->end - s->p);
        return it_rbin_raw(s, out, size);
    }
    int event = tag & 0x07;
    if ((tag & 0xf0) || event < IT_EV_CALL || event > IT_EV_YIELD)
        return it_rbin_fail(s, it_rbin_at(s, at), "damaged packed entry at byte %" PRIu64
                            ": tag 0x%02x", it_rbin_at(s, at), tag);
    uint64_t code, dts, zz, g = 0;
    int bad = it_rbin_varint(s, &code);
    bad = bad ? bad : it_rbin_varint(s, &dts);
    bad = bad ? bad : it_rbin_varint(s, &zz);
    bad = bad || !(tag & 0x08) ? bad : it_rbin_varint(s, &g);
    if (bad)
        return it_rbin_fail(s, it_rbin_at(s, at), "damaged packed entry at byte %" PRIu64
                            ": a number %s", it_rbin_at(s, at),
                            bad == -1 ? "runs past the chunk's end" : "longer than 64 bits");
    if (code > UINT32_MAX || ((tag & 0x08) && g > UINT32_MAX))
        return it_rbin_fail(s, it_rbin_at(s, at), "damaged packed entry at byte %" PRIu64
                            ": a code or greenlet id past 32 bits", it_rbin_at(s, at));
    s->ts += dts;
    s->depth = (int32_t)((uint32_t)s->depth + (uint32_t)((zz >> 1) ^ -(zz & 1)));
    if (tag & 0x08)
        s->greenlet = (uint32_t)g;
    uint32_t func = it_rbin_func(s, s->pid, (uint32_t)code);
    if (!func)
        return it_rbin_fail(s, it_rbin_at(s, at), "the record at byte %" PRIu64 " names code %"
                            PRIu64 " of pid %" PRId64 ", which the file never defined",
                            it_rbin_at(s, at), code, s->pid);
    it_rbin_common(s, out, at);
    out->event = event;
    out->ts = s->ts;
    out->greenlet = s->greenlet;
    out->depth = s->depth;
    out->func = func;
    return 1;
}

static inline int it_rbin_next(it_rsource *base, it_rrec *out) {
    it_rbin *s = (it_rbin *)base;
    for (;;) {
        if (s->p < s->end) {
            if (s->kind == IT_RBIN_PACKED) {
                int r = it_rbin_packed(s, out);
                if (r)
                    return r;
                continue;
            }
            uint32_t size;
            if (s->end - s->p < IT_RBIN_RECORD)
                return it_rbin_fail(s, it_rbin_at(s, s->p), "damaged record at byte %" PRIu64
                                    ": it runs past the chunk's end", it_rbin_at(s, s->p));
            memcpy(&size, s->p, 4);
            if (size < IT_RBIN_RECORD || size > (uint64_t)(s->end - s->p))
                return it_rbin_fail(s, it_rbin_at(s, s->p), "damaged record at byte %" PRIu64
                                    ": size %u (expected %d to %td)", it_rbin_at(s, s->p), size,
                                    IT_RBIN_RECORD, s->end - s->p);
            return it_rbin_raw(s, out, size);
        }
        int r = it_rbin_next_chunk(s);
        if (r <= 0)
            return r;
    }
}

static inline void it_rbin_destroy(it_rsource *base) {
    it_rbin *s = (it_rbin *)base;
    it_rinput_close(&s->in);
    free(s->codes);
    free(s);
}

/* A binary source reading `in` (taken over: closed with the source) from
 * its start (the magic).  NULL when memory runs out (`in` is then closed). */
static inline it_rsource *it_read_binary_open(it_rinput *in, it_rfuncs *funcs, uint32_t index) {
    it_rbin *s = calloc(1, sizeof *s);
    if (s) {
        s->capcodes = 64;
        s->codes = calloc(s->capcodes, sizeof *s->codes);
    }
    if (!s || !s->codes) {
        free(s);
        it_rinput_close(in);
        return NULL;
    }
    s->in = *in;
    in->buf = NULL;
    in->fd = -1;
    s->base.next = it_rbin_next;
    s->base.destroy = it_rbin_destroy;
    s->base.funcs = funcs;
    s->base.index = index;
    return &s->base;
}

#endif
