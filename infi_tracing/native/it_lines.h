/* Text lines and JSON lines: the one formatting of a record, for the live
 * sinks (the drain thread, without the GIL: infi_tracing/native/it_format.h
 * hands ring records to it) and for the trace reader (decode, replay:
 * infi_tracing/analysis/native/it_rwrite.h), so a decoded line is byte for
 * byte the live sink's line.  No Python, no ring, no registry: everything
 * comes from a view of the record (it_fmt_rec) and of its function
 * (it_fmt_func). */
#ifndef IT_LINES_H
#define IT_LINES_H

#include "it_events.h"
#include "it_out.h"
#include <stdint.h>
#include <string.h>
#include <time.h>

enum { IT_FORMAT_TEXT = 0, IT_FORMAT_JSONL = 1 };

/* The longest line written: a longer one is cut there and still ends with
 * its newline (the live sinks and decode cut alike). */
#define IT_LINE_MAX (32 * 1024)

/* Characters that never reach a text output raw: C0 controls, DEL, C1
 * controls (U+0080-U+009F, NEL among them), U+2028 and U+2029.  They end
 * lines (for some readers), spoof log lines or drive terminals.
 *
 * it_stop marks the bytes a scan must stop at: 1 for those that may start
 * such a character (a C1 control is C2 80-9F in UTF-8, U+2028/9 E2 80
 * A8/A9) and the NUL that ends the string, 2 more for what JSON escapes as
 * well.  Scanning with it lets runs of plain text be copied whole, which
 * keeps the drain's text formatting about as fast as copying. */
static const unsigned char it_stop[256] = {
    [0x00 ... 0x1f] = 1, [0x7f] = 1, [0xc2] = 1, [0xe2] = 1, ['"'] = 2, ['\\'] = 2,
};

/* The length of the UTF-8 sequence at `s` if it is one of the characters
 * above (its code point in *cp), else 0.  `s` is NUL-terminated valid UTF-8
 * (the hook and the registry make it so); the NUL ending it is not one. */
static inline int it_unsafe_at(const unsigned char *s, unsigned *cp) {
    unsigned char c = s[0];
    if ((c < 0x20 && c) || c == 0x7f) {
        *cp = c;
        return 1;
    }
    if (c == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) {
        *cp = s[1];
        return 2;
    }
    if (c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
        *cp = 0x2000u + (s[2] - 0x80u);
        return 3;
    }
    return 0;
}

/* `s` for a text line (text sinks, syslog): the characters above escaped
 * as repr() writes them (\n \r \t, \xhh, \u2028), all else as is.  The only
 * place text output escapes (infi_tracing/_format.py mirrors it); a repr's
 * own backslashes are left alone, so a repr shows once. */
static inline void it_out_text(it_out *o, const char *str) {
    const unsigned char *s = (const unsigned char *)str, *run = s;
    unsigned cp;
    for (;;) {
        while (!(it_stop[*s] & 1))
            s++;
        int n = *s ? it_unsafe_at(s, &cp) : 0;
        if (!n && *s) {
            s++;  /* a C2 or E2 that starts a plain character */
            continue;
        }
        it_out_put(o, (const char *)run, (size_t)(s - run));
        if (!n)
            return;
        if (cp == '\n' || cp == '\r' || cp == '\t')
            it_out_put(o, cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t", 2);
        else
            it_out_printf(o, cp < 0x100 ? "\\x%02x" : "\\u%04x", cp);
        s += n;
        run = s;
    }
}

/* JSON string: quote, backslash and the characters above as \uXXXX, so a
 * line stays one line for any reader and decodes to exactly `s`. */
static inline void it_out_json_str(it_out *o, const char *str) {
    const unsigned char *s = (const unsigned char *)str, *run = s;
    unsigned cp;
    it_out_put(o, "\"", 1);
    for (;;) {
        while (!it_stop[*s])
            s++;
        int n = *s ? it_unsafe_at(s, &cp) : 0;
        if (!n && *s && *s != '"' && *s != '\\') {
            s++;
            continue;
        }
        it_out_put(o, (const char *)run, (size_t)(s - run));
        if (!*s)
            break;
        if (n) {
            it_out_printf(o, "\\u%04x", cp);
            s += n;
        } else {
            char t[2] = {'\\', (char)*s++};
            it_out_put(o, t, 2);
        }
        run = s;
    }
    it_out_put(o, "\"", 1);
}

static inline void it_out_uint(it_out *o, unsigned long long v, int min_digits) {
    /* Written in place, two digits a step: decode writes a few numbers a line
     * by the million, and a short copy through memcpy cost more than the digits. */
    static const char pairs[] = "0001020304050607080910111213141516171819"
                                "2021222324252627282930313233343536373839"
                                "4041424344454647484950515253545556575859"
                                "6061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    static const unsigned long long tens[19] = {
        10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
        1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
        1000000000000000000ull, 10000000000000000000ull};
    int n = 1;
    while (n < 20 && v >= tens[n - 1])  /* comparisons: no chain of divisions */
        n++;
    if (n < min_digits)
        n = min_digits < 20 ? min_digits : 20;  /* 20: the most a 64-bit number has */
    char tmp[24];
    int direct = (size_t)n <= o->cap - o->len;
    char *end = direct ? o->p + o->len + n : tmp + n, *p = end;
    while (v >= 100) {
        p -= 2;
        memcpy(p, pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    while (p > end - n)
        *--p = '0';
    if (direct)
        o->len += (size_t)n;
    else
        it_out_put(o, tmp, (size_t)n);  /* cut at the buffer's end */
}

/* A signed integer in decimal, as printf's %d, %ld and %lld write it. */
static inline void it_out_int(it_out *o, long long v) {
    if (v < 0) {
        it_out_put(o, "-", 1);
        it_out_uint(o, 0ull - (unsigned long long)v, 1);
    } else {
        it_out_uint(o, (unsigned long long)v, 1);
    }
}

/* `n` bytes, `n` a constant: while they fit, a copy the compiler makes in
 * place (it_out_put's cut makes every length a variable, a memcpy call). */
static inline void it_out_put_const(it_out *o, const char *s, size_t n) {
    if (n <= o->cap - o->len) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    } else {
        it_out_put(o, s, n);
    }
}

/* A string literal, its length known at compile time. */
#define IT_OUT_LIT(o, lit) it_out_put_const((o), (lit), sizeof(lit) - 1)

/* ISO 8601 UTC with microseconds, e.g. 2026-11-25T22:10:01.123456Z.  The
 * date and time up to the second change rarely: the last one formatted is
 * kept. */
static inline void it_out_time(it_out *o, uint64_t wall_ns) {
    /* one caller at a time: the drain thread in the tracer's module, the
     * reader (GIL held) in the analysis module, each with its own copy */
    static time_t cached_sec = (time_t)-1;
    static char cached[24];
    static size_t cached_len;
    time_t sec = (time_t)(wall_ns / 1000000000ull);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S.", &tm);
        cached_sec = sec;
    }
    if (cached_len == 20)  /* years 1000-9999 */
        it_out_put_const(o, cached, 20);
    else
        it_out_put(o, cached, cached_len);
    it_out_uint(o, (wall_ns % 1000000000ull) / 1000, 6);
    it_out_put(o, "Z", 1);
}

/* The i-th of `n` bytes of NUL-separated values; "" past the last. */
static inline const char *it_values_at(const char *values, size_t n, int i) {
    if (!values)  /* before any arithmetic: NULL + 0 is undefined too */
        return "";
    const char *p = values, *end = values + n;
    for (; i > 0 && p < end; i--)
        p += strnlen(p, (size_t)(end - p)) + 1;
    return p < end ? p : "";
}

/* What a line shows of a record, wherever it comes from: a ring record
 * (it_format.h makes the view) or a trace file (the reader). */
typedef struct {
    int event;
    uint64_t ts;
    uint32_t greenlet;
    int32_t depth;
    uint64_t count;          /* IT_EV_LOST; IT_EV_OMITTED: the calls left out */
    const char *values;      /* NUL-separated, `values_len` bytes; NULL: none */
    size_t values_len;
    uint32_t nvalues;
    int64_t omitted_ns, omitted_active_ns;  /* IT_EV_OMITTED: the calls' wall and active time */
} it_fmt_rec;

/* The function a record names (module, qualname, file, first line, argument names). */
typedef struct {
    const char *module, *qualname, *filename;
    int line;
    int nargs;
    const char *const *argnames;
    /* Optional, for a writer of many lines of a function (decode): its part
     * of a line in one format, written once by it_format_func_part and
     * copied whole; NULL: formatted on every line (the live sinks).  Text:
     * the name (part_name_len bytes), then the place; jsonl: its keys. */
    const char *part;
    size_t part_len, part_name_len;
} it_fmt_func;

static inline const char *it_fmt_value(const it_fmt_rec *v, int i) {
    return it_values_at(v->values, v->values_len, i);
}

/* `n` bytes of e->part from `from`, if it was given and they fit with room
 * to spare: then each printf in them had room too, so the bytes are those
 * formatting them here would give (a line cut inside them is formatted).
 * 1 if copied. */
static inline int it_fmt_part_copy(it_out *o, const it_fmt_func *e, size_t from, size_t n) {
    if (!e->part || n >= o->cap - o->len)
        return 0;
    memcpy(o->p + o->len, e->part + from, n);
    o->len += n;
    return 1;
}

/* The function's parts of a text line: "module.qualname" and " file:line". */
static inline void it_format_text_name(it_out *o, const it_fmt_func *e) {
    it_out_text(o, e->module);
    it_out_put(o, ".", 1);
    it_out_text(o, e->qualname);
}

static inline void it_format_text_place(it_out *o, const it_fmt_func *e) {
    it_out_put(o, " ", 1);
    it_out_text(o, e->filename);
    it_out_put(o, ":", 1);
    it_out_uint(o, (unsigned long long)(e->line > 0 ? e->line : 0), 1);
}

/* The function's part of a JSON line: "module":..,"qualname":..,"file":..,"line":N */
static inline void it_format_jsonl_func(it_out *o, const it_fmt_func *e) {
    IT_OUT_LIT(o, "\"module\":");
    it_out_json_str(o, e->module);
    IT_OUT_LIT(o, ",\"qualname\":");
    it_out_json_str(o, e->qualname);
    IT_OUT_LIT(o, ",\"file\":");
    it_out_json_str(o, e->filename);
    IT_OUT_LIT(o, ",\"line\":");
    it_out_int(o, e->line);
}

/* What e->part holds for `format` (the lengths in *part_len, *name_len). */
static inline void it_format_func_part(it_out *o, const it_fmt_func *e, int format,
                                       size_t *part_len, size_t *name_len) {
    size_t start = o->len;
    if (format == IT_FORMAT_JSONL) {
        it_format_jsonl_func(o, e);
        *name_len = o->len - start;
    } else {
        it_format_text_name(o, e);
        *name_len = o->len - start;
        it_format_text_place(o, e);
    }
    *part_len = o->len - start;
}

#define IT_INDENT_MAX 60

/* A call's duration as text lines show it, every nanosecond kept: " [812 ns]",
 * " [3.456 us]", " [1.132456 ms]", " [1.132456789 s]" (the unit by size, then all
 * the digits down to the ns: 0, 3, 6 or 9 decimals); nothing for a negative
 * (unknown) duration.  Why exact: a syslog or text stream has no other record
 * of the call, and a reader's self time is a difference of such durations, so
 * rounding each to 4 digits made self times off by 1 ms steps past 1 s (issue
 * 12); the leading digits and the unit still read at a glance.
 * _format.format_duration is the same in Python; it_rtext.h reads it back. */
static inline void it_out_duration(it_out *o, int64_t ns) {
    if (ns < 0)
        return;
    static const char *const units[] = {" ns]", " us]", " ms]", " s]"};
    uint64_t v = (uint64_t)ns, scale = 1;
    int u = 0;
    while (u < 3 && v >= scale * 1000) {
        scale *= 1000;
        u++;
    }
    it_out_put(o, " [", 2);
    it_out_uint(o, v / scale, 1);
    if (u) {
        it_out_put(o, ".", 1);
        it_out_uint(o, v % scale, 3 * u);
    }
    it_out_puts(o, units[u]);
}

/* The part of a text line after "TIME PID ":
 *   TID gGREENLET <indent>[depth N ]MARK module.qualname[(args)][ -> value][ [DURATION]] file:line
 * MARK: '>' call, '<' return, '!' exception, '>>' resume, '<<' yield.  The
 * indent is 2 spaces per level up to IT_INDENT_MAX levels; deeper lines
 * say their depth ("[depth 73] ").  Names and values are escaped
 * (it_out_text).  `values` 0 hides arguments and return values (a sink's
 * detail level); the exception type is always shown.  `e` names the code
 * of a function's record (the live registry's entry, or one a trace file
 * defined); unused for "lost" and "log".  `duration_ns` is the call's
 * duration on an exit, negative when unknown or not an exit.  No newline.
 * (it_format_body: the same for a ring record and a registry entry.) */
static inline void it_format_body_v(it_out *o, const it_fmt_rec *r, const it_fmt_func *e,
                                    long tid, int values, int64_t duration_ns) {
    it_out_uint(o, (unsigned long long)tid, 1);
    if (r->event == IT_EV_LOST) {
        it_out_put(o, " lost ", 6);
        it_out_uint(o, (unsigned long long)r->count, 1);
        it_out_put(o, " records", 8);
        return;
    }
    int indent = r->depth < IT_INDENT_MAX ? r->depth : IT_INDENT_MAX;
    static const char *const marks[IT_EV_COUNT] = {
        [IT_EV_PAD] = "?",     [IT_EV_CALL] = ">",   [IT_EV_RETURN] = "<", [IT_EV_UNWIND] = "!",
        [IT_EV_RESUME] = ">>", [IT_EV_YIELD] = "<<", [IT_EV_LOST] = "?",   [IT_EV_LOG] = "#",
        [IT_EV_SWITCH] = "~",  [IT_EV_OMITTED] = "-",
    };
    static const char spaces[2 * IT_INDENT_MAX + 1] =
        "                                                            "
        "                                                            ";
    it_out_put(o, " g", 2);
    it_out_uint(o, r->greenlet, 1);
    it_out_put(o, " ", 1);
    it_out_put(o, spaces, (size_t)(indent > 0 ? indent : 0) * 2);
    if (r->depth > IT_INDENT_MAX)
        it_out_printf(o, "[depth %d] ", r->depth);
    it_out_puts(o, marks[r->event]);
    it_out_put(o, " ", 1);
    if (r->event == IT_EV_OMITTED) {
        /* "- omitted N calls [WALL ns]" before its call's exit: the time in whole ns (a
         * reader subtracts it from the call's self time; 4 digits would not be exact) */
        it_out_put(o, "omitted ", 8);
        it_out_uint(o, (unsigned long long)r->count, 1);
        it_out_put(o, " calls [", 8);
        it_out_uint(o, (unsigned long long)(r->omitted_ns > 0 ? r->omitted_ns : 0), 1);
        it_out_put(o, " ns]", 4);
        return;
    }
    if (r->event == IT_EV_LOG) {  /* "# LEVEL logger: message" */
        it_out_text(o, it_fmt_value(r, 0));
        it_out_put(o, " ", 1);
        it_out_text(o, it_fmt_value(r, 1));
        it_out_put(o, ": ", 2);
        it_out_text(o, it_fmt_value(r, 2));
        return;
    }
    if (!it_fmt_part_copy(o, e, 0, e->part_name_len))
        it_format_text_name(o, e);
    if (r->event == IT_EV_CALL) {
        if (r->nvalues && values) {  /* arguments were captured (TRACE_FUNC_PRIMITIVES and up) */
            it_out_put(o, "(", 1);
            for (int i = 0; (uint32_t)i < r->nvalues && i < e->nargs; i++) {
                if (i)
                    it_out_put(o, ", ", 2);
                it_out_text(o, e->argnames[i]);
                it_out_put(o, "=", 1);
                it_out_text(o, it_fmt_value(r, i));
            }
            it_out_put(o, ")", 1);
        }
    } else if (r->event == IT_EV_UNWIND) {
        it_out_put(o, " raised ", 8);
        it_out_text(o, it_fmt_value(r, 0));
    } else if (r->nvalues && values) {
        it_out_put(o, " -> ", 4);
        it_out_text(o, it_fmt_value(r, 0));
    }
    it_out_duration(o, duration_ns);
    if (!it_fmt_part_copy(o, e, e->part_name_len, e->part_len - e->part_name_len))
        it_format_text_place(o, e);
}

/* One text line: TIME PID BODY (see it_format_body_v) and a newline. */
static inline void it_format_text_v(it_out *o, const it_fmt_rec *r, const it_fmt_func *e, long pid,
                                    long tid, int64_t wall_offset, int values,
                                    int64_t duration_ns) {
    it_out_time(o, r->ts + (uint64_t)wall_offset);
    it_out_put(o, " ", 1);
    it_out_uint(o, (unsigned long long)pid, 1);
    it_out_put(o, " ", 1);
    it_format_body_v(o, r, e, tid, values, duration_ns);
    it_out_put(o, "\n", 1);
}

/* One JSON line; "duration_ns" last on an exit whose duration is known. */
static inline void it_format_jsonl_v(it_out *o, const it_fmt_rec *r, const it_fmt_func *e,
                                     long pid, long tid, int64_t wall_offset, int values,
                                     int64_t duration_ns) {
    it_out_put(o, "{\"time\":\"", 9);
    it_out_time(o, r->ts + (uint64_t)wall_offset);
    /* no printf: JSON lines are written by the million (decode) */
    IT_OUT_LIT(o, "\",\"mono_ns\":");
    it_out_uint(o, (unsigned long long)r->ts, 1);
    IT_OUT_LIT(o, ",\"pid\":");
    it_out_int(o, pid);
    IT_OUT_LIT(o, ",\"tid\":");
    it_out_int(o, tid);
    IT_OUT_LIT(o, ",\"event\":\"");
    it_out_puts(o, it_event_names[r->event]);
    IT_OUT_LIT(o, "\"");
    if (r->event == IT_EV_LOST) {
        IT_OUT_LIT(o, ",\"count\":");
        it_out_uint(o, (unsigned long long)r->count, 1);
        IT_OUT_LIT(o, "}\n");
        return;
    }
    IT_OUT_LIT(o, ",\"greenlet\":");
    it_out_uint(o, r->greenlet, 1);
    IT_OUT_LIT(o, ",\"depth\":");
    it_out_int(o, r->depth);
    if (r->event == IT_EV_OMITTED) {
        IT_OUT_LIT(o, ",\"omitted_calls\":");
        it_out_uint(o, (unsigned long long)r->count, 1);
        IT_OUT_LIT(o, ",\"omitted_ns\":");
        it_out_int(o, r->omitted_ns);
        IT_OUT_LIT(o, ",\"omitted_active_ns\":");
        it_out_int(o, r->omitted_active_ns);
        IT_OUT_LIT(o, "}\n");
        return;
    }
    IT_OUT_LIT(o, ",");
    if (r->event == IT_EV_LOG) {
        IT_OUT_LIT(o, "\"level\":");
        it_out_json_str(o, it_fmt_value(r, 0));
        IT_OUT_LIT(o, ",\"logger\":");
        it_out_json_str(o, it_fmt_value(r, 1));
        IT_OUT_LIT(o, ",\"message\":");
        it_out_json_str(o, it_fmt_value(r, 2));
        it_out_put(o, "}\n", 2);
        return;
    }
    if (!it_fmt_part_copy(o, e, 0, e->part_len))
        it_format_jsonl_func(o, e);
    if (r->event == IT_EV_CALL && r->nvalues && values) {
        IT_OUT_LIT(o, ",\"args\":{");
        for (int i = 0; (uint32_t)i < r->nvalues && i < e->nargs; i++) {
            if (i)
                it_out_put(o, ",", 1);
            it_out_json_str(o, e->argnames[i]);
            it_out_put(o, ":", 1);
            it_out_json_str(o, it_fmt_value(r, i));
        }
        it_out_put(o, "}", 1);
    } else if (r->event == IT_EV_UNWIND) {
        IT_OUT_LIT(o, ",\"exception\":");
        it_out_json_str(o, it_fmt_value(r, 0));
    } else if (r->nvalues && values) {
        IT_OUT_LIT(o, ",\"retval\":");
        it_out_json_str(o, it_fmt_value(r, 0));
    }
    if (duration_ns >= 0) {
        IT_OUT_LIT(o, ",\"duration_ns\":");
        it_out_int(o, duration_ns);
    }
    it_out_put(o, "}\n", 2);
}

#endif
