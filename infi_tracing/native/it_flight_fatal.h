/* Flight-recorder snapshots on fatal signals (SIGSEGV, SIGBUS, SIGABRT,
 * SIGFPE).
 *
 * A signal handler may call only async-signal-safe functions, and the
 * crashing thread may hold any lock (the GIL, malloc's).  So the handler
 * writes nothing itself: it sets `req` and waits (nanosleep, polling
 * `done`) for the drain thread, a normal thread, to take the snapshot --
 * the drain does one more pass (so the records the crashing thread
 * committed to its ring up to the crash are in the recorder), then detaches,
 * writes and gives back the recorder's blocks as any snapshot does, then
 * sets `done`.  The wait is bounded (IT_FATAL_WAIT_MS): a drain stuck in a
 * Python sink waiting for the GIL the crashing thread holds gives up
 * nothing but the snapshot.  Then the handler chains to the handler
 * installed before it (faulthandler's, say), or restores the default
 * action and re-raises, so the process still dies of its signal.
 *
 * State is set up front (GIL held, it_flight_fatal_install): the path
 * template and the previous handlers; the handler touches only atomics. */
#ifndef IT_FLIGHT_FATAL_H
#define IT_FLIGHT_FATAL_H

#include "it_drain.h"
#include "it_flight_snap.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#define IT_FATAL_WAIT_MS 3000
#define IT_FATAL_PATH_MAX 4096

static const int it_fatal_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
#define IT_FATAL_NSIG ((int)(sizeof it_fatal_signals / sizeof it_fatal_signals[0]))

static struct {
    int installed;
    struct sigaction previous[IT_FATAL_NSIG];
    char path[IT_FATAL_PATH_MAX];     /* template: {pid}, {time}, {seq} ("crash") */
    _Atomic int req;                  /* the signal asking for a snapshot, 0: none */
    _Atomic int done;
} it_fatal;

/* `template` with its fields filled in, into `out` (drain thread). */
static void it_fatal_format_path(char *out, size_t cap, int sig) {
    char pid[32], stamp[64], seq[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    snprintf(seq, sizeof seq, "crash-sig%d", sig);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t k = strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(stamp + k, sizeof stamp - k, ".%06ldZ", now.tv_nsec / 1000);
    size_t o = 0;
    for (const char *p = it_fatal.path; *p && o + 1 < cap;) {
        const char *field = !strncmp(p, "{pid}", 5) ? pid : !strncmp(p, "{time}", 6) ? stamp
                            : !strncmp(p, "{seq}", 5) ? seq : NULL;
        if (field) {
            size_t n = strlen(field);
            if (o + n >= cap)
                break;
            memcpy(out + o, field, n);
            o += n;
            p = strchr(p, '}') + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
}

static void it_fatal_note(const char *a, const char *b) {
    char line[IT_FATAL_PATH_MAX + 128];
    int n = snprintf(line, sizeof line, "infi_tracing: flight-recorder snapshot (fatal signal) %s%s\n",
                     a, b);
    if (n > 0 && write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0) {
        /* stderr is gone: nothing else to tell */
    }
}

/* Drain thread, between passes (no lock held): a fatal signal asked for a
 * snapshot.  One more pass first, then the snapshot of every recorder. */
static void it_fatal_snapshot_from_drain(void) {
    int sig = atomic_load(&it_fatal.req);
    if (!sig || atomic_load(&it_fatal.done))
        return;
    it_drain_pass(IT_PASS_PACED, NULL);
    char path[IT_FATAL_PATH_MAX];
    it_fatal_format_path(path, sizeof path, sig);
    pthread_mutex_lock(&it_d.sinks_mu);
    for (int i = 0; i < it_d.nsinks; i++) {
        it_sink *s = it_d.sinks[i];
        if (s->kind != IT_SINK_FLIGHT)
            continue;
        it_flight_snap snap;
        if (it_flight_detach(s->flight, (long)getpid(), &snap) != 0)
            continue;
        /* the drain's own lock is held: no other snapshot runs meanwhile */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        int rc = fd < 0 ? errno : it_flight_write(&snap, fd);
        if (fd >= 0)
            close(fd);
        it_flight_reattach(s->flight, &snap);
        it_fatal_note(rc ? "failed: " : "written to ", rc ? strerror(rc) : path);
        break;
    }
    pthread_mutex_unlock(&it_d.sinks_mu);
    atomic_store(&it_fatal.done, 1);
}

static void it_fatal_handler(int sig, siginfo_t *info, void *ctx) {
    int idx = 0;
    while (idx < IT_FATAL_NSIG && it_fatal_signals[idx] != sig)
        idx++;
    int expected = 0;
    /* the first fatal signal asks (a second one, e.g. SIGABRT after SIGSEGV, only waits) */
    /* (pthread_self, not the drain's thread-local flag: a first access to a
     * module's TLS may allocate, which a signal handler must not do) */
    if (__atomic_load_n(&it_d.running, __ATOMIC_ACQUIRE) &&
        !pthread_equal(pthread_self(), it_d.thread) &&
        (atomic_compare_exchange_strong(&it_fatal.req, &expected, sig) || expected)) {
        struct timespec tick = {0, 1000000L};
        for (int waited = 0; waited < IT_FATAL_WAIT_MS && !atomic_load(&it_fatal.done); waited++)
            nanosleep(&tick, NULL);
    }
    /* chain: the previous handler, or the default action once we return */
    struct sigaction *prev = &it_fatal.previous[idx < IT_FATAL_NSIG ? idx : 0];
    if (prev->sa_flags & SA_SIGINFO && prev->sa_sigaction) {
        prev->sa_sigaction(sig, info, ctx);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        signal(sig, SIG_DFL);  /* async-signal-safe; returning re-runs the fault */
        if (sig == SIGABRT || (info && info->si_code <= 0))
            raise(sig);        /* a sent signal (kill, abort()) does not come again by itself */
    }
}

/* GIL held: snapshots on fatal signals go to `template` from now on; the
 * handlers are installed once (they chain to those found then).  0 or errno. */
static int it_fatal_install(const char *template) {
    size_t n = strlen(template);
    if (n >= IT_FATAL_PATH_MAX)
        return ENAMETOOLONG;
    memcpy(it_fatal.path, template, n + 1);
    it_drain_after_pass = it_fatal_snapshot_from_drain;
    if (it_fatal.installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = it_fatal_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < IT_FATAL_NSIG; i++)
        if (sigaction(it_fatal_signals[i], &sa, &it_fatal.previous[i]) != 0)
            return errno;
    it_fatal.installed = 1;
    return 0;
}

/* In a forked child: no request is pending there. */
static inline void it_fatal_after_fork(void) {
    atomic_store(&it_fatal.req, 0);
    atomic_store(&it_fatal.done, 0);
}

#endif
