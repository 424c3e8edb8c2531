/* Gathered writes: pieces of memory queued as iovecs, written with one
 * writev() per IT_WRITEV_BYTES (or IT_WRITEV_MAX pieces).  Why (a flight-
 * recorder snapshot is ~1000 blocks of 64 KiB written where they lie): on
 * this project's ext4 machines 1 MiB per call takes ~25% less CPU than a
 * write() per 64 KiB block (fewer calls, larger page-cache folios), while
 * one writev() of everything (64 MiB: 2 MiB folios) took up to 10 times as
 * long, whenever the kernel had to find fresh high-order pages for them
 * (benchmarks/NOTES.md, "Flight recorder").
 *
 * The queued memory must stay put until it_writev_flush() (or an add that
 * fills the batch) has written it: callers that reuse a buffer flush first.
 * No lock, no GIL, no allocation (the iovecs are the caller's). */
#ifndef IT_WRITEV_H
#define IT_WRITEV_H

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <sys/uio.h>

#define IT_WRITEV_BYTES (1024 * 1024)
/* Pieces per call: 1 MiB of 64 KiB blocks is 16 (+ made pieces between
 * them); POSIX lets IOV_MAX be as low as 16 (Linux: 1024). */
#if defined(IOV_MAX) && IOV_MAX < 64
#define IT_WRITEV_MAX IOV_MAX
#else
#define IT_WRITEV_MAX 64
#endif

typedef struct {
    int fd;
    int rc;                              /* 0, or the first errno: later adds write nothing */
    int n;                               /* pieces queued */
    size_t bytes;                        /* bytes queued */
    struct iovec iov[IT_WRITEV_MAX];
} it_writev;

static inline void it_writev_init(it_writev *w, int fd) {
    w->fd = fd;
    w->rc = 0;
    w->n = 0;
    w->bytes = 0;
}

/* Write everything queued (a short write goes on from where it stopped).
 * Returns w->rc. */
static int it_writev_flush(it_writev *w) {
    struct iovec *v = w->iov;
    int n = w->n;
    w->n = 0;
    w->bytes = 0;
    while (!w->rc && n) {
        ssize_t k = writev(w->fd, v, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->rc = k < 0 ? errno : EIO;
            break;
        }
        size_t done = (size_t)k;
        while (n && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            n--;
        }
        if (n) {  /* partway into *v */
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return w->rc;
}

/* Queue `len` bytes at `p` (written by a later flush, or now when the batch
 * is full); bytes right after the last piece queued extend it.  Returns
 * w->rc. */
static inline int it_writev_add(it_writev *w, const void *p, size_t len) {
    if (w->rc || !len)
        return w->rc;
    if (w->n && (w->n == IT_WRITEV_MAX || w->bytes + len > IT_WRITEV_BYTES) &&
        it_writev_flush(w))
        return w->rc;
    w->bytes += len;
    if (w->n && (const char *)w->iov[w->n - 1].iov_base + w->iov[w->n - 1].iov_len == p) {
        w->iov[w->n - 1].iov_len += len;  /* right after the last piece: one piece */
        return 0;
    }
    w->iov[w->n].iov_base = (void *)p;
    w->iov[w->n].iov_len = len;
    w->n++;
    return 0;
}

#endif
