/* The JSON-lines trace source: one object per line, the keys of
 * _format.format_jsonl / it_format_jsonl ("time", "mono_ns", "pid", "tid",
 * "event", "greenlet", "depth", "module", "qualname", "file", "line",
 * "args", "exception", "retval", "duration_ns", "count", "level",
 * "logger", "message", "from_greenlet"), in any order; unknown keys are
 * ignored.  ts is mono_ns (the trace's clock), wall_offset the wall time
 * of "time" less it (microseconds).  A line that is not such an object is
 * skipped and counted, never fatal.  Memory: the line buffer and a string
 * buffer of the same size. */
#ifndef IT_RJSONL_H
#define IT_RJSONL_H

#include "../../native/it_events.h"  /* before it_rrec.h: the event enum */
#include "it_rline.h"
#include "it_rrec.h"
#include "it_rsource.h"
#include "it_rtime.h"

#define IT_RJSONL_MAXARGS 64

typedef struct {
    it_rsource base;
    it_rline line;
    char *strs;         /* unescaped strings of the current line, NUL-terminated */
    size_t used;
    char *values;       /* the record's values, NUL-separated */
    const char *argnames[IT_RJSONL_MAXARGS];
    const char *argvalues[IT_RJSONL_MAXARGS];
} it_rjsonl;

static inline const char *it_json_ws(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static inline int it_json_hex4(const char *s, unsigned *v) {
    unsigned n = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        n <<= 4;
        if (c >= '0' && c <= '9')
            n |= (unsigned)(c - '0');
        else if ((c | 32) >= 'a' && (c | 32) <= 'f')
            n |= (unsigned)((c | 32) - 'a' + 10);
        else
            return 0;
    }
    *v = n;
    return 1;
}

/* The string at *p (its opening quote) unescaped into the string buffer:
 * its start (NUL-terminated) and *len, or NULL if malformed. */
static inline const char *it_json_string(it_rjsonl *j, const char **p, size_t *len) {
    const char *s = *p;
    if (*s++ != '"')
        return NULL;
    char *out = j->strs + j->used, *o = out;
    for (;;) {
        const char *run = s;
        while (*s && *s != '"' && *s != '\\')
            s++;
        memcpy(o, run, (size_t)(s - run));
        o += s - run;
        if (*s == '"')
            break;
        if (!*s)
            return NULL;
        s++;  /* a backslash */
        char c = *s++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = c; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!it_json_hex4(s, &cp))
                return NULL;
            s += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && s[0] == '\\' && s[1] == 'u' &&
                it_json_hex4(s + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            }
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xc0 | cp >> 6);
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xe0 | cp >> 12);
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            } else {
                *o++ = (char)(0xf0 | cp >> 18);
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *o++ = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            return NULL;
        }
    }
    *o = '\0';
    *len = (size_t)(o - out);
    j->used += *len + 1;
    *p = s + 1;
    return out;
}

static inline int it_json_int(const char **p, int64_t *v) {
    const char *s = *p;
    int neg = *s == '-';
    s += neg;
    if (*s < '0' || *s > '9')
        return 0;
    int64_t n = 0;
    const char *digits = s;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (s - digits == 18)
            return 0;  /* more than an int64_t holds safely */
        n = n * 10 + (*s - '0');
    }
    if (*s == '.' || *s == 'e' || *s == 'E')
        return 0;
    *v = neg ? -n : n;
    *p = s;
    return 1;
}

/* Skips any value (for unknown keys); 0 if malformed. */
static inline int it_json_skip(it_rjsonl *j, const char **p, int depth) {
    const char *s = it_json_ws(*p);
    size_t len;
    if (depth > 64)
        return 0;
    if (*s == '"') {
        size_t used = j->used;
        if (!it_json_string(j, &s, &len))
            return 0;
        j->used = used;
    } else if (*s == '{' || *s == '[') {
        char close = *s == '{' ? '}' : ']';
        s = it_json_ws(s + 1);
        if (*s == close) {
            *p = s + 1;
            return 1;
        }
        for (;;) {
            if (close == '}') {
                size_t used = j->used;
                if (!it_json_string(j, &s, &len))
                    return 0;
                j->used = used;
                s = it_json_ws(s);
                if (*s++ != ':')
                    return 0;
            }
            if (!it_json_skip(j, &s, depth + 1))
                return 0;
            s = it_json_ws(s);
            if (*s == ',') {
                s = it_json_ws(s + 1);
                continue;
            }
            if (*s++ != close)
                return 0;
            break;
        }
    } else {
        const char *start = s;
        while (*s && *s != ',' && *s != '}' && *s != ']' && *s != ' ')
            s++;
        if (s == start)
            return 0;
    }
    *p = s;
    return 1;
}

enum {
    IT_JK_OTHER, IT_JK_TIME, IT_JK_ARGS, IT_JK_MODULE, IT_JK_QUALNAME, IT_JK_FILE, IT_JK_EVENT,
    IT_JK_RETVAL, IT_JK_EXCEPTION, IT_JK_LEVEL, IT_JK_LOGGER, IT_JK_MESSAGE, IT_JK_MONO,
    IT_JK_PID, IT_JK_TID, IT_JK_LINE, IT_JK_DURATION, IT_JK_GREENLET, IT_JK_FROM, IT_JK_DEPTH,
    IT_JK_COUNT, IT_JK_OMITTED_CALLS, IT_JK_OMITTED_NS, IT_JK_OMITTED_ACTIVE,
};

/* Which key: by length, then the bytes (a chain of strcmp was most of the
 * time spent on a line). */
static inline int it_rjsonl_key(const char *k, size_t n) {
#define IT_JK_IS(lit) (n == sizeof lit - 1 && !memcmp(k, lit, sizeof lit - 1))
    switch (n) {
    case 3:
        return IT_JK_IS("pid") ? IT_JK_PID : IT_JK_IS("tid") ? IT_JK_TID : IT_JK_OTHER;
    case 4:
        return IT_JK_IS("time") ? IT_JK_TIME : IT_JK_IS("args") ? IT_JK_ARGS :
               IT_JK_IS("file") ? IT_JK_FILE : IT_JK_IS("line") ? IT_JK_LINE : IT_JK_OTHER;
    case 5:
        return IT_JK_IS("event") ? IT_JK_EVENT : IT_JK_IS("depth") ? IT_JK_DEPTH :
               IT_JK_IS("level") ? IT_JK_LEVEL : IT_JK_IS("count") ? IT_JK_COUNT : IT_JK_OTHER;
    case 6:
        return IT_JK_IS("module") ? IT_JK_MODULE : IT_JK_IS("retval") ? IT_JK_RETVAL :
               IT_JK_IS("logger") ? IT_JK_LOGGER : IT_JK_OTHER;
    case 7:
        return IT_JK_IS("mono_ns") ? IT_JK_MONO : IT_JK_IS("message") ? IT_JK_MESSAGE :
               IT_JK_OTHER;
    case 8:
        return IT_JK_IS("qualname") ? IT_JK_QUALNAME : IT_JK_IS("greenlet") ? IT_JK_GREENLET :
               IT_JK_OTHER;
    case 9:
        return IT_JK_IS("exception") ? IT_JK_EXCEPTION : IT_JK_OTHER;
    case 11:
        return IT_JK_IS("duration_ns") ? IT_JK_DURATION : IT_JK_OTHER;
    case 10:
        return IT_JK_IS("omitted_ns") ? IT_JK_OMITTED_NS : IT_JK_OTHER;
    case 13:
        return IT_JK_IS("from_greenlet") ? IT_JK_FROM : IT_JK_IS("omitted_calls") ?
               IT_JK_OMITTED_CALLS : IT_JK_OTHER;
    case 17:
        return IT_JK_IS("omitted_active_ns") ? IT_JK_OMITTED_ACTIVE : IT_JK_OTHER;
    default:
        return IT_JK_OTHER;
    }
#undef IT_JK_IS
}

static inline int it_rjsonl_event(const char *name) {
    for (int e = IT_EV_CALL; e < IT_EV_COUNT; e++)
        if (!strcmp(name, it_event_names[e]))
            return e;
    return -1;
}

/* One line into `r`: 1, or 0 if it is not a trace record. */
static inline int it_rjsonl_parse(it_rjsonl *j, const char *s, it_rrec *r) {
    const char *module = NULL, *qualname = NULL, *file = NULL, *event = NULL;
    const char *retval = NULL, *exc = NULL, *level = NULL, *logger = NULL, *message = NULL;
    size_t mlen = 0, qlen = 0, flen = 0, len;
    int64_t time_ns = 0, mono = 0, v, line = 0;
    int has_time = 0, has_mono = 0, has_pid = 0, nargs = 0;
    j->used = 0;
    s = it_json_ws(s);
    if (*s++ != '{')
        return 0;
    s = it_json_ws(s);
    while (*s != '}') {
        const char *key = it_json_string(j, &s, &len);
        if (!key)
            return 0;
        s = it_json_ws(s);
        if (*s++ != ':')
            return 0;
        s = it_json_ws(s);
        const char **str = NULL;
        size_t *slen = &len;
        int64_t *num = NULL;
        int which = it_rjsonl_key(key, len);
        if (which == IT_JK_TIME) {
            const char *t = it_json_string(j, &s, &len);
            if (!t || !it_parse_iso(t, &time_ns))
                return 0;
            has_time = 1;
        } else if (which == IT_JK_ARGS) {
            if (*s++ != '{')
                return 0;
            s = it_json_ws(s);
            while (*s != '}') {
                if (nargs == IT_RJSONL_MAXARGS)
                    return 0;
                if (!(j->argnames[nargs] = it_json_string(j, &s, &len)))
                    return 0;
                s = it_json_ws(s);
                if (*s++ != ':')
                    return 0;
                s = it_json_ws(s);
                if (!(j->argvalues[nargs++] = it_json_string(j, &s, &len)))
                    return 0;
                s = it_json_ws(s);
                if (*s == ',')
                    s = it_json_ws(s + 1);
                else if (*s != '}')
                    return 0;
            }
            s++;
        } else {
            switch (which) {
            case IT_JK_MODULE: str = &module, slen = &mlen; break;
            case IT_JK_QUALNAME: str = &qualname, slen = &qlen; break;
            case IT_JK_FILE: str = &file, slen = &flen; break;
            case IT_JK_EVENT: str = &event; break;
            case IT_JK_RETVAL: str = &retval; break;
            case IT_JK_EXCEPTION: str = &exc; break;
            case IT_JK_LEVEL: str = &level; break;
            case IT_JK_LOGGER: str = &logger; break;
            case IT_JK_MESSAGE: str = &message; break;
            case IT_JK_MONO: num = &mono, has_mono = 1; break;
            case IT_JK_PID: num = &r->pid, has_pid = 1; break;
            case IT_JK_TID: num = &r->tid; break;
            case IT_JK_LINE: num = &line; break;
            case IT_JK_DURATION: num = &r->duration_ns; break;
            /* an "omitted" record: the reader keeps their time in the durations */
            case IT_JK_OMITTED_NS: num = &r->duration_ns; break;
            case IT_JK_OMITTED_ACTIVE: num = &r->active_ns; break;
            case IT_JK_OMITTED_CALLS:
            case IT_JK_GREENLET: case IT_JK_FROM: case IT_JK_DEPTH: case IT_JK_COUNT:
                num = &v;
                break;
            default: break;
            }
            if (str) {
                if (!(*str = it_json_string(j, &s, slen)))
                    return 0;
            } else if (num) {
                if (!it_json_int(&s, num))
                    return 0;
                if (which == IT_JK_GREENLET)
                    r->greenlet = (uint32_t)v;
                else if (which == IT_JK_FROM)
                    r->from_greenlet = (uint32_t)v;
                else if (which == IT_JK_DEPTH)
                    r->depth = (int32_t)v;
                else if (which == IT_JK_COUNT || which == IT_JK_OMITTED_CALLS)
                    r->count = (uint64_t)v;
            } else if (!it_json_skip(j, &s, 0)) {
                return 0;
            }
        }
        s = it_json_ws(s);
        if (*s == ',')
            s = it_json_ws(s + 1);
        else if (*s != '}')
            return 0;
    }
    if (!event || !has_pid || (!has_time && !has_mono))
        return 0;
    int ev = it_rjsonl_event(event);
    if (ev < 0)
        return 0;
    r->event = ev;
    r->ts = (uint64_t)(has_mono ? mono : time_ns);
    r->wall_offset = has_mono && has_time ? time_ns - mono : 0;  /* within a microsecond */
    /* values, in the record's order */
    char *o = j->values;
    if (ev == IT_EV_LOG) {
        const char *parts[3] = {level ? level : "", logger ? logger : "", message ? message : ""};
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(parts[i]);
            memcpy(o, parts[i], n + 1);
            o += n + 1;
        }
        r->nvalues = 3;
    } else if (ev == IT_EV_CALL) {
        for (int i = 0; i < nargs; i++) {
            size_t n = strlen(j->argvalues[i]);
            memcpy(o, j->argvalues[i], n + 1);
            o += n + 1;
        }
        r->nvalues = (uint32_t)nargs;
    } else if (exc || retval) {
        const char *one = ev == IT_EV_UNWIND ? (exc ? exc : "?") : retval;
        if (one) {
            size_t n = strlen(one);
            memcpy(o, one, n + 1);
            o += n + 1;
            r->nvalues = 1;
        }
    }
    r->values_len = (uint32_t)(o - j->values);
    r->values = r->nvalues ? j->values : NULL;
    if (it_event_has_code(ev)) {
        if (!module || !qualname || !file)
            return 0;
        r->func = it_rfuncs_intern(j->base.funcs, module, mlen, qualname, qlen, file, flen,
                                   (int)line, nargs, j->argnames);
        if (!r->func)
            return 0;
    }
    return 1;
}

/* A line, for it_rline_source_next. */
static inline int it_rjsonl_line(it_rsource *src, char *line, size_t len, it_rrec *r) {
    (void)len;  /* NUL-terminated */
    return it_rjsonl_parse((it_rjsonl *)src, line, r);
}

static inline int it_rjsonl_next(it_rsource *src, it_rrec *r) {
    return it_rline_source_next(src, &((it_rjsonl *)src)->line, "JSON trace", it_rjsonl_line, r);
}

static inline void it_rjsonl_destroy(it_rsource *src) {
    it_rjsonl *j = (it_rjsonl *)src;
    it_rinput_close(&j->line.in);
    free(j->strs);
    free(j->values);
    free(j);
}

/* A jsonl source for `in` (taken over, as it_detect_open hands it on), or
 * NULL when memory runs out (`in` closed). */
static inline it_rsource *it_rjsonl_open(it_rinput *in, it_rfuncs *funcs, uint32_t index) {
    it_rjsonl *j = calloc(1, sizeof *j);
    /* unescaping never lengthens a string; values are copies of strings */
    if (j) {
        j->strs = malloc(IT_RLINE_MAX + 16);
        j->values = malloc(IT_RLINE_MAX + 16);
    }
    if (!j || !j->strs || !j->values) {
        if (j) {
            free(j->strs);
            free(j->values);
        }
        free(j);
        it_rinput_close(in);
        return NULL;
    }
    j->line.in = *in;
    in->buf = NULL;
    in->fd = -1;
    j->base.next = it_rjsonl_next;
    j->base.destroy = it_rjsonl_destroy;
    j->base.funcs = funcs;
    j->base.index = index;
    return &j->base;
}

#endif
