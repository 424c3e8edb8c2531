/* The text trace source: lines as text sinks write them (it_format.h,
 * _format.format_text), alone or behind a syslog header as a central
 * rsyslogd or syslog-ng writes received messages to files:
 *
 *   TIME PID TID gG <indent>MARK module.qualname[(args)][ -> v| raised X][ [dur]] file:line
 *   TIME PID TID lost N records
 *   <PRI>1 TIME HOST APP PROCID MSGID SD TID gG ...        (RFC 5424)
 *   TIME HOST APP[PID][:] TID gG ...                         (rsyslog's RSYSLOG_FileFormat)
 *   Mmm dd hh:mm:ss HOST APP[PID][:] TID gG ...              (the traditional file format)
 *
 * The file is all that follows the name, the values and the duration,
 * spaces and all (it_rtext_file_at): a name has no space and a value is a
 * repr, which shows its spaces only inside quotes and brackets.
 * A syslog message holds the body only (its time and pid are the header's).
 * Lines that are not trace records (other programs' messages, daemon
 * notices, a torn last line) are skipped and counted, never fatal.
 *
 * Identity: hosts may share pids, so a syslog line's pid carries its host
 * in the high 32 bits (IT_RREC_PID_REAL gives the pid back, IT_RREC_HOST
 * the host's entry in the function table: module "", file "<host>").
 *
 * Times are wall time (microseconds in text, seconds in the traditional
 * syslog format): ts = wall ns, wall_offset 0.  Names and values are kept as
 * shown (escaped).  A duration written on the line is read into
 * duration_ns (to the ns; three decimals in older lines).  Memory: the line buffer and a
 * value buffer of the same size, whatever the file's length. */
#ifndef IT_RTEXT_H
#define IT_RTEXT_H

#include "../../native/it_events.h"  /* before it_rrec.h: the event enum */
#include "it_rhost.h"
#include "it_rline.h"
#include "it_rrec.h"
#include "it_rsource.h"
#include "it_rtext_parse.h"
#include "it_rtime.h"

#define IT_RTEXT_MAXARGS 64

typedef struct {
    it_rsource base;
    it_rline line;
    char *values;                  /* the current record's values, NUL-separated */
    const char *argnames[IT_RTEXT_MAXARGS];
    char bsd_key[16];              /* the last traditional timestamp parsed, and its time */
    int64_t bsd_ns;
    time_t now;
    uint32_t last_host;            /* the last host's function-table entry, to skip interning */
    char last_host_name[256];
} it_rtext;

/* Appends `n` bytes and a NUL to the record's values. */
static inline void it_rtext_value(it_rtext *t, it_rrec *r, const char *s, size_t n) {
    memcpy(t->values + r->values_len, s, n);
    r->values_len += (uint32_t)n;
    t->values[r->values_len++] = '\0';
    r->nvalues++;
}

/* The body after "TID " ... : fills `r` (pid, ts set by the caller).
 * Returns 1, or 0 if it is not a trace record. */
static inline int it_rtext_body(it_rtext *t, const char *s, const char *end, it_rrec *r) {
    int64_t v;
    if (!it_rtext_number(&s, &r->tid) || *s++ != ' ')
        return 0;
    if (!strncmp(s, "lost ", 5)) {
        s += 5;
        if (!it_rtext_number(&s, &v) || strcmp(s, " records"))
            return 0;
        r->event = IT_EV_LOST;
        r->count = (uint64_t)v;
        return 1;
    }
    if (*s++ != 'g' || !it_rtext_number(&s, &v) || *s++ != ' ')
        return 0;
    r->greenlet = (uint32_t)v;
    const char *indent = s;
    while (*s == ' ')
        s++;
    r->depth = (int32_t)((s - indent) / 2);
    if (!strncmp(s, "[depth ", 7)) {
        s += 7;
        if (!it_rtext_number(&s, &v) || *s++ != ']' || *s++ != ' ')
            return 0;
        r->depth = (int32_t)v;
    }
    if (s[0] == '>' && s[1] == '>')
        r->event = IT_EV_RESUME, s += 2;
    else if (s[0] == '<' && s[1] == '<')
        r->event = IT_EV_YIELD, s += 2;
    else if (*s == '>')
        r->event = IT_EV_CALL, s++;
    else if (*s == '<')
        r->event = IT_EV_RETURN, s++;
    else if (*s == '!')
        r->event = IT_EV_UNWIND, s++;
    else if (*s == '#')
        r->event = IT_EV_LOG, s++;
    else if (*s == '~')
        r->event = IT_EV_SWITCH, s++;
    else if (*s == '-')
        r->event = IT_EV_OMITTED, s++;
    else
        return 0;
    if (r->event == IT_EV_OMITTED) {  /* "- omitted N calls [WALL ns]" (it_lines.h) */
        if (strncmp(s, " omitted ", 9))
            return 0;
        s += 9;
        if (!it_rtext_number(&s, &v) || strncmp(s, " calls", 6))
            return 0;
        r->count = (uint64_t)v;
        const char *dur_at;
        r->duration_ns = it_rtext_duration(s + 6, end, &dur_at);
        r->active_ns = r->duration_ns;
        return r->duration_ns >= 0 && dur_at == s + 6;
    }
    if (r->event == IT_EV_SWITCH) {  /* "~ ... gFROM ...": the greenlet it left, if shown */
        const char *g = strstr(s, " g");
        r->from_greenlet = 0;
        if (g) {
            g += 2;
            if (it_rtext_number(&g, &v))
                r->from_greenlet = (uint32_t)v;
        }
        return 1;
    }
    if (*s++ != ' ')
        return 0;
    if (r->event == IT_EV_LOG) {  /* "LEVEL logger: message" */
        const char *sp = strchr(s, ' ');
        const char *colon = sp ? strstr(sp + 1, ": ") : NULL;
        if (!colon)
            return 0;
        it_rtext_value(t, r, s, (size_t)(sp - s));
        it_rtext_value(t, r, sp + 1, (size_t)(colon - sp - 1));
        it_rtext_value(t, r, colon + 2, (size_t)(end - colon - 2));
        return 1;
    }
    /* " file:line" at the end */
    const char *colon = end;
    while (colon > s && it_rtext_is_digit(colon[-1]))
        colon--;
    if (colon == end || colon <= s || colon[-1] != ':')
        return 0;
    const char *digits = colon;
    int64_t line;
    if (!it_rtext_number(&digits, &line))
        return 0;
    colon--;
    const char *file = it_rtext_file_at(s, colon, r->event == IT_EV_CALL);
    if (!file) {  /* a value that is no repr (it_rtext_value_end): the file is the last word */
        file = colon;
        while (file > s && file[-1] != ' ')
            file--;
        if (file <= s)
            return 0;
    }
    const char *mid_end = file - 1;  /* the space before the file */
    const char *name = s;
    while (s < mid_end && *s != ' ' && *s != '(')
        s++;
    size_t nlen = (size_t)(s - name);
    if (!nlen)
        return 0;
    int nargs = 0;
    r->duration_ns = -1;
    if (r->event == IT_EV_CALL) {
        if (s < mid_end && *s == '(') {  /* "(a=1, b=x)": split before ", NAME=" */
            if (mid_end[-1] != ')')
                return 0;
            const char *p = s + 1, *stop = mid_end - 1;
            char *names = t->values + IT_RLINE_MAX + 8;  /* argument names: the buffer's upper half */
            size_t nused = 0;
            while (p < stop && nargs < IT_RTEXT_MAXARGS) {
                const char *eq = memchr(p, '=', (size_t)(stop - p));
                if (!eq)
                    break;
                const char *next = eq + 1, *vend = stop, *from = next;
                if (from < stop && (*from == '\'' || *from == '"')) {
                    /* a str's repr: its ", x=" are not separators */
                    const char *close = from + 1;
                    while (close < stop && *close != *from)
                        close += *close == '\\' ? 2 : 1;
                    if (close < stop)
                        from = close;
                }
                for (const char *q = from; q + 2 < stop; q++) {
                    if (q[0] != ',' || q[1] != ' ')
                        continue;
                    const char *w = q + 2;
                    while (w < stop && *w == '*')
                        w++;  /* *args, **kwargs */
                    while (w < stop && (*w == '_' || it_rtext_is_digit(*w) ||
                                        ((*w | 32) >= 'a' && (*w | 32) <= 'z') ||
                                        (unsigned char)*w >= 0x80))
                        w++;
                    if (w > q + 2 && w < stop && *w == '=' && w[-1] != '*') {
                        vend = q;
                        break;
                    }
                }
                memcpy(names + nused, p, (size_t)(eq - p));
                names[nused + (size_t)(eq - p)] = '\0';
                t->argnames[nargs++] = names + nused;
                nused += (size_t)(eq - p) + 1;
                it_rtext_value(t, r, next, (size_t)(vend - next));
                p = vend + 2;
            }
        } else if (s != mid_end) {
            return 0;
        }
    } else {
        const char *dur_at;
        int64_t d = it_rtext_duration(s, mid_end, &dur_at);
        const char *vend = mid_end;
        if (d >= 0) {
            r->duration_ns = d;
            vend = dur_at;
        }
        if (r->event == IT_EV_UNWIND && vend - s > 8 && !strncmp(s, " raised ", 8))
            it_rtext_value(t, r, s + 8, (size_t)(vend - s - 8));
        else if (r->event != IT_EV_UNWIND && vend - s > 4 && !strncmp(s, " -> ", 4))
            it_rtext_value(t, r, s + 4, (size_t)(vend - s - 4));
        else if (vend != s)
            return 0;
    }
    size_t flen = (size_t)(colon - file);
    size_t mlen = it_rtext_module_len(name, nlen, file, flen);
    const char *qual = mlen ? name + mlen + 1 : name;
    size_t qlen = mlen ? nlen - mlen - 1 : nlen;
    r->func = it_rfuncs_intern(t->base.funcs, name, mlen, qual, qlen, file, flen, (int)line, nargs,
                               t->argnames);
    return r->func != 0;
}

/* The host's entry in the function table (module "", file "<host>"). */
static inline uint32_t it_rtext_host(it_rtext *t, const char *host, size_t len) {
    if (t->last_host && len < sizeof t->last_host_name &&
        !memcmp(t->last_host_name, host, len) && !t->last_host_name[len])
        return t->last_host;
    uint32_t h = it_rfuncs_intern(t->base.funcs, "", 0, host, len, "<host>", 6, 0, 0, NULL);
    if (len < sizeof t->last_host_name) {
        memcpy(t->last_host_name, host, len);
        t->last_host_name[len] = '\0';
        t->last_host = h;
    }
    return h;
}

/* "TIME PID " in front of a body: the time and pid, and the body's start. */
static inline const char *it_rtext_plain_head(const char *s, it_rrec *r) {
    int64_t ns, pid;
    int n = it_parse_iso(s, &ns);
    if (!n || s[n] != ' ')
        return NULL;
    s += n + 1;
    if (!it_rtext_number(&s, &pid) || *s != ' ')
        return NULL;
    r->ts = (uint64_t)ns;
    r->pid = pid;
    return s + 1;
}

/* A syslog header: time, host, pid; returns the message's start or NULL. */
static inline const char *it_rtext_syslog_head(it_rtext *t, const char *s, it_rrec *r) {
    int64_t v, ns;
    if (*s == '<') {
        s++;
        if (!it_rtext_number(&s, &v) || *s++ != '>')
            return NULL;
        if (s[0] == '1' && s[1] == ' ')
            s += 2;
    }
    int n = it_parse_iso(s, &ns);
    if (!n) {
        if (strlen(s) < 16)
            return NULL;
        if (memcmp(s, t->bsd_key, 15)) {
            if (!it_parse_bsd(s, t->now, &t->bsd_ns))
                return NULL;
            memcpy(t->bsd_key, s, 15);
        }
        ns = t->bsd_ns;
        n = 15;
    }
    s += n;
    if (*s++ != ' ')
        return NULL;
    const char *host = s;
    while (*s && *s != ' ')
        s++;
    if (*s != ' ' || s == host)
        return NULL;
    size_t hlen = (size_t)(s - host);
    s++;
    const char *tok = s;
    while (*s && *s != ' ')
        s++;
    if (*s != ' ' || s == tok)
        return NULL;
    int64_t pid = 0;
    if (s[-1] == ':' || s[-1] == ']') {  /* "APP[PID]:" (rsyslog leaves the colon out of
                                          * an RFC 5424 message's tag) */
        const char *open = memchr(tok, '[', (size_t)(s - tok));
        if (!open)
            return NULL;
        open++;
        if (!it_rtext_number(&open, &pid) || *open != ']')
            return NULL;
        s++;
    } else {  /* RFC 5424: APP PROCID MSGID SD */
        s++;
        if (!it_rtext_number(&s, &pid) || *s++ != ' ')
            return NULL;
        while (*s && *s != ' ')
            s++;  /* msgid */
        if (*s++ != ' ')
            return NULL;
        if (*s == '-') {
            s++;
        } else {
            while (*s == '[') {  /* structured data: quoted values may hold ']' */
                int quoted = 0;
                for (s++; *s && (quoted || *s != ']'); s++) {
                    if (*s == '\\' && s[1])
                        s++;
                    else if (*s == '"')
                        quoted = !quoted;
                }
                if (*s++ != ']')
                    return NULL;
            }
        }
        if (*s++ != ' ')
            return NULL;
        if (!memcmp(s, "\xef\xbb\xbf", 3))
            s += 3;  /* the BOM of a UTF-8 message */
    }
    uint32_t h = it_rtext_host(t, host, hlen);
    r->ts = (uint64_t)ns;
    r->pid = pid | ((int64_t)h << 32);
    return s;
}

/* A line, for it_rline_source_next: a plain text line, or one behind a
 * syslog header (a whole text line sent through syslog, or a sink's body). */
static inline int it_rtext_line(it_rsource *src, char *line, size_t len, it_rrec *r) {
    it_rtext *t = (it_rtext *)src;
    const char *end = line + len;
    const char *body = it_rtext_plain_head(line, r);
    int ok = body && it_rtext_body(t, body, end, r);
    if (!ok) {
        r->values_len = r->nvalues = 0;
        body = it_rtext_syslog_head(t, line, r);
        if (body) {
            int64_t pid_host = r->pid & ~(int64_t)0xFFFFFFFF;
            const char *inner = it_rtext_plain_head(body, r);
            if (inner) {
                r->pid |= pid_host;
                ok = it_rtext_body(t, inner, end, r);
            }
            if (!ok) {
                r->values_len = r->nvalues = 0;
                body = it_rtext_syslog_head(t, line, r);
                ok = it_rtext_body(t, body, end, r);
            }
        }
    }
    if (ok)
        r->values = r->nvalues ? t->values : NULL;
    return ok;
}

static inline int it_rtext_next(it_rsource *src, it_rrec *r) {
    return it_rline_source_next(src, &((it_rtext *)src)->line, "text trace", it_rtext_line, r);
}

static inline void it_rtext_destroy(it_rsource *src) {
    it_rtext *t = (it_rtext *)src;
    it_rinput_close(&t->line.in);
    free(t->values);
    free(t);
}

/* A text source for `in` (taken over, as it_detect_open hands it on: the
 * peeked bytes are read again), or NULL when memory runs out (`in` closed). */
static inline it_rsource *it_rtext_open(it_rinput *in, it_rfuncs *funcs, uint32_t index) {
    it_rtext *t = calloc(1, sizeof *t);
    if (t)
        t->values = malloc(2 * IT_RLINE_MAX + 16);  /* values, then argument names */
    if (!t || !t->values) {
        free(t);
        it_rinput_close(in);
        return NULL;
    }
    t->line.in = *in;
    in->buf = NULL;
    in->fd = -1;
    t->base.next = it_rtext_next;
    t->base.destroy = it_rtext_destroy;
    t->base.funcs = funcs;
    t->base.index = index;
    t->now = time(NULL);
    return &t->base;
}

#endif
