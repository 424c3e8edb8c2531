/* Syslog messages: the RFC 5424 / RFC 3164 header and the record's text,
 * formatted by the drain thread without the GIL.  Included by it_syslog.h
 * after struct it_syslog is complete (the header fields live there). */
#ifndef IT_SYSLOG_FORMAT_H
#define IT_SYSLOG_FORMAT_H

#include "it_format.h"
#include <time.h>

static const char *const it_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The header of a message: PRI, timestamp, host, app, procid, msgid. */
static void it_syslog_header(it_syslog *s, it_out *o, int severity, const char *event,
                             uint64_t wall, long pid) {
    long procid = s->procid ? s->procid : pid;
    it_out_put(o, "<", 1);
    it_out_uint(o, (unsigned long long)(s->facility * 8 + severity), 1);
    it_out_put(o, ">", 1);
    if (s->rfc5424) {
        it_out_put(o, "1 ", 2);
        it_out_time(o, wall);
        it_out_printf(o, " %s %s %ld %s - ", s->hostname, s->appname, procid,
                      s->msgid[0] ? s->msgid : event);
    } else {
        time_t sec = (time_t)(wall / 1000000000ull);
        struct tm tm;
        localtime_r(&sec, &tm);
        it_out_printf(o, "%s %2d %02d:%02d:%02d %s %s[%ld]: ", it_months[tm.tm_mon], tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, s->hostname, s->appname, procid);
    }
}

/* One message (without framing) for a record; "lost" records are warnings.
 * `duration_ns`: an exit's duration, shown as on text lines (negative: none). */
static void it_syslog_format(it_syslog *s, it_out *o, const it_record *r, long pid, long tid,
                             int64_t wall_offset, int values, int64_t duration_ns) {
    it_syslog_header(s, o, r->event == IT_EV_LOST ? 4 : s->severity, it_event_names[r->event],
                     r->ts + (uint64_t)wall_offset, pid);
    it_format_body(o, r, it_record_code(r), tid, values, duration_ns);
}

/* LF framing: a message must not contain LF (RFC 6587 non-transparent). */
static void it_syslog_escape_lf(it_out *o, size_t from) {
    for (size_t i = from; i < o->len; i++)
        if (o->p[i] == '\n')
            o->p[i] = ' ';
}


#endif
