"""Does a traced process's memory stay flat while threads and greenlets come and go?

A traced run (default 10 minutes) where, every tick (10 ms), the main thread spawns a batch of
gevent greenlets (each runs a short call chain, yields to the hub, runs it again and ends) and
starts an OS thread that runs the same chain in its own plain greenlets and ends; at most
``--max-threads`` threads are alive at once.  Every thread gets its own ring, which the drain
frees once the thread is gone and the ring drained; every greenlet gets an id and per-greenlet
state.  So if any of that leaked, RSS would grow with the run.

Every ``--interval`` seconds (default 30) it prints RSS (VmRSS, and the peak VmHWM) with the
tracer's counters: threads seen and exited, greenlets seen, code objects, records delivered and
lost.  The verdict compares the last RSS with the first one after a warm-up (the first fifth of
the run, at least one interval: allocator pools and the rings of the first threads fill up) and
fits a least-squares slope to the samples after it: ``stable`` when the run grew at most
``--threshold-mb`` (default 4 MiB) by both measures, else ``GROWING``.

The trace goes to a text file in a temporary directory by default, truncated at every report
so the disk does not fill (``--sink URL`` for another sink, never truncated); TRACE_FUNC_NAME,
``overflow="drop"`` (the default: a ring that overflows counts its drops).  ``--untraced`` runs
the same workload without tracing, as a control.

Usage::

    python benchmarks/rss_soak.py [--minutes 10] [--interval 30] [--sink URL] [--untraced]
"""

import argparse
import os
import tempfile
import threading
import time

import _machine

TICK_S = 0.01
GREENLETS_PER_TICK = 20
CHAIN_CALLS = 5


def leaf(x):
    """Bottom of the call chain."""
    return x + 1


def middle(x):
    """Middle of the call chain."""
    return leaf(x) * 2


def chain(n):
    """A few calls of a 2-deep chain."""
    total = 0
    for i in range(n):
        total += middle(i)
    return total


def greenlet_body(sleep):
    """A gevent greenlet's life: work, yield to the hub, work, end."""
    chain(CHAIN_CALLS)
    sleep(0)
    return chain(CHAIN_CALLS)


def thread_body():
    """An OS thread's life: work, then two plain greenlets that switch back and forth, end."""
    import greenlet

    chain(CHAIN_CALLS)
    main = greenlet.getcurrent()

    def child():
        chain(CHAIN_CALLS)
        main.switch()
        chain(CHAIN_CALLS)

    for _ in range(2):
        g = greenlet.greenlet(child)
        g.switch()
        g.switch()


def rss_kib():
    """(VmRSS, VmHWM) of this process in KiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def slope_per_s(points):
    """Least-squares slope of (t, value) points; 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0


def verdict(samples, duration_s, threshold_kib):
    """The final lines: growth after warm-up and the slope; "stable" or "GROWING"."""
    warm = max(duration_s / 5, samples[1][0] if len(samples) > 1 else 0)
    after = [(t, rss) for t, rss in samples if t >= warm - 1e-6]
    if len(after) < 2:
        return ["verdict: too short to tell (%d samples after the %.0f s warm-up)"
                % (len(after), warm)]
    (t0, first), (t1, last) = after[0], after[-1]
    growth = last - first
    fitted = slope_per_s(after) * (t1 - t0)
    ok = growth <= threshold_kib and fitted <= threshold_kib
    return [
        "RSS after the %.0f s warm-up: %.1f MiB at %.0f s -> %.1f MiB at %.0f s: %+.1f MiB "
        "(%+.2f%%); least-squares trend over those %d samples: %+.2f MiB (%+.3f MiB/min)"
        % (warm, first / 1024, t0, last / 1024, t1, growth / 1024, 100.0 * growth / first,
           len(after), fitted / 1024, slope_per_s(after) * 60 / 1024),
        "verdict: %s (threshold %.1f MiB)" % ("stable" if ok else "GROWING",
                                              threshold_kib / 1024),
    ]


def report_line(elapsed, counts, it):
    """One progress line: time, RSS, peak, workload counts and the tracer's counters."""
    rss, hwm = rss_kib()
    text = "%6.0f s  RSS %8.1f MiB  peak %8.1f MiB  threads started %7s  greenlets %9s" % (
        elapsed, rss / 1024, hwm / 1024, format(counts["threads"], ","),
        format(counts["greenlets"], ","))
    if it is not None:
        st = it.tracing_stats()
        text += ("  | tracer: threads live %d exited %s, greenlets seen %s, code objects %d, "
                 "records %s, lost %s" % (len(st["threads"]),
                                          format(st["exited_threads"]["threads"], ","),
                                          format(st["greenlets_seen"], ","),
                                          st["code_objects"], format(st["records"], ","),
                                          format(st["lost"], ",")))
    return rss, text


def run(args, trace_path):
    """The soak loop; returns the (elapsed, RSS KiB) samples."""
    import gevent

    it = None
    if not args.untraced:
        import infi_tracing as it
        it.configure_sinks([args.sink or "file://" + trace_path])
        it.set_tracing(None, level=it.TRACE_FUNC_NAME)
    counts = {"threads": 0, "greenlets": 0}
    alive = []
    samples = []
    start = time.monotonic()
    duration = args.minutes * 60
    next_report = 0.0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= next_report:
            if trace_path and not args.sink and it is not None:
                os.truncate(trace_path, 0)  # the sink appends (O_APPEND): truncating is safe
            rss, line = report_line(elapsed, counts, it)
            samples.append((elapsed, rss))
            print(line, flush=True)
            next_report += args.interval
        if elapsed >= duration:
            break
        batch = [gevent.spawn(greenlet_body, gevent.sleep) for _ in range(GREENLETS_PER_TICK)]
        counts["greenlets"] += len(batch)
        alive = [t for t in alive if t.is_alive()]
        if len(alive) < args.max_threads:
            thread = threading.Thread(target=thread_body, daemon=True)
            thread.start()
            alive.append(thread)
            counts["threads"] += 1
        gevent.joinall(batch, raise_error=True)
        gevent.sleep(TICK_S)
    for thread in alive:
        thread.join()
    if it is not None:
        it.unset_tracing()
    return samples


def main(argv=None):
    """Parse the options, soak, print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--interval", type=float, default=30.0,
                        help="seconds between RSS reports")
    parser.add_argument("--max-threads", type=int, default=8,
                        help="OS threads alive at once at most")
    parser.add_argument("--threshold-mb", type=float, default=4.0,
                        help="growth after warm-up that still counts as stable (MiB)")
    parser.add_argument("--sink", help="sink URL instead of a truncated text file")
    parser.add_argument("--untraced", action="store_true", help="the workload without tracing")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or args.max_threads < 1:
        parser.error("--minutes, --interval and --max-threads must be positive")
    print("rss_soak: %s, %g min, report every %g s, %s" % (
        _machine.describe(), args.minutes, args.interval,
        "untraced" if args.untraced else "traced into %s" % (args.sink or "a text file")),
        flush=True)
    with tempfile.TemporaryDirectory(prefix="rss_soak_") as workdir:
        samples = run(args, os.path.join(workdir, "soak.trace"))
    for line in verdict(samples, args.minutes * 60, args.threshold_mb * 1024):
        print(line)


if __name__ == "__main__":
    main()
