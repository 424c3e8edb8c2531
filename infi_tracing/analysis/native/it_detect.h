/* Which format an input is, from its first bytes: the one place that
 * decides, so every command reads the same files the same way.  Each
 * format's source gets the input from its first byte (nothing was
 * consumed: the bytes were only peeked in the input's buffer).
 *
 * Formats: binary (INFITRC magic); JSON lines (a '{' first); text, alone
 * or behind a syslog header (a first line that starts with a time, an ISO
 * date or a syslog "Mmm dd", or with a syslog "<PRI>"). */
#ifndef IT_DETECT_H
#define IT_DETECT_H

#include "it_read_binary.h"
#include "it_rjsonl.h"
#include "it_rtext.h"

#define IT_DETECT_PEEK 64  /* bytes looked at; fewer when the input is shorter */

/* The first bytes as a message shows them: printable ASCII as is, the rest
 * as \xNN, at most `max` bytes. */
static inline void it_detect_show(char *dst, size_t room, const uint8_t *p, size_t n, size_t max) {
    size_t len = 0;
    if (!room)
        return;
    for (size_t i = 0; i < n && i < max && len + 5 < room; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            dst[len++] = (char)p[i];
        else
            len += (size_t)snprintf(dst + len, room - len, "\\x%02x", p[i]);
    }
    if (n > max && len + 4 < room) {
        memcpy(dst + len, "...", 3);
        len += 3;
    }
    dst[len] = '\0';
}

/* Whether the first bytes start a text trace line: an ISO date
 * ("2026-"), a syslog priority ("<134>") or a traditional syslog time
 * ("Nov 30 "). */
static inline int it_detect_text(const uint8_t *p, size_t n) {
    int d;
    if (n >= 5 && it_digits((const char *)p, 4, &d) && p[4] == '-')
        return 1;
    if (n >= 3 && p[0] == '<' && p[1] >= '0' && p[1] <= '9')
        return 1;
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int m = 0; n >= 6 && m < 12; m++)
        if (!memcmp(p, months + 3 * m, 3) && p[3] == ' ' && (p[4] == ' ' || (p[4] >= '0' && p[4] <= '9')))
            return 1;
    return 0;
}

/* A source for `in` (taken over on success), or NULL with `err` (at most
 * IT_RSOURCE_ERR bytes) saying what the input is not and *err_offset where;
 * the caller then closes `in`. */
static inline it_rsource *it_detect_open(it_rinput *in, it_rfuncs *funcs, uint32_t index,
                                         char *err, uint64_t *err_offset) {
    *err_offset = 0;
    if (it_rinput_need(in, IT_DETECT_PEEK) < 0) {
        snprintf(err, IT_RSOURCE_ERR, "out of memory");
        return NULL;
    }
    size_t n = it_rinput_avail(in);
    const uint8_t *p = it_rinput_ptr(in);
    if (in->read_errno && !n) {
        snprintf(err, IT_RSOURCE_ERR, "cannot read: %s", strerror(in->read_errno));
        return NULL;
    }
    if (!n) {
        snprintf(err, IT_RSOURCE_ERR, "is empty (0 bytes): not a trace");
        return NULL;
    }
    if (!memcmp(p, IT_RBIN_MAGIC, n < 7 ? n : 7)) {  /* even cut inside the magic */
        it_rsource *s = it_read_binary_open(in, funcs, index);
        if (!s)
            snprintf(err, IT_RSOURCE_ERR, "out of memory");
        return s;
    }
    if (p[0] == '{') {
        it_rsource *s = it_rjsonl_open(in, funcs, index);
        if (!s)
            snprintf(err, IT_RSOURCE_ERR, "out of memory");
        return s;
    }
    if (it_detect_text(p, n)) {
        it_rsource *s = it_rtext_open(in, funcs, index);
        if (!s)
            snprintf(err, IT_RSOURCE_ERR, "out of memory");
        return s;
    }
    char shown[80];
    it_detect_show(shown, sizeof shown, p, n, 16);
    snprintf(err, IT_RSOURCE_ERR,
             "is not a trace: it starts with \"%s\" at byte 0 (expected %s, a JSON line or a "
             "text line starting with a time)", shown, IT_RBIN_MAGIC);
    return NULL;
}

#endif
