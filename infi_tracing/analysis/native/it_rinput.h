/* One input file as the reader's sources see it: an fd read once, front to
 * back, through a buffer refilled with big read(2)s.  Files, pipes, FIFOs
 * and standard input all work the same (nothing seeks), so the format can
 * be detected from the first bytes (it_detect.h) and the source then goes
 * on from the same buffer.
 *
 * Memory: the buffer starts at IT_RINPUT_START and grows only when a
 * source needs more bytes at once (a chunk bigger than the buffer), up to
 * IT_RINPUT_MAX; the reader's memory never grows with the input's length.
 * A regular file's size bounds that growth: a few bytes claiming a 64 MiB
 * chunk cost no 64 MiB buffer before they are found cut short.
 *
 * A source holds pointers into the buffer between two calls of
 * it_rinput_need(): that call may move or refill it.  No Python, no lock
 * (one owner): the fuzz harness compiles it in a plain C program. */
#ifndef IT_RINPUT_H
#define IT_RINPUT_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Overridable (-D) only by tests/fuzz/fuzz_reader.c: small buffers there,
 * so its growth is exercised and ASan sees reads past the file's bytes. */
#ifndef IT_RINPUT_START
#define IT_RINPUT_START (4u << 20)
#endif
#ifndef IT_RINPUT_MAX
#define IT_RINPUT_MAX (64u << 20)
#endif

typedef struct {
    int fd;
    int own_fd;              /* closed by it_rinput_close (not standard input) */
    uint8_t *buf;
    size_t cap;
    size_t pos, end;         /* unread bytes: buf[pos:end] */
    uint64_t base;           /* file offset of buf[0] */
    int eof;                 /* read(2) returned 0 */
    int read_errno;          /* read(2) failed with this errno */
} it_rinput;

static inline int it_rinput_init(it_rinput *in, int fd, int own_fd) {
    memset(in, 0, sizeof *in);
    in->fd = fd;
    in->own_fd = own_fd;
    in->cap = IT_RINPUT_START;
    in->buf = malloc(in->cap);
    return in->buf ? 0 : -1;
}

static inline void it_rinput_close(it_rinput *in) {
    if (in->own_fd && in->fd >= 0)
        close(in->fd);
    free(in->buf);
    memset(in, 0, sizeof *in);
    in->fd = -1;
}

/* File offset of the next unread byte. */
static inline uint64_t it_rinput_offset(const it_rinput *in) { return in->base + in->pos; }

static inline size_t it_rinput_avail(const it_rinput *in) { return in->end - in->pos; }

static inline const uint8_t *it_rinput_ptr(const it_rinput *in) { return in->buf + in->pos; }

static inline void it_rinput_skip(it_rinput *in, size_t n) { in->pos += n; }

/* How many unread bytes the input can still give, at most `n`: `n` unless
 * the fd is a regular file with fewer left (its size less the read
 * offset).  Called only before the buffer grows (not per record): a file
 * still being written may grow after this, but read(2) would have ended at
 * the same place now, so the answer is what reading would find. */
static inline size_t it_rinput_can_have(const it_rinput *in, size_t n) {
    struct stat st;
    off_t at;
    if (fstat(in->fd, &st) || !S_ISREG(st.st_mode) || (at = lseek(in->fd, 0, SEEK_CUR)) < 0)
        return n;  /* a pipe, FIFO or terminal: no size to go by */
    uint64_t left = st.st_size > at ? (uint64_t)(st.st_size - at) : 0;
    uint64_t have = (uint64_t)(in->end - in->pos) + left;
    return have < n ? (size_t)have : n;
}

/* Make at least `n` unread bytes available at it_rinput_ptr().  Returns 1
 * when they are, 0 when the input ends (or fails: read_errno) before them,
 * -1 when `n` is more than IT_RINPUT_MAX or memory runs out (the caller
 * says which: n > IT_RINPUT_MAX).  Pointers into the buffer taken before
 * the call are invalid after it. */
static inline int it_rinput_need(it_rinput *in, size_t n) {
    if (in->end - in->pos >= n)
        return 1;
    if (n > IT_RINPUT_MAX)
        return -1;
    if (in->pos) {  /* keep the unread tail at the front: room for a big read */
        memmove(in->buf, in->buf + in->pos, in->end - in->pos);
        in->base += in->pos;
        in->end -= in->pos;
        in->pos = 0;
    }
    /* Grown for what the file can give, not for what a (maybe damaged)
     * header claims: then the loop below reads to the file's end and the
     * caller is told the bytes are not there, having allocated for none. */
    size_t want = n > in->cap ? it_rinput_can_have(in, n) : n;
    if (want > in->cap) {
        size_t cap = in->cap;
        while (cap < want)
            cap *= 2;
        if (cap > IT_RINPUT_MAX)
            cap = IT_RINPUT_MAX;
        uint8_t *b = realloc(in->buf, cap);
        if (!b)
            return -1;
        in->buf = b;
        in->cap = cap;
    }
    /* A buffer sized by the file's length is full before `n`: stop there (a
     * read of 0 bytes would look like the file's end). */
    while (in->end < n && in->end < in->cap && !in->eof && !in->read_errno) {
        ssize_t got = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (got > 0)
            in->end += (size_t)got;
        else if (got == 0)
            in->eof = 1;
        else if (errno != EINTR)
            in->read_errno = errno;
    }
    return in->end >= n;
}

#endif
