/* A bounded output buffer: the hook renders values into a thread's scratch
 * buffer with it (it_render.h), the drain formats lines and chunks into a
 * sink's buffer (it_format.h, it_syslog.h, it_binary.h).  Writes past `cap`
 * are cut, never overrun: a value or a line is truncated rather than lost.
 * No allocation, no lock, no Python call: usable with or without the GIL. */
#ifndef IT_OUT_H
#define IT_OUT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
} it_out;

static inline void it_out_put(it_out *o, const char *s, size_t n) {
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static inline void it_out_puts(it_out *o, const char *s) { it_out_put(o, s, strlen(s)); }

/* Formatted straight into the buffer; cut to the room left, less the byte
 * vsnprintf keeps for its NUL (not counted in len). */
static inline void it_out_printf(it_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void it_out_printf(it_out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->cap - o->len;
    int n = vsnprintf(o->p + o->len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < room ? (size_t)n : (room ? room - 1 : 0);
}

/* End the current value with a NUL (values in a record are NUL-separated);
 * truncates it by one byte if the buffer is full. */
static inline void it_out_terminate(it_out *o) {
    if (o->len == o->cap)
        o->len--;
    o->p[o->len++] = '\0';
}

/* `v` as a LEB128 varint at `p` (at most 10 bytes); returns the end.  The
 * binary trace's packed entries and Perfetto's protobuf use the same form. */
static inline char *it_put_varint(char *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

#endif
