/* Formatting records as text lines or JSON lines, in the drain thread
 * without the GIL: everything comes from the record, the ring (thread id)
 * and the native code registry. */
#ifndef IT_FORMAT_H
#define IT_FORMAT_H

#include "it_ring.h"
#include "it_registry.h"
#include <stdio.h>

enum { IT_FORMAT_TEXT = 0, IT_FORMAT_JSONL = 1 };

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

/* JSON string body: escapes quote, backslash and control characters; the
 * input is already valid UTF-8 (the hook escapes lone surrogates). */
static inline void it_out_json_str(it_out *o, const char *s) {
    it_out_put(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char t[2] = {'\\', (char)c};
            it_out_put(o, t, 2);
        } else if (c < 0x20) {
            it_out_printf(o, "\\u%04x", c);
        } else {
            it_out_put(o, (const char *)&c, 1);
        }
    }
    it_out_put(o, "\"", 1);
}

static inline void it_out_uint(it_out *o, unsigned long long v, int min_digits) {
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    it_out_put(o, tmp + sizeof tmp - n, (size_t)n);
}

/* ISO 8601 UTC with microseconds, e.g. 2026-11-25T22:10:01.123456Z.  The
 * date and time up to the second change rarely: the drain (the only caller)
 * keeps the last one formatted. */
static inline void it_out_time(it_out *o, uint64_t wall_ns) {
    static time_t cached_sec = (time_t)-1;  /* drain thread only: not thread-local */
    static char cached[24];
    time_t sec = (time_t)(wall_ns / 1000000000ull);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S.", &tm);
        cached_sec = sec;
    }
    it_out_puts(o, cached);
    it_out_uint(o, (wall_ns % 1000000000ull) / 1000, 6);
    it_out_put(o, "Z", 1);
}

static const char *const it_event_names[] = {"pad",   "call", "return", "exception",
                                             "resume", "yield", "lost", "log"};

static inline const char *it_record_value(const it_record *r, int i) {
    const char *p = (const char *)(r + 1);
    const char *end = (const char *)r + r->size;
    for (; i > 0 && p < end; i--)
        p += strnlen(p, (size_t)(end - p)) + 1;
    return p < end ? p : "";
}

#define IT_INDENT_MAX 60

/* The part of a text line after "TIME PID ":
 *   TID gGREENLET <indent>MARK module.qualname[(args)][ -> value] file:line
 * MARK: '>' call, '<' return, '!' exception, '>>' resume, '<<' yield.
 * `values` 0 hides arguments and return values (a sink's detail level);
 * the exception type is always shown.  No newline. */
static inline void it_format_body(it_out *o, const it_record *r, long tid, int values) {
    it_out_uint(o, (unsigned long long)tid, 1);
    if (r->event == IT_EV_LOST) {
        it_out_put(o, " lost ", 6);
        it_out_uint(o, (unsigned long long)r->count, 1);
        it_out_put(o, " records", 8);
        return;
    }
    int indent = r->depth < IT_INDENT_MAX ? r->depth : IT_INDENT_MAX;
    static const char *marks[] = {"?", ">", "<", "!", ">>", "<<", "?", "#"};
    static const char spaces[2 * IT_INDENT_MAX + 1] =
        "                                                            "
        "                                                            ";
    it_out_put(o, " g", 2);
    it_out_uint(o, r->greenlet_id, 1);
    it_out_put(o, " ", 1);
    it_out_put(o, spaces, (size_t)indent * 2);
    it_out_puts(o, marks[r->event]);
    it_out_put(o, " ", 1);
    if (r->event == IT_EV_LOG) {  /* "# LEVEL logger: message" */
        it_out_printf(o, "%s %s: %s", it_record_value(r, 0), it_record_value(r, 1),
                      it_record_value(r, 2));
        return;
    }
    const it_code_entry *e = it_registry_get(r->code_id);
    it_out_puts(o, e->module);
    it_out_put(o, ".", 1);
    it_out_puts(o, e->qualname);
    if (r->event == IT_EV_CALL) {
        if (r->nvalues && values) {  /* arguments were captured (TRACE_FUNC_PRIMITIVES and up) */
            it_out_put(o, "(", 1);
            for (int i = 0; i < r->nvalues && i < e->nargs; i++)
                it_out_printf(o, "%s%s=%s", i ? ", " : "", e->argnames[i], it_record_value(r, i));
            it_out_put(o, ")", 1);
        }
    } else if (r->event == IT_EV_UNWIND) {
        it_out_printf(o, " raised %s", it_record_value(r, 0));
    } else if (r->nvalues && values) {
        it_out_printf(o, " -> %s", it_record_value(r, 0));
    }
    it_out_put(o, " ", 1);
    it_out_puts(o, e->filename);
    it_out_put(o, ":", 1);
    it_out_uint(o, (unsigned long long)(e->firstlineno > 0 ? e->firstlineno : 0), 1);
}

/* One text line: TIME PID BODY (see it_format_body) and a newline. */
static inline void it_format_text(it_out *o, const it_record *r, long pid, long tid,
                                  int64_t wall_offset, int values) {
    it_out_time(o, r->ts + (uint64_t)wall_offset);
    it_out_put(o, " ", 1);
    it_out_uint(o, (unsigned long long)pid, 1);
    it_out_put(o, " ", 1);
    it_format_body(o, r, tid, values);
    it_out_put(o, "\n", 1);
}

static inline void it_format_jsonl(it_out *o, const it_record *r, long pid, long tid,
                                   int64_t wall_offset, int values) {
    it_out_put(o, "{\"time\":\"", 9);
    it_out_time(o, r->ts + (uint64_t)wall_offset);
    it_out_printf(o, "\",\"mono_ns\":%llu,\"pid\":%ld,\"tid\":%ld,\"event\":\"%s\"",
                  (unsigned long long)r->ts, pid, tid, it_event_names[r->event]);
    if (r->event == IT_EV_LOST) {
        it_out_printf(o, ",\"count\":%llu}\n", (unsigned long long)r->count);
        return;
    }
    it_out_printf(o, ",\"greenlet\":%u,\"depth\":%d,", r->greenlet_id, r->depth);
    if (r->event == IT_EV_LOG) {
        it_out_puts(o, "\"level\":");
        it_out_json_str(o, it_record_value(r, 0));
        it_out_puts(o, ",\"logger\":");
        it_out_json_str(o, it_record_value(r, 1));
        it_out_puts(o, ",\"message\":");
        it_out_json_str(o, it_record_value(r, 2));
        it_out_put(o, "}\n", 2);
        return;
    }
    const it_code_entry *e = it_registry_get(r->code_id);
    it_out_puts(o, "\"module\":");
    it_out_json_str(o, e->module);
    it_out_puts(o, ",\"qualname\":");
    it_out_json_str(o, e->qualname);
    it_out_puts(o, ",\"file\":");
    it_out_json_str(o, e->filename);
    it_out_printf(o, ",\"line\":%d", e->firstlineno);
    if (r->event == IT_EV_CALL && r->nvalues && values) {
        it_out_puts(o, ",\"args\":{");
        for (int i = 0; i < r->nvalues && i < e->nargs; i++) {
            if (i)
                it_out_put(o, ",", 1);
            it_out_json_str(o, e->argnames[i]);
            it_out_put(o, ":", 1);
            it_out_json_str(o, it_record_value(r, i));
        }
        it_out_put(o, "}", 1);
    } else if (r->event == IT_EV_UNWIND) {
        it_out_puts(o, ",\"exception\":");
        it_out_json_str(o, it_record_value(r, 0));
    } else if (r->nvalues && values) {
        it_out_puts(o, ",\"retval\":");
        it_out_json_str(o, it_record_value(r, 0));
    }
    it_out_put(o, "}\n", 2);
}

#endif
