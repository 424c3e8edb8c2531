/* The drain's write() to a native sink's descriptor, bounded at exit.
 *
 * A blocking FIFO, pipe or socket (`| slow-reader`, a FIFO a tool reads)
 * holds the drain back while its reader is slow: no record is dropped
 * while the reader lives (backpressure, on purpose).  A plain blocking
 * write(2) would do that, but one blocked on a reader that stopped reading
 * never returns, and the drain -- the one thread writing every native sink
 * -- would hold the process's exit for ever and the sinks after that one
 * would never get their records.  So for such a descriptor the drain never
 * blocks inside write(2): it waits in poll(POLLOUT) slices, and writes only
 * what the descriptor takes at once (a socket: send(MSG_DONTWAIT); a pipe:
 * what fits without waiting, see it_pipe_room).  Between slices it checks
 * exit's bound (it_exit.h): a wait lasting IT_EXIT_SINK_WAIT_MS once exit
 * has begun gives the sink up (it_sinks.h counts the rest lost, and exit
 * reports it, exit.pyx).  Nothing changes on the descriptor itself (no
 * O_NONBLOCK set): its open file description may be shared with the
 * program, the shell, other processes.
 *
 * Drain thread (or a thread doing a pass itself), without the GIL: no
 * Python call; the only shared datum read is it_exit_since_ns. */
#ifndef IT_SINK_WAIT_H
#define IT_SINK_WAIT_H

#include "it_exit.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { IT_WAIT_PLAIN = 0, IT_WAIT_PIPE = 1, IT_WAIT_SOCKET = 2 };

#define IT_WAIT_SLICE_MS 100  /* how soon a waiting drain sees exit's bound */

/* How the drain writes `fd`, decided at each write-out: a stdout sink
 * follows dup2() redirections, and the program may switch the descriptor
 * to non-blocking.  A non-blocking one keeps the EAGAIN handling of
 * it_sink_write_out (bounded, then the buffer is given up); regular files
 * and devices are written plainly. */
static inline int it_sink_wait_kind(int fd) {
    int flags = fcntl(fd, F_GETFL);
    struct stat st;
    if (flags < 0 || (flags & O_NONBLOCK) || fstat(fd, &st) < 0)
        return IT_WAIT_PLAIN;
    return S_ISFIFO(st.st_mode) ? IT_WAIT_PIPE : S_ISSOCK(st.st_mode) ? IT_WAIT_SOCKET
                                                                      : IT_WAIT_PLAIN;
}

/* Bytes a blocking pipe takes without waiting, once poll() said POLLOUT:
 * all its capacity when it is empty (every page slot free), else PIPE_BUF
 * (POLLOUT means at least one free page slot, which takes PIPE_BUF bytes).
 * Another writer on the same pipe may fill it in between: the write then
 * waits, as any blocking write does, until the reader reads. */
static inline size_t it_pipe_room(int fd) {
    int queued = 0;
    int size = fcntl(fd, F_GETPIPE_SZ);
    if (size > PIPE_BUF && ioctl(fd, FIONREAD, &queued) == 0 && queued == 0)
        return (size_t)size;
    return PIPE_BUF;
}

/* Wait until `fd` takes bytes (or has an error for the write to report).
 * Returns 0, or ETIMEDOUT when exit's bound ran out meanwhile. */
static int it_sink_wait_writable(int fd) {
    uint64_t start = it_now_ns();
    for (;;) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, IT_WAIT_SLICE_MS) > 0)
            return 0;  /* POLLOUT, or POLLERR/POLLHUP/POLLNVAL: write() says which */
        if (it_exit_wait_over(start))
            return ETIMEDOUT;
    }
}

/* write() of up to `n` bytes from `p` to `fd` of kind `kind`
 * (it_sink_wait_kind).  Returns as write() does; -1 with `*gave_up` set
 * when exit's bound ran out while the descriptor took nothing. */
static ssize_t it_sink_write_bounded(int fd, int kind, const char *p, size_t n, int *gave_up) {
    if (kind == IT_WAIT_PLAIN)
        return write(fd, p, n);
    for (;;) {
        int rc = it_sink_wait_writable(fd);
        if (rc) {
            *gave_up = 1;
            errno = rc;
            return -1;
        }
        ssize_t k;
        if (kind == IT_WAIT_SOCKET) {
            k = send(fd, p, n, MSG_DONTWAIT);
        } else {
            size_t room = it_pipe_room(fd);
            k = write(fd, p, n < room ? n : room);
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;  /* taken by another writer meanwhile: wait again */
        return k;
    }
}

#endif
