/* Parsing the timestamps of text traces: ISO 8601 / RFC 3339 (text and
 * jsonl lines, RFC 5424 syslog headers, rsyslog's high-precision file
 * format) and the traditional syslog "Mmm dd hh:mm:ss" (local time, no
 * year, one-second resolution).  Pure functions of the text, except the
 * traditional form's year and zone, taken from the reading machine's clock
 * and time zone (the only guess there is).  No Python, no allocation. */
#ifndef IT_RTIME_H
#define IT_RTIME_H

#include <stdint.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no libc call and no time zone is involved. */
static inline int64_t it_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static inline int it_digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" at `s` (NUL-terminated):
 * the length parsed and *ns (since the epoch, UTC), or 0 if it is not one. */
static inline int it_parse_iso(const char *s, int64_t *ns) {
    int y, mo, d, h, mi, se;
    if (!it_digits(s, 4, &y) || s[4] != '-' || !it_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !it_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || !it_digits(s + 11, 2, &h) ||
        s[13] != ':' || !it_digits(s + 14, 2, &mi) || s[16] != ':' || !it_digits(s + 17, 2, &se))
        return 0;
    /* years whose nanoseconds fit in an int64_t (1678-2261), and a bit less */
    if (y < 1700 || y > 2250 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return 0;
    int i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        int digits = 0;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            if (digits < 9) {
                frac = frac * 10 + (s[i] - '0');
                digits++;
            }
        if (!digits)
            return 0;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    int64_t zone = 0;
    if (s[i] == 'Z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int zh, zm;
        if (!it_digits(s + i + 1, 2, &zh) || s[i + 3] != ':' || !it_digits(s + i + 4, 2, &zm))
            return 0;
        zone = (int64_t)(zh * 60 + zm) * 60 * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return 0;
    }
    int64_t secs = it_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   se - zone;
    *ns = secs * 1000000000 + frac;
    return i;
}

/* "Mmm dd hh:mm:ss" (the day space-padded) at `s`, read in the local time
 * zone, in the year that puts it at most a day ahead of `now`: the length
 * parsed (15) and *ns, or 0 if it is not one. */
static inline int it_parse_bsd(const char *s, time_t now, int64_t *ns) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int mon = -1;
    for (int m = 0; m < 12; m++)
        if (!memcmp(s, months + 3 * m, 3))
            mon = m;
    int d, h, mi, se;
    if (mon < 0 || s[3] != ' ' || (s[4] != ' ' && (s[4] < '0' || s[4] > '9')) ||
        !it_digits(s + 5, 1, &d) || s[6] != ' ' || !it_digits(s + 7, 2, &h) || s[9] != ':' ||
        !it_digits(s + 10, 2, &mi) || s[12] != ':' || !it_digits(s + 13, 2, &se))
        return 0;
    if (s[4] != ' ')
        d += (s[4] - '0') * 10;
    struct tm today;
    localtime_r(&now, &today);
    for (int year = today.tm_year; year >= today.tm_year - 1; year--) {
        struct tm tm = {0};
        tm.tm_year = year;
        tm.tm_mon = mon;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = se;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t != (time_t)-1 && t <= now + 86400) {
            *ns = (int64_t)t * 1000000000;
            return 15;
        }
    }
    return 0;
}

#endif
