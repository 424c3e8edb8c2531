/* Reading a text file line by line through a bounded buffer: the jsonl and
 * text sources (it_rjsonl.h, it_rtext.h) share it.  Memory is the buffer,
 * whatever the file's length; a line longer than the buffer is skipped (and
 * counted by the caller through `too_long`), never read in pieces.  One
 * owner, no lock, no Python. */
#ifndef IT_RLINE_H
#define IT_RLINE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IT_RLINE_BUF (1u << 20)  /* the longest line kept: a syslog message is at most 64 KiB */

typedef struct {
    int fd;
    char *buf;
    size_t start, end;      /* unread bytes are buf[start, end) */
    uint64_t buf_offset;    /* the file offset of buf[0] */
    int eof, error;         /* error: the errno of a failed read */
    uint64_t too_long;      /* lines skipped for being longer than the buffer */
} it_rline;

static inline int it_rline_init(it_rline *l, int fd) {
    memset(l, 0, sizeof *l);
    l->fd = fd;
    l->buf = malloc(IT_RLINE_BUF + 1);  /* +1: a NUL after the last line */
    return l->buf ? 0 : -1;
}

static inline void it_rline_destroy(it_rline *l) {
    free(l->buf);
    l->buf = NULL;
}

/* Refill: keep the unread bytes, read more after them.  Returns the bytes
 * read, 0 at the end of the file, -1 on a read error (l->error). */
static inline ssize_t it_rline_fill(it_rline *l) {
    if (l->start) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->buf_offset += l->start;
        l->end -= l->start;
        l->start = 0;
    }
    for (;;) {
        ssize_t n = read(l->fd, l->buf + l->end, IT_RLINE_BUF - l->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            l->error = errno;
            return -1;
        }
        if (n == 0)
            l->eof = 1;
        l->end += (size_t)n;
        return n;
    }
}

/* The next line, without its newline (and a CR before it), NUL-terminated
 * in place: 1 with *line, *len and *offset (of its first byte) set; 0 at the
 * end; -1 on a read error.  A last line without a newline is still a line
 * (a file still being written may end in a part of one: the caller decides).
 * `*complete` is 0 for such a last line. */
static inline int it_rline_next(it_rline *l, char **line, size_t *len, uint64_t *offset,
                                int *complete) {
    size_t scanned = l->start;
    for (;;) {
        char *nl = memchr(l->buf + scanned, '\n', l->end - scanned);
        if (nl) {
            size_t n = (size_t)(nl - (l->buf + l->start));
            *line = l->buf + l->start;
            *offset = l->buf_offset + l->start;
            *complete = 1;
            l->start += n + 1;
            if (n && (*line)[n - 1] == '\r')
                n--;
            (*line)[n] = '\0';
            *len = n;
            return 1;
        }
        scanned = l->end;
        if (l->eof) {
            if (l->start == l->end)
                return 0;
            size_t n = l->end - l->start;
            *line = l->buf + l->start;
            *offset = l->buf_offset + l->start;
            *complete = 0;
            l->start = l->end;
            (*line)[n] = '\0';
            *len = n;
            return 1;
        }
        if (l->start == 0 && l->end == IT_RLINE_BUF) {
            /* longer than the buffer: skip to its end */
            l->too_long++;
            for (;;) {
                l->buf_offset += l->end;
                l->start = l->end = 0;
                ssize_t r = it_rline_fill(l);
                if (r < 0)
                    return -1;
                if (r == 0)
                    return 0;
                nl = memchr(l->buf, '\n', l->end);
                if (nl) {
                    l->start = (size_t)(nl - l->buf) + 1;
                    break;
                }
            }
            scanned = l->start;
            continue;
        }
        size_t keep = scanned - l->start;
        if (it_rline_fill(l) < 0)
            return -1;
        scanned = l->start + keep;
    }
}

#endif
