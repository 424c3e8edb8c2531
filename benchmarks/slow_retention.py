"""Slow-call retention on a live syslog stream (issue 12): the pywsgi server workload traced
once, its records going at the same time to

* ``full.itr``, a binary file with every record (the reference),
* a syslog TCP sink with every record, to a real rsyslogd (ruleset "full"),
* a syslog TCP sink with ``?min_duration=1ms`` to the same rsyslogd (ruleset "thin").

rsyslogd writes each ruleset's messages to its own file in RSYSLOG_FileFormat, which the trace
reader reads.  Printed: the records each syslog sink handled (written, lost, omitted), the
lines rsyslogd wrote, the reduction, and how far ``report``'s self and total times of the
calls the thin stream kept are from the same calls in the full trace (each kept exit matched
with its record in ``full.itr`` by thread, greenlet, depth, function and time to the
microsecond; summed per function).  Nothing here asserts on timings.

    python benchmarks/slow_retention.py [--requests N] [--connections N] [--min-duration 1ms]

Needs gevent and rsyslogd (``make syslog-daemons``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _syslogd import BenchRsyslogd, missing_message  # noqa: E402

CHILD = """
import json, sys, time
sys.path.insert(0, %(here)r)
import gevent.pywsgi, gevent.subprocess
from _workload_code import run_wsgi
import infi_tracing
spool = "spool_size=%%d&flush_timeout=120" %% (512 << 20)
infi_tracing.configure_sinks([
    "binary://%(workdir)s/full.itr",
    "binary://%(workdir)s/thin.itr?min_duration=%(min_duration)s",
    "syslog+tcp://127.0.0.1:%(full_port)d?" + spool,
    "syslog+tcp://127.0.0.1:%(thin_port)d?min_duration=%(min_duration)s&" + spool])
run_wsgi(1, 10, 1)  # untraced: gevent's lazy imports (frozen importlib's file names have a
                   # space, which text lines cannot show unambiguously) come before tracing
infi_tracing.set_tracing(overflow="block")
t0 = time.perf_counter()
client = run_wsgi(%(connections)d, %(requests)d, %(warmup)d)
elapsed = time.perf_counter() - t0
infi_tracing.unset_tracing()
print(json.dumps({"elapsed_s": elapsed, "rps": client["rps"],
                  "sinks": infi_tracing.tracing_stats()["sinks"]}))
"""


class TwoStreams(BenchRsyslogd):
    """rsyslogd with two TCP inputs, each ruleset writing whole messages to its own file."""

    def __init__(self, workdir):
        super().__init__(workdir)
        import socket

        from syslog_daemons import _free_port  # the tests' helper
        self.thin_port = _free_port(socket.SOCK_STREAM)
        self.full_path = os.path.join(str(self.workdir), "full.log")
        self.thin_path = os.path.join(str(self.workdir), "thin.log")

    def config(self):
        """Two TCP inputs (and the base class's UDP and unix ones, unused), each ruleset
        writing whole messages to its own file; one queue worker, so that the files keep
        the order in which messages arrived (the trace reader pairs lines in file order)."""
        return f"""\
global(workDirectory="{self.workdir}/state" maxMessageSize="64k" net.enableDNS="off")
main_queue(queue.workerThreads="1")
module(load="imtcp") module(load="imudp")
module(load="imuxsock" SysSock.Use="off")
ruleset(name="full") {{
  action(type="omfile" file="{self.full_path}" template="RSYSLOG_FileFormat" asyncWriting="off")
}}
ruleset(name="thin") {{
  action(type="omfile" file="{self.thin_path}" template="RSYSLOG_FileFormat" asyncWriting="off")
}}
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="full")
input(type="imtcp" address="127.0.0.1" port="{self.thin_port}" ruleset="thin")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="full")
input(type="imuxsock" socket="{self.unix_path}" ruleset="full" rateLimit.interval="0")
"""


def _lines(path):
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _exits(path, keys=None):
    """{(tid, greenlet, depth, name, exit time in us): (duration, self)} of known exits
    (only those in `keys` when given)."""
    from infi_tracing.analysis import Reader
    out = {}
    for rec in Reader(path).records():
        if rec["event"] not in ("return", "exception") or "self_ns" not in rec:
            continue
        key = (rec["tid"], rec["greenlet"], rec["depth"],
               "%s.%s" % (rec["module"], rec["qualname"]), rec["time_ns"] // 1000)
        if keys is None or key in keys:
            out[key] = (rec["duration_ns"], rec["self_ns"])
    return out


def compare(full_trace, thin_log):
    """Per function: (calls matched, total and self in the thin stream, and in the full trace)."""
    thin = _exits(thin_log)
    full = _exits(full_trace, set(thin))
    rows = {}
    for key, (total, self_ns) in thin.items():
        if key not in full:
            continue
        row = rows.setdefault(key[3], [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += total
        row[2] += self_ns
        row[3] += full[key][0]
        row[4] += full[key][1]
    return rows, len(thin), len(full)


def main(argv=None):
    """Run the workload once, print the figures as JSON lines and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--min-duration", default="1ms")
    parser.add_argument("--keep", metavar="DIR", help="copy the traces and logs to DIR")
    args = parser.parse_args(argv)
    problem = missing_message()
    if problem:
        raise SystemExit(problem)
    with tempfile.TemporaryDirectory(prefix="slow-retention-") as workdir:
        daemon = TwoStreams(os.path.join(workdir, "rsyslog")).start()
        try:
            source = CHILD % dict(here=HERE, workdir=workdir, full_port=daemon.tcp_port,
                                  thin_port=daemon.thin_port, min_duration=args.min_duration,
                                  connections=args.connections, requests=args.requests,
                                  warmup=args.warmup)
            proc = subprocess.run([sys.executable, "-c", source], capture_output=True,
                                  text=True, timeout=1800, cwd=workdir)
            if proc.returncode:
                raise SystemExit("traced server failed:\n" + proc.stderr[-3000:])
            result = json.loads(proc.stdout.splitlines()[-1])
            time.sleep(1)  # rsyslogd writes what it received
        finally:
            daemon.stop()
        by_port = {str(daemon.tcp_port): "full", str(daemon.thin_port): "thin"}
        sinks = {by_port[p]: s for s in result["sinks"] for p in by_port if p in s["sink"]}
        if len(sinks) != 2:
            raise SystemExit("syslog sinks not found in %r" % result["sinks"])
        full_lines, thin_lines = _lines(daemon.full_path), _lines(daemon.thin_path)
        thin_itr = os.path.join(workdir, "thin.itr")
        full_itr = os.path.join(workdir, "full.itr")
        binary = compare(full_itr, thin_itr)
        streams = compare(daemon.full_path, daemon.thin_path)
        stream = compare(full_itr, daemon.thin_path)
        if args.keep:
            import shutil
            os.makedirs(args.keep, exist_ok=True)
            for path in (daemon.full_path, daemon.thin_path, full_itr, thin_itr):
                shutil.copy(path, args.keep)
    full, thin = sinks["full"], sinks["thin"]
    handed_full = full["records"] + full["lost"] + full["pending"]
    print(json.dumps({"requests": args.requests, "rps": round(result["rps"]),
                      "min_duration": args.min_duration, "full_sink": full, "thin_sink": thin,
                      "rsyslogd_lines": {"full": full_lines, "thin": thin_lines}}))
    print("records to the unfiltered syslog sink: %d (written %d, lost %d); rsyslogd wrote %d"
          % (handed_full, full["records"], full["lost"], full_lines))
    print("records to the min_duration=%s sink: written %d, omitted %d, lost %d; rsyslogd "
          "wrote %d lines (omitted notices included)"
          % (args.min_duration, thin["records"], thin["omitted"], thin["lost"], thin_lines))
    print("shipped: %.2f%% fewer records (%.2f%% fewer lines at rsyslogd)"
          % (100 * (1 - thin["records"] / handed_full), 100 * (1 - thin_lines / full_lines)))
    _print_comparison("thin.itr (binary, min_duration) against full.itr", *binary)
    _print_comparison("the min_duration syslog stream against the unfiltered one (the same "
                      "text precision)", *streams)
    _print_comparison("the min_duration syslog stream against full.itr (the durations on "
                      "the text lines against the binary's exact times)", *stream)

def _print_comparison(label, rows, thin_exits, matched):
    """The largest functions' times, and the largest difference over all functions and over
    those whose self time in the full trace is at least 1 ms."""
    print("\n%s: %d of %d kept exits matched" % (label, matched, thin_exits))
    print("%-60s %6s %12s %12s %8s %8s" % ("function", "calls", "total ns", "self ns",
                                           "total%", "self%"))
    worst = {0: (0.0, ""), 1000000: (0.0, "")}
    shown = 0
    for name, (calls, total, self_ns, ftotal, fself) in sorted(rows.items(),
                                                               key=lambda kv: -kv[1][4]):
        dt = 100 * abs(total - ftotal) / ftotal if ftotal else 0.0
        ds = 100 * abs(self_ns - fself) / fself if fself else 0.0
        for min_self in worst:
            if fself >= min_self:
                worst[min_self] = max(worst[min_self], (dt, name + " total"),
                                      (ds, name + " self"))
        if shown < 10:
            shown += 1
            print("%-60s %6d %12d %12d %8.3f %8.3f" % (name[-60:], calls, ftotal, fself, dt, ds))
    print("largest difference of a function's total or self time: %.3f%% (%s); over the "
          "functions with 1 ms of self time or more: %.3f%% (%s)" % (*worst[0], *worst[1000000]))

if __name__ == "__main__":
    main()
