"""The 2013 infi.tracing benchmark, redone for infi_tracing.

The seed measured how many times per second a loop could run ``foo()`` (which calls ``bar()``,
whose body is ``pass``) plus one ``time()`` call (the loop's own clock check), for a fixed time
per sample, 5 samples of 5 seconds, and printed each sample, the deviation of the min and max
from the average and "N.NN times slower than baseline".  This does the same for:

* ``baseline``            - no tracing;
* ``filtered``            - tracing on, the filter returns NO_TRACE for everything;
* ``name-binary``         - TRACE_FUNC_NAME (every call and return) into the binary file sink;
* ``name-text``           - TRACE_FUNC_NAME into a text file;
* ``primitives-text``     - TRACE_FUNC_PRIMITIVES (arguments and return values) into a text file;
* ``primitives-syslog``   - TRACE_FUNC_PRIMITIVES to syslog over TCP (octet framing, RFC 5424)
                            into a real rsyslogd this script starts on 127.0.0.1 (a high port,
                            a temporary directory; see ``_syslogd.py``).

Each configuration runs in a fresh subprocess (cwd = a temp dir).  Tracing uses the default
``overflow="drop"``, as the seed did (it overwrote): a drain that cannot keep up loses records
instead of slowing the program, so each configuration also reports what ``tracing_stats()``
counted after ``unset_tracing()``: records delivered, records lost in the rings (``lost``) and
records a sink dropped (the syslog spool when rsyslogd falls behind; for that configuration also
what rsyslogd wrote out).  A dropped record costs the program less than a delivered one, so
in this mode a configuration whose drain falls further behind can look faster: read the slowdown
together with the share lost.  ``--overflow block`` measures the lossless mode instead.  Trace
files are truncated between samples (the sinks append), so a long run does not fill the disk.

Usage::

    python benchmarks/seed_benchmark.py [--seconds 5] [--samples 5] [--quick] [--overflow drop]
                                        [--only CONFIG ...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import _machine

CONFIGS = ("baseline", "filtered", "name-binary", "name-text", "primitives-text",
           "primitives-syslog")
DEFAULT_SECONDS = 5.0
DEFAULT_SAMPLES = 5
QUICK_SECONDS = 1.0
QUICK_SAMPLES = 3


# --- the child: one configuration ------------------------------------------------------------


def bar():
    """The seed's innermost function."""
    pass


def foo():
    """The seed's outer function: calls bar()."""
    bar()


def one_sample(seconds, clock=time.time):
    """Call foo() in a loop, checking the clock once per iteration, for ``seconds``.

    Returns (iterations, elapsed seconds).
    """
    iterations = 0
    start = now = clock()
    while now - start < seconds:
        foo()
        iterations += 1
        now = clock()
    return iterations, now - start


def start_tracing(it, config, workdir, syslog_port, overflow):
    """Configure the sink and call set_tracing() for ``config``.

    Returns (the trace file or None, the backend in use).
    """
    level = it.TRACE_FUNC_PRIMITIVES if config.startswith("primitives") else it.TRACE_FUNC_NAME
    path = None
    if config == "primitives-syslog":
        it.tracing_output_to_syslog(facility="local0", address=("127.0.0.1", syslog_port),
                                    application_name="benchmark")
    elif config == "name-binary":
        path = os.path.join(workdir, "trace.itr")
        it.configure_sinks(["binary://" + path])
    else:
        path = os.path.join(workdir, "trace.txt")
        it.tracing_output_to_file(path, format="text")
    flt = (lambda frame: it.NO_TRACE) if config == "filtered" else None
    it.set_tracing(flt, level=level, overflow=overflow)
    return path, it.tracing_stats()["backend"]


def child(config, seconds, samples, workdir, syslog_port, overflow):
    """Run the samples of one configuration; print a line per sample, then one JSON line."""
    it = path = backend = None
    if config != "baseline":
        import infi_tracing as it
        path, backend = start_tracing(it, config, workdir, syslog_port, overflow)
    one_sample(min(seconds, 0.2))  # warm-up: the filter's first calls, the rings, the sink
    rates = []
    for n in range(1, samples + 1):
        if path:
            os.truncate(path, 0)  # the sink appends (O_APPEND): truncating is safe
        iterations, elapsed = one_sample(seconds)
        rates.append(iterations / elapsed)
        print("  %-18s sample %d: %12s iterations in %.2f s = %12.2f iterations/s"
              % (config, n, format(iterations, ","), elapsed, rates[-1]), flush=True)
    result = {"config": config, "rates": rates}
    if it is not None:
        t0 = time.perf_counter()
        it.unset_tracing()
        result["flush_s"] = time.perf_counter() - t0
        st = it.tracing_stats()
        result.update(records=st["records"], lost=st["lost"],
                      sink_lost=sum(s.get("lost", 0) for s in st["sinks"]),
                      sink_records=sum(s.get("records", 0) for s in st["sinks"]),
                      sink_bytes=sum(s.get("bytes", 0) for s in st["sinks"]),
                      backend=backend)
    print(json.dumps(result), flush=True)


# --- the parent: every configuration in its own process, then the summary ---------------------


def run_config(config, args, syslog_port):
    """Run ``config`` in a fresh interpreter, relaying its sample lines; return its result."""
    with tempfile.TemporaryDirectory(prefix="seed_benchmark_") as workdir:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", config,
               "--seconds", repr(args.seconds), "--samples", str(args.samples),
               "--workdir", workdir, "--syslog-port", str(syslog_port or 0),
               "--overflow", args.overflow]
        env = dict(os.environ)
        env.pop("INFI_TRACING_SINKS", None)
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, text=True)
        result = None
        for line in proc.stdout:
            if line.startswith("{"):
                result = json.loads(line)
            else:
                print(line, end="", flush=True)
        if proc.wait() != 0 or result is None:
            raise SystemExit("configuration %s failed (exit %s)" % (config, proc.returncode))
    return result


def deviation(rates):
    """(average, min/avg deviation %, max/avg deviation %)."""
    avg = sum(rates) / len(rates)
    return avg, 100.0 * (min(rates) - avg) / avg, 100.0 * (max(rates) - avg) / avg


def summary_line(result, baseline_avg):
    """The seed's summary line for one configuration, with the counts after it."""
    avg, dmin, dmax = deviation(result["rates"])
    text = "%-18s avg %12.2f iterations/s  min/avg d %6.2f%%  max/avg d %6.2f%%" % (
        result["config"], avg, dmin, dmax)
    if baseline_avg is not None and result["config"] != "baseline":
        text += "  (%.2f times slower than baseline)" % (baseline_avg / avg)
    return text


def counts_line(result, received=None):
    """Records delivered and lost for a traced configuration."""
    made = result["records"] + result["lost"]
    text = ("%-18s records %s, lost in rings %s (%.1f%%), lost by the sink %s, sink bytes %s, "
            "unset_tracing() %.3f s" % (result["config"], format(result["records"], ","),
                                        format(result["lost"], ","),
                                        100.0 * result["lost"] / made if made else 0.0,
                                        format(result["sink_lost"], ","),
                                        format(result["sink_bytes"], ","), result["flush_s"]))
    if received is not None:
        text += ", rsyslogd wrote %s" % format(received, ",")
    return text


def main(argv=None):
    """Parse the options; run the child, or every configuration and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=None,
                        help="length of one sample (default %g)" % DEFAULT_SECONDS)
    parser.add_argument("--samples", type=int, default=None,
                        help="samples per configuration (default %d)" % DEFAULT_SAMPLES)
    parser.add_argument("--quick", action="store_true",
                        help="--seconds %g --samples %d (explicit options win)"
                        % (QUICK_SECONDS, QUICK_SAMPLES))
    parser.add_argument("--overflow", choices=("drop", "block"), default="drop",
                        help="set_tracing(overflow=...) (default drop, as the seed)")
    parser.add_argument("--only", nargs="+", choices=CONFIGS, default=None,
                        help="run only these configurations (baseline is always run)")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--syslog-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    if args.samples is None:
        args.samples = QUICK_SAMPLES if args.quick else DEFAULT_SAMPLES
    if args.seconds <= 0 or args.samples < 1:
        parser.error("--seconds and --samples must be positive")
    if args.child:
        child(args.child, args.seconds, args.samples, args.workdir, args.syslog_port,
              args.overflow)
        return

    configs = [c for c in CONFIGS if c == "baseline" or args.only is None or c in args.only]
    print("seed benchmark: foo() -> bar() plus one time() per iteration, %d samples of %g s, "
          "overflow=%s" % (args.samples, args.seconds, args.overflow))
    print("machine: %s" % _machine.describe())
    daemon = None
    with tempfile.TemporaryDirectory(prefix="seed_rsyslogd_") as daemon_dir:
        if "primitives-syslog" in configs:
            import _syslogd
            daemon = _syslogd.start(daemon_dir)
            print("rsyslogd: %s, TCP 127.0.0.1:%d" % (daemon.executable, daemon.tcp_port))
        try:
            results = []
            for config in configs:
                results.append(run_config(config, args, daemon and daemon.tcp_port))
            received = None
            if daemon is not None:
                daemon.stop()
                received = daemon.received()
        finally:
            if daemon is not None:
                daemon.kill()
    baseline_avg = deviation(results[0]["rates"])[0]
    print()
    print("backend: %s" % next((r["backend"] for r in results if "backend" in r), "-"))
    for result in results:
        print(summary_line(result, baseline_avg))
    print()
    for result in results[1:]:
        syslog = result["config"] == "primitives-syslog"
        print(counts_line(result, received if syslog else None))


if __name__ == "__main__":
    main()
