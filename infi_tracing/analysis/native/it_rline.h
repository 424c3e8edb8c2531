/* Reading an input line by line: the jsonl and text sources (it_rjsonl.h,
 * it_rtext.h) share it.  Lines are read in place in the input's buffer
 * (it_rinput.h), so memory is that buffer whatever the file's length; a
 * line longer than IT_RLINE_MAX is skipped (counted in `too_long`), never
 * read in pieces.  One owner, no lock, no Python. */
#ifndef IT_RLINE_H
#define IT_RLINE_H

#include "it_rinput.h"
#include "it_rsource.h"
#include <stdio.h>

/* The longest line kept: a syslog message is at most 64 KiB.  Overridable
 * (-D) only by tests/fuzz/build-harness: a smaller line limit there keeps
 * each fuzz run's allocations small (1 MiB ones make it 7x slower under
 * ASan) and lets small inputs reach the too-long path. */
#ifndef IT_RLINE_MAX
#define IT_RLINE_MAX (1u << 20)
#endif

typedef struct {
    it_rinput in;       /* taken over from the reader (it_detect.h peeked at it) */
    uint64_t too_long;  /* lines skipped for being longer than IT_RLINE_MAX */
    uint64_t too_long_offset;  /* the first one's offset */
    uint64_t delivered;        /* records returned (it_rline_source_next) */
} it_rline;

/* Counts a line skipped for its length, starting at file offset `at`. */
static inline void it_rline_too_long(it_rline *l, uint64_t at) {
    if (!l->too_long++)
        l->too_long_offset = at;
}

/* Adds the lines skipped for their length to a source's skipped lines
 * (it_rsource.skipped, .skipped_offset: the first of either kind). */
static inline void it_rline_count_skipped(it_rline *l, uint64_t *skipped, uint64_t *offset) {
    if (l->too_long && (!*skipped || l->too_long_offset < *offset))
        *offset = l->too_long_offset;
    *skipped += l->too_long;
    l->too_long = 0;
}

/* The next line, without its newline (and a CR before it), NUL-terminated
 * in place: 1 with *line, *len and *offset (of its first byte) set; 0 at the
 * end; -1 on a read error (in.read_errno).  A last line without a newline
 * (a file cut short, or still being written) is returned with *line NULL:
 * the caller counts it, its bytes are not a whole record. */
static inline int it_rline_next(it_rline *l, char **line, size_t *len, uint64_t *offset) {
    it_rinput *in = &l->in;
    size_t scanned = 0;
    for (;;) {
        size_t avail = in->end - in->pos;
        uint8_t *p = in->buf + in->pos;
        uint8_t *nl = memchr(p + scanned, '\n', avail - scanned);
        if (nl) {
            size_t n = (size_t)(nl - p);
            if (n > IT_RLINE_MAX) {  /* whole in the buffer, but longer than a line may be */
                it_rline_too_long(l, in->base + in->pos);
                in->pos += n + 1;
                scanned = 0;
                continue;
            }
            *offset = in->base + in->pos;
            in->pos += n + 1;
            if (n && p[n - 1] == '\r')
                n--;
            p[n] = '\0';
            *line = (char *)p;
            *len = n;
            return 1;
        }
        scanned = avail;
        if (in->eof || in->read_errno) {
            if (!avail)
                return in->read_errno ? -1 : 0;
            *offset = in->base + in->pos;
            *line = NULL;
            *len = avail;
            in->pos = in->end;
            return 1;
        }
        if (avail >= IT_RLINE_MAX) {  /* too long: drop what is here, then up to a newline */
            it_rline_too_long(l, in->base + in->pos);
            for (;;) {
                in->pos = in->end;
                if (it_rinput_need(in, 1) <= 0)
                    return in->read_errno ? -1 : 0;
                p = in->buf + in->pos;
                nl = memchr(p, '\n', in->end - in->pos);
                if (nl) {
                    in->pos += (size_t)(nl - p) + 1;
                    break;
                }
            }
            scanned = 0;
            continue;
        }
        if (it_rinput_need(in, avail + 1) < 0) {
            in->read_errno = ENOMEM;
            return -1;
        }
    }
}

/* A line source's next() (it_rsource.h's contract), the one home of what
 * the jsonl and text sources share: lines are read and handed to `parse`
 * until one is a record (`parse` returns 1 with `r` filled; `r` comes
 * zeroed, unknown durations -1, source and offset set); the others, a last
 * line cut short and lines too long are skipped and counted.  At the end,
 * an input of nothing but skipped lines is an error ("no trace records:
 * N lines are not `kind` lines"), as is a read error.  `parse` is a
 * constant at each call site, so the compiler inlines it. */
static inline int it_rline_source_next(it_rsource *src, it_rline *l, const char *kind,
                                       int (*parse)(it_rsource *, char *, size_t, it_rrec *),
                                       it_rrec *r) {
    char *line;
    size_t len;
    uint64_t offset;
    for (;;) {
        int got = it_rline_next(l, &line, &len, &offset);
        if (got < 0) {
            src->err_offset = l->in.base + l->in.end;
            snprintf(src->err, sizeof src->err, "cannot read at byte %llu: %s",
                     (unsigned long long)src->err_offset, strerror(l->in.read_errno));
            return -1;
        }
        if (!got) {
            it_rline_count_skipped(l, &src->skipped, &src->skipped_offset);
            if (!l->delivered && src->skipped) {  /* nothing but other lines: not a trace */
                snprintf(src->err, sizeof src->err,
                         "no trace records: %llu lines are not %s lines (the first at byte "
                         "%llu)", (unsigned long long)src->skipped, kind,
                         (unsigned long long)src->skipped_offset);
                src->err_offset = src->skipped_offset;
                return -1;
            }
            return 0;
        }
        memset(r, 0, sizeof *r);
        r->duration_ns = r->active_ns = r->self_ns = r->self_active_ns = -1;
        r->source = src->index;
        r->offset = offset;
        if (line && parse(src, line, len, r)) {
            l->delivered++;
            return 1;
        }
        if (!src->skipped++)
            src->skipped_offset = offset;
    }
}

#endif
