"""How many records per second each sink drains, and how many ring bytes a record takes.

The traced workload is ``f(i, "text")`` (``def f(a, b): return a``) called N times; the filter
traces ``f`` only, so every call makes exactly two records (call and return), at TRACE_FUNC_NAME
or TRACE_FUNC_PRIMITIVES (which adds the rendered arguments and return value to each record).
Tracing is ``overflow="block"`` (lossless: a full ring waits for the drain).  Sinks:

* ``binary``, ``text``, ``jsonl``, ``perfetto+proto`` (Perfetto protobuf) - files in a
  temporary directory; ``text-min-duration``: the text file with ``min_duration=1ms`` (slow-call
  retention: every call of ``f`` is left out, so it measures the filter, not the writing);
  ``text-fifo``: text into a FIFO that a thread of this process reads and discards (the drain
  waits for a pipe in poll() and writes what it takes at once: native/it_sink_wait.h);
* ``syslog-tcp-rsyslogd``, ``syslog-udp-rsyslogd``, ``syslog-tls-rsyslogd`` - a real rsyslogd
  started on 127.0.0.1 (a fresh one per run, see ``_syslogd.py``; ``--no-rsyslogd`` skips them);
  TLS is RFC 5425 to its gtls (GnuTLS) listener, certificate verified against a throwaway CA;
* ``syslog-tcp-reader``, ``syslog-udp-reader``, ``syslog-tls-reader`` - a plain socket reader in
  this process that reads and discards (the fastest possible peer, so the sink itself is
  measured; TLS: Python's ssl server side, with the throwaway CA's certificate);
* ``perfetto`` - the Chrome/Perfetto JSON sink, a Python sink (records decoded into dicts and
  handed over with the GIL), shown for comparison.

Two measurements per (sink, level), each in a fresh subprocess:

* **drain alone**: the drain thread is paused, N calls fill the ring, the drain is resumed and
  ``flush_tracing()`` timed: records / that time is what the drain (formatting and writing)
  sustains with no producer competing for the CPU;
* **with producer**: the same N calls with the drain running; records / (loop + flush) is the
  end-to-end rate a program producing records as fast as it can gets (on a small machine the
  producer and the drain share the cores).

The ring bytes per record come from the ring itself: with the drain paused, bytes used in the
thread's ring after the calls / records made (a name-level call or return in the same
greenlet as the record before it is a 16-byte compact record; others are a 32-byte header plus,
at TRACE_FUNC_PRIMITIVES, the rendered values, padded to a multiple of 8 bytes).  Pausing the drain uses the
hooks the tracer registers for fork (``infi_tracing.native._core._before_fork`` and
``_after_fork_in_parent``): private, so this benchmark, not the tracer, breaks if they change.

Syslog sinks never make the program wait, not even in block mode: what the network peer does
not take spools (4 MiB) and the rest is counted as lost by the sink, so those rows also show
records lost and what the peer received.  For UDP the reader counts datagrams it got (the
kernel drops the rest silently).

Usage::

    python benchmarks/drain_throughput.py [--calls N] [--quick] [--only SINK ...]
                                          [--levels name primitives] [--no-rsyslogd]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import _machine

SINKS = ("binary", "text", "text-min-duration", "text-fifo", "jsonl", "perfetto+proto",
         "syslog-tcp-rsyslogd", "syslog-udp-rsyslogd", "syslog-tls-rsyslogd", "syslog-tcp-reader",
         "syslog-udp-reader", "syslog-tls-reader", "perfetto")
LEVELS = ("name", "primitives")
DEFAULT_CALLS = 1_000_000
QUICK_CALLS = 100_000
RING_BYTES = 512 * 1024 * 1024  # holds DEFAULT_CALLS at TRACE_FUNC_PRIMITIVES with room left
CHILD_TIMEOUT_S = 600


# --- the child: one sink, one level ------------------------------------------------------------


def f(a, b):
    """The traced function."""
    return a


def calls(n):
    """Call f n times (untraced itself: the filter traces f only)."""
    for i in range(n):
        f(i, "text")


def sink_spec(sink, workdir, port):
    """The configure_sinks() URL for ``sink``."""
    if sink in ("binary", "perfetto", "perfetto+proto"):
        return "%s://%s" % (sink, os.path.join(workdir, "trace." + sink))
    if sink in ("text", "jsonl"):
        return "file://%s?format=%s" % (os.path.join(workdir, "trace." + sink), sink)
    if sink == "text-fifo":
        return "file://%s" % os.path.join(workdir, "trace.fifo")
    transport = sink.split("-")[1]
    if transport == "tls":
        import _syslogd
        peer = "rsyslogd" if sink.endswith("-rsyslogd") else "reader"
        return "syslog+tls://127.0.0.1:%d?facility=local0&ca=%s" % (
            port, _syslogd.ca_file(os.path.join(workdir, peer)))
    if sink == "text-min-duration":  # slow-call retention: every call here is left out
        return "file://%s?min_duration=1ms" % os.path.join(workdir, "trace.text")
    transport = "tcp" if "-tcp-" in sink else "udp"
    return "syslog+%s://127.0.0.1:%d?facility=local0" % (transport, port)


def child(sink, level, n, workdir, port):
    """Measure one (sink, level); print one JSON line."""
    import time

    import infi_tracing as it
    from infi_tracing.native import _core

    def ring_used():
        return sum(t["buffer_used"] for t in _core.stats()["threads"])

    def sink_counts():
        st = _core.stats()["sinks"]
        # records left out by slow-call retention were handled by the drain as well
        return (sum(s.get("records", 0) + s.get("omitted", 0) for s in st),
                sum(s.get("lost", 0) for s in st),
                sum(s.get("bytes", 0) for s in st))

    lvl = it.TRACE_FUNC_PRIMITIVES if level == "primitives" else it.TRACE_FUNC_NAME
    it.configure_sinks([sink_spec(sink, workdir, port)])
    it.set_tracing(lambda frame: lvl if frame.f_code.co_name == "f" else it.NO_TRACE,
                   level=lvl, overflow="block", buffer_size=RING_BYTES)
    def paused_calls(count):
        """calls(count) with the drain paused; the ring bytes they took."""
        _core._before_fork()
        try:
            used0 = ring_used()
            calls(count)
            return ring_used() - used0
        finally:
            _core._after_fork_in_parent()

    # warm-up (filter, ring, sink, connection), and a check that n calls fit in the ring:
    # a full ring waits for the drain (block mode), which would never come back
    probe = paused_calls(1000) / 1000
    it.flush_tracing()
    if n * probe > 0.75 * RING_BYTES:
        raise SystemExit("--calls %d would need %d ring bytes, more than 3/4 of %d"
                         % (n, n * probe, RING_BYTES))
    result = {"sink": sink, "level": level, "calls": n, "records_made": 2 * n,
              "backend": it.tracing_stats()["backend"]}

    # drain alone: fill the ring with the drain paused, then time the drain emptying it
    before = sink_counts()
    used = paused_calls(n)
    t0 = time.perf_counter()
    it.flush_tracing()
    t1 = time.perf_counter()
    after = sink_counts()
    result.update(ring_bytes_per_record=used / (2 * n), drain_s=t1 - t0,
                  drain_delivered=after[0] - before[0], drain_sink_lost=after[1] - before[1],
                  drain_sink_bytes=after[2] - before[2])

    # with the producer: the same calls with the drain running
    before = after
    t0 = time.perf_counter()
    calls(n)
    t1 = time.perf_counter()
    it.flush_tracing()
    t2 = time.perf_counter()
    after = sink_counts()
    result.update(loop_s=t1 - t0, total_s=t2 - t0, live_delivered=after[0] - before[0],
                  live_sink_lost=after[1] - before[1], live_sink_bytes=after[2] - before[2])
    it.unset_tracing()
    st = it.tracing_stats()
    result.update(ring_lost=st["lost"])
    print(json.dumps(result), flush=True)


# --- network peers ---------------------------------------------------------------------------


class Reader:
    """A socket reader thread on 127.0.0.1 that reads and discards: TCP or TLS (any number
    of connections, one after another; TLS with the certificate of `pki`) or UDP (counts
    datagrams)."""

    def __init__(self, transport, pki=None):
        self.transport = transport
        self.tls = None
        if transport == "tls":
            import ssl
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*pki.servers["trusted"])
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if transport == "udp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        else:
            self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.bytes = self.datagrams = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = bytearray(1 << 20)
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                if self.transport == "udp":
                    self.bytes += self.sock.recv_into(buf)
                    self.datagrams += 1
                    continue
                conn, _ = self.sock.accept()
                if self.tls is not None:
                    conn.settimeout(5)
                    conn = self.tls.wrap_socket(conn, server_side=True)
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.2)
                while not self.stopping:
                    try:
                        got = conn.recv_into(buf)
                    except TimeoutError:
                        continue
                    if not got:
                        break
                    self.bytes += got

    def close(self):
        """Stop the thread and close the socket; return what was received."""
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        if self.transport == "udp":
            return "%s datagrams" % format(self.datagrams, ",")
        return "%s bytes" % format(self.bytes, ",")


class FifoReader:
    """A thread reading and discarding what comes through the FIFO at `path` (made here)."""

    def __init__(self, path):
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # before the writer opens it
        self.bytes = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import select
        while not self.stopping:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.bytes += len(os.read(self.fd, 1 << 20))
                except BlockingIOError:
                    pass

    def close(self):
        """Stop the thread and close the FIFO; return what was received."""
        self.stopping = True
        self.thread.join(5)
        os.close(self.fd)
        return "%s bytes" % format(self.bytes, ",")


# --- the parent ------------------------------------------------------------------------------


def run_child(sink, level, n):
    """Run one (sink, level) in a fresh interpreter, with its peer; return its result."""
    with tempfile.TemporaryDirectory(prefix="drain_throughput_") as workdir:
        daemon = reader = None
        port = 0
        try:
            if sink.endswith("-rsyslogd"):
                import _syslogd
                tls = "-tls-" in sink
                daemon = _syslogd.start(os.path.join(workdir, "rsyslogd"), tls=tls)
                port = (daemon.tls_port if tls else
                        daemon.tcp_port if "-tcp-" in sink else daemon.udp_port)
            elif sink.endswith("-reader"):
                pki = None
                if "-tls-" in sink:
                    import _syslogd
                    pki = _syslogd.make_pki(Path(_syslogd.ca_file(os.path.join(workdir,
                                                                               "reader"))).parent)
                reader = Reader(sink.split("-")[1], pki)
                port = reader.port
            elif sink == "text-fifo":
                reader = FifoReader(os.path.join(workdir, "trace.fifo"))
            env = dict(os.environ)
            env.pop("INFI_TRACING_SINKS", None)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", sink,
                                   "--level", level, "--calls", str(n), "--workdir", workdir,
                                   "--port", str(port)], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                return {"sink": sink, "level": level,
                        "error": "exit %d: %s" % (proc.returncode, tail[:200])}
            result = json.loads(lines[-1])
            if daemon is not None:
                daemon.stop()
                result["peer_received"] = "%s messages" % format(daemon.received(), ",")
        finally:
            if daemon is not None:
                daemon.kill()
            if reader is not None:
                result_peer = reader.close()
        if reader is not None:
            result["peer_received"] = result_peer
    return result


def rate(records, seconds):
    """Records per second, formatted."""
    return format(int(records / seconds), ",") if seconds > 0 else "-"


def table(results, n):
    """The Markdown table."""
    out = ["| sink | level | ring bytes/record | drain alone: records/s | sink bytes/record "
           "| with producer: records/s | producer loop s | lost by sink (alone / with producer)"
           " | peer received (both runs) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            out.append("| %s | %s | n/a (%s) | | | | | | |" % (r["sink"], r["level"],
                                                          r["error"].replace("|", "/")))
            continue
        delivered = r["drain_delivered"]
        per_rec = ("%.0f" % (r["drain_sink_bytes"] / delivered)
                   if delivered and r["drain_sink_bytes"] else "-")  # Python sinks count none
        name = r["sink"] + (" (Python sink)" if r["sink"] == "perfetto" else "")
        out.append("| %s | %s | %.1f | %s | %s | %s | %.3f | %s / %s | %s |" % (
            name, r["level"], r["ring_bytes_per_record"], rate(delivered, r["drain_s"]),
            per_rec, rate(r["live_delivered"], r["total_s"]), r["loop_s"],
            format(r["drain_sink_lost"], ","), format(r["live_sink_lost"], ","),
            r.get("peer_received", "-")))
    return "\n".join(out)


def main(argv=None):
    """Parse the options; run the child, or every (sink, level) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=None,
                        help="calls of f per measurement, 2 records each (default %s)"
                        % format(DEFAULT_CALLS, ","))
    parser.add_argument("--quick", action="store_true", help="--calls %d" % QUICK_CALLS)
    parser.add_argument("--only", nargs="+", choices=SINKS, default=SINKS)
    parser.add_argument("--levels", nargs="+", choices=LEVELS, default=LEVELS)
    parser.add_argument("--no-rsyslogd", action="store_true",
                        help="skip the rsyslogd rows (the socket-reader rows stay)")
    parser.add_argument("--child", choices=SINKS, help=argparse.SUPPRESS)
    parser.add_argument("--level", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.calls or (QUICK_CALLS if args.quick else DEFAULT_CALLS)
    if n < 1:
        parser.error("--calls must be positive")
    if args.child:
        child(args.child, args.level, n, args.workdir, args.port)
        return
    sinks = [s for s in args.only if not (args.no_rsyslogd and s.endswith("-rsyslogd"))]
    if any(s.endswith("-rsyslogd") for s in sinks):
        import _syslogd
        problem = _syslogd.missing_message()
        if problem:
            raise SystemExit(problem + "\n(or pass --no-rsyslogd)")
    results = []
    for sink in sinks:
        for level in args.levels:
            res = run_child(sink, level, n)
            results.append(res)
            print("%-20s %-10s %s" % (sink, level, res.get("error") or "drain alone %s rec/s, "
                                      "with producer %s rec/s" % (
                                          rate(res["drain_delivered"], res["drain_s"]),
                                          rate(res["live_delivered"], res["total_s"]))),
                  file=sys.stderr, flush=True)
    backend = next((r["backend"] for r in results if "backend" in r), "-")
    print("## drain_throughput: %s" % _machine.describe())
    print()
    print("%s calls of `f(i, \"text\")` per measurement (%s records), overflow=\"block\", "
          "backend %s, one fresh process per row. **drain alone**: the ring filled with the "
          "drain paused, then records delivered / time to drain them; **with producer**: "
          "records delivered / (loop + flush) with the drain running. Sink bytes/record: "
          "bytes the sink wrote or sent per record (drain-alone run)."
          % (format(n, ","), format(2 * n, ","), backend))
    print()
    print(table(results, n))


if __name__ == "__main__":
    main()
