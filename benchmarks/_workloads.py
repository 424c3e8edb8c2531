"""Child side of ``benchmarks/compare.py``: one workload under one tracer, in a fresh process.

``python _workloads.py run SPEC_JSON`` runs one measurement and prints one JSON line.  SPEC is
``{"tool", "option", "workload", "size", "check", "workdir"}``:

* tool ``baseline`` (untraced), ``infi`` (option ``<backend>-binary`` or ``<backend>-filtered``),
  ``viztracer``, ``cprofile``, ``yappi`` (option ``wall`` or ``greenlet``);
* workload ``tight`` (``f(a, b)`` called N times), ``greenlets`` (a 3-deep call chain run by
  gevent greenlets that ``gevent.sleep(0)`` between batches) or ``wsgi`` (a gevent ``pywsgi``
  server; the client is ``python _workloads.py client ...`` in another, plain process);
* ``check``: after the run, check that the tool's view of the call tree is right (see
  ``check_*``); such runs are small and untimed in spirit (compare.py does not time them).

The tracer is started before the warm-up and stopped after the timed part; stopping it and
writing its output (``unset_tracing()``'s flush, viztracer's ``save``, cProfile's and yappi's
stats dump) is timed separately as ``flush_s``.  Nothing here asserts on timings.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

# --- workloads -------------------------------------------------------------------------------


def f(a, b):
    """The tight loop's callee."""
    return a


def tight_loop(n):
    """Call ``f`` ``n`` times."""
    for i in range(n):
        f(i, i)


def chain_c(x, y):
    """Bottom of the 3-deep chain."""
    return x + y


def chain_b(x, y):
    """Middle of the 3-deep chain."""
    return chain_c(x, y)


def chain_a(x, y):
    """Top of the 3-deep chain."""
    return chain_b(x, y)


def worker_even(batches, per_batch):
    """Even-numbered greenlets: ``2 * per_batch`` chains per batch, then yield to the hub.

    Even and odd greenlets do different amounts of work under different function names, so a
    profiler that mixes up greenlets attributes ``chain_a`` calls to the wrong caller.
    """
    import gevent
    for _ in range(batches):
        for i in range(2 * per_batch):
            chain_a(i, 1)
        gevent.sleep(0)


def worker_odd(batches, per_batch):
    """Odd-numbered greenlets: ``per_batch`` chains per batch, then yield to the hub."""
    import gevent
    for _ in range(batches):
        for i in range(per_batch):
            chain_a(i, 1)
        gevent.sleep(0)


def run_greenlets(greenlets, batches, per_batch):
    """Run ``greenlets`` workers to completion; return the expected callers of ``chain_a``."""
    import gevent
    workers = [gevent.spawn(worker_even if i % 2 == 0 else worker_odd, batches, per_batch)
               for i in range(greenlets)]
    gevent.joinall(workers, raise_error=True)
    even = (greenlets + 1) // 2
    return {"worker_even": even * batches * 2 * per_batch,
            "worker_odd": (greenlets - even) * batches * per_batch}


def wsgi_render(text):
    """Bottom of the application's chain."""
    return ("hello " + text).encode()


def wsgi_handle(path):
    """Middle of the application's chain."""
    return wsgi_render(path.upper())


def wsgi_app(environ, start_response):
    """The WSGI application the traced server runs."""
    body = wsgi_handle(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def run_wsgi(connections, requests, warmup):
    """Serve a client process until it is done; return its result (elapsed_s, rps...)."""
    import socket

    from gevent import pywsgi
    from gevent import subprocess as gsubprocess

    class Server(pywsgi.WSGIServer):
        """pywsgi sends headers and body in two writes: without TCP_NODELAY, Nagle and the
        client's delayed ACK cap a keep-alive connection at about 25 requests per second."""

        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle(sock, address)

    server = Server(("127.0.0.1", 0), wsgi_app, log=None)
    server.start()
    lines, marks = [], []
    try:
        with tempfile.TemporaryFile("w+") as err:
            client = gsubprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "client", str(server.server_port),
                 str(connections), str(requests), str(warmup)],
                stdout=gsubprocess.PIPE, stderr=err, text=True)
            for line in client.stdout:  # "timed" when the timed requests start, then JSON
                marks.append((time.perf_counter(), time.process_time()))
                lines.append(line)
            client.wait(timeout=600)
            err.seek(0)
            errors = err.read()[-2000:]
    finally:
        server.stop(timeout=5)
    if client.returncode != 0 or len(lines) != 2:
        raise RuntimeError("client exited with %s: %s%s"
                           % (client.returncode, "".join(lines), errors))
    result = json.loads(lines[-1])
    if result.get("error"):
        raise RuntimeError("client: %s" % result["error"])
    # the server's CPU seconds (all its threads) per wall second during the timed requests
    (t0, c0), (t1, c1) = marks
    result["server_cpu"] = (c1 - c0) / (t1 - t0)
    return result


REQUEST = b"GET /item HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
IN_FLIGHT = 2  # requests sent ahead on each keep-alive connection (HTTP/1.1 pipelining)


def client_phase(sel, per_conn, in_flight):
    """Send ``per_conn`` requests on every connection, at most ``in_flight`` unanswered each.

    Each response is checked (status 200, a Content-Length body) as it arrives, and the next
    request goes out then; with two in flight the server has the next request while the client
    reads a response, so the two processes overlap instead of taking turns.
    """
    socks = [key.fileobj for key in sel.get_map().values()]
    sent, done, bufs = dict.fromkeys(socks, 0), dict.fromkeys(socks, 0), dict.fromkeys(socks, b"")
    for sock in socks:
        sent[sock] = min(in_flight, per_conn)
        sock.sendall(REQUEST * sent[sock])
    busy = len(socks) if per_conn else 0
    while busy:
        ready = sel.select(timeout=120)
        if not ready:
            raise RuntimeError("no response for 120 s")
        for key, _ in ready:
            sock = key.fileobj
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("server closed a connection")
            buf = bufs[sock] + data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end].lower()
                length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                if len(buf) < end + 4 + length:
                    break
                if not head.startswith(b"http/1.1 200 "):
                    raise RuntimeError("bad response %r" % buf[:200])
                buf = buf[end + 4 + length:]
                done[sock] += 1
                if sent[sock] < per_conn:
                    sock.sendall(REQUEST)
                    sent[sock] += 1
                elif done[sock] == per_conn:
                    busy -= 1
            bufs[sock] = buf


def client(port, connections, requests, warmup):
    """Plain (non-gevent, one thread) HTTP/1.1 client over ``connections`` keep-alive sockets.

    Every connection sends ``warmup`` untimed requests, then ``requests // connections`` timed
    ones, ``IN_FLIGHT`` at a time.  A ``selectors`` loop keeps the client's own cost per request
    small, so the traced server, not the client, sets the pace.  Prints "timed" when the timed
    requests start, then one JSON line.
    """
    import selectors
    import socket

    per_conn = requests // connections
    sel = selectors.DefaultSelector()
    result = {"error": "", "requests": per_conn * connections, "elapsed_s": 0.0, "rps": 0.0}
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(sock, selectors.EVENT_READ)
        client_phase(sel, warmup, IN_FLIGHT)
        t0, c0 = time.perf_counter(), time.process_time()
        print("timed", flush=True)
        client_phase(sel, per_conn, IN_FLIGHT)
        t1, c1 = time.perf_counter(), time.process_time()
        result.update(elapsed_s=t1 - t0, rps=per_conn * connections / (t1 - t0),
                      client_cpu=(c1 - c0) / (t1 - t0))
    except Exception as exc:  # reported to the server, which fails the run
        result["error"] = repr(exc)
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
    print(json.dumps(result))


# --- tracers ---------------------------------------------------------------------------------


class Baseline:
    """No tracing at all."""

    checkable = False

    def __init__(self, option, workdir, spec):
        self.workdir = workdir

    def start(self):
        """Start tracing (nothing)."""

    def stop(self):
        """Stop tracing and write the output (nothing)."""

    def stats(self):
        """Extra result fields."""
        return {}


class Infi(Baseline):
    """infi_tracing, ``<backend>-binary`` (every call, lossless) or ``<backend>-filtered``."""

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import infi_tracing
        self.it = infi_tracing
        self.backend, _, self.mode = option.partition("-")
        self.path = os.path.join(workdir, "trace.itr")
        self.checkable = self.mode != "filtered"  # records nothing: nothing to check

    def start(self):
        """configure the binary sink and set_tracing()."""
        it = self.it
        it.configure_sinks(["binary://" + self.path])
        flt = (lambda frame: it.NO_TRACE) if self.mode == "filtered" else None
        it.set_tracing(flt, level=it.TRACE_FUNC_NAME, backend=self.backend, overflow="block")

    def stop(self):
        """unset_tracing() stops and flushes everything to the file."""
        self.it.unset_tracing()

    def stats(self):
        """Records delivered and lost, from tracing_stats()."""
        st = self.it.tracing_stats()
        return {"records": st["records"], "lost": st["lost"]}

    def events(self):
        """Decode the trace with the CLI; yield (key, event, name, depth) per record."""
        errors = open(os.path.join(self.workdir, "decode.err"), "w+", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "infi_tracing", "decode", self.path,
                                 "--format", "jsonl"], stdout=subprocess.PIPE, text=True,
                                stderr=errors, cwd=self.workdir)
        for line in proc.stdout:
            rec = json.loads(line)
            if rec["event"] == "lost":
                yield None, "lost", str(rec.get("count")), None
            elif "qualname" in rec:
                yield ((rec["pid"], rec["tid"], rec["greenlet"]), rec["event"],
                       rec["qualname"], rec["depth"])
        if proc.wait() != 0:
            errors.seek(0)
            raise RuntimeError("decode exited with %d: %s"
                               % (proc.returncode, errors.read()[-500:]))
        errors.close()


class VizTracerTool(Baseline):
    """viztracer's Python API, a buffer large enough to keep every call."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        from viztracer import VizTracer
        self.path = os.path.join(workdir, "viztracer.json")
        # dump_raw: the C writer, much faster (and lighter) than building the JSON in Python
        self.tracer = VizTracer(tracer_entries=spec["entries"], output_file=self.path,
                                verbose=0, dump_raw=True)

    def start(self):
        """tracer.start()."""
        self.tracer.start()

    def stop(self):
        """tracer.stop() and tracer.save()."""
        self.tracer.stop()
        self.tracer.save(self.path)

    def stats(self):
        """Whether the circular buffer overflowed (dropping the oldest events)."""
        with open(self.path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(self.path) - 200))
            tail = fh.read().replace(b" ", b"")
        return {"overflow": b'"overflow":true' in tail}


class CProfileTool(Baseline):
    """cProfile (default options, builtins included)."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import cProfile
        self.prof = cProfile.Profile()

    def start(self):
        """prof.enable()."""
        self.prof.enable()

    def stop(self):
        """prof.disable() and dump_stats()."""
        self.prof.disable()
        self.prof.dump_stats(os.path.join(self.workdir, "cprofile.pstat"))

    def callers_of(self, name):
        """{caller function name: calls} of the function ``name`` in __main__."""
        import pstats
        callers = collections.Counter()
        for (_file, _line, func), (*_, who) in pstats.Stats(self.prof).stats.items():
            if func == name:
                for (_f, _l, caller), value in who.items():
                    callers[caller] += value[0] if isinstance(value, tuple) else value
        return callers


class YappiTool(Baseline):
    """yappi, wall clock; option ``greenlet`` uses its greenlet context backend."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import yappi
        self.yappi = yappi
        yappi.set_clock_type("wall")
        if option == "greenlet":
            yappi.set_context_backend("greenlet")

    def start(self):
        """yappi.start()."""
        self.yappi.start()

    def stop(self):
        """yappi.stop() and save the function stats."""
        self.yappi.stop()
        self.yappi.get_func_stats().save(os.path.join(self.workdir, "yappi.pstat"),
                                         type="pstat")

    def callers_of(self, name):
        """{caller function name: calls} of the function ``name``."""
        callers = collections.Counter()
        for stat in self.yappi.get_func_stats():
            for child in stat.children:
                if child.name == name:
                    callers[stat.name] += child.ncall
        return callers


TOOLS = {"baseline": Baseline, "infi": Infi, "viztracer": VizTracerTool,
         "cprofile": CProfileTool, "yappi": YappiTool}


# --- nesting checks --------------------------------------------------------------------------


INHERITED = "<open before the process was seen>"


def check_events(events, target):
    """Check call/return sequences from (key, event, name, depth) tuples nest per key.

    Returns (problems, callers of ``target``, lost records).  A return must close the innermost
    open call of its greenlet (same name, depth one less than the open calls); records of
    calls still open at the end (the hub, the main greenlet) are fine.  A process seen for the
    first time (a fork child, which goes on from its parent's depth) may start deeper: the
    frames it inherited count as open and match any return.
    """
    stacks = {}
    pids = set()
    callers = collections.Counter()
    problems = []
    lost = 0
    for key, event, name, depth in events:
        if event == "lost":
            lost += int(name)
            continue
        stack = stacks.get(key)
        if stack is None:
            stack = stacks[key] = []
            if key[0] not in pids and len(key) == 3:
                pids.add(key[0])
                stack.extend([INHERITED] * (depth if event in ("call", "resume") else depth + 1))
        if event in ("call", "resume"):
            if depth != len(stack) and len(problems) < 5:
                problems.append("%s %s at depth %s with %d open in greenlet %s"
                                % (event, name, depth, len(stack), key[-1]))
            if name == target:
                callers[stack[-1] if stack else None] += 1
            stack.append(name)
        elif event in ("return", "exception", "yield"):
            if not stack or stack[-1] not in (name, INHERITED) or depth != len(stack) - 1:
                if len(problems) < 5:
                    problems.append("%s %s at depth %s, open: %s in greenlet %s"
                                    % (event, name, depth, stack[-3:], key[-1]))
                stack[:] = stack[:depth]  # resynchronise on the record's own depth
            else:
                stack.pop()
    return problems, callers, lost


def viztracer_events(path):
    """viztracer's complete events as (key, event, name, depth), from interval nesting.

    Intervals of one thread must nest (each either inside or after the previous open one);
    a crossing one is reported as a return that does not match.
    """
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    by_thread = collections.defaultdict(list)
    for ev in data["traceEvents"]:
        if ev.get("ph") == "X":
            name = ev["name"].split(" (", 1)[0]
            by_thread[ev["pid"], ev["tid"]].append((ev["ts"], -ev["dur"], name))
    eps = 0.002  # viztracer rounds timestamps to the nanosecond (in microseconds)
    for key, evs in by_thread.items():
        evs.sort()
        stack = []
        for ts, neg_dur, name in evs:
            while stack and stack[-1][0] <= ts + eps:
                end, open_name = stack.pop()
                yield key, "return", open_name, len(stack)
            if stack and ts - neg_dur > stack[-1][0] + eps:
                yield key, "return", "<crossing %s>" % stack[-1][1], len(stack) - 1
            yield key, "call", name, len(stack)
            stack.append((ts - neg_dur, name))
        while stack:
            _end, open_name = stack.pop()
            yield key, "return", open_name, len(stack)


def check(tool, workload, expected):
    """Return "ok" or "FAILED: ..." for the tool's view of the call tree."""
    target = "chain_a" if workload == "greenlets" else "wsgi_handle"
    if isinstance(tool, Infi):
        problems, callers, lost = check_events(tool.events(), target)
        if lost:
            problems.append("%d records lost" % lost)
    elif isinstance(tool, VizTracerTool):
        problems, callers, _ = check_events(viztracer_events(tool.path), target)
    else:
        problems, callers = [], tool.callers_of(target)
    callers = {k: v for k, v in callers.items() if v}
    if callers != expected:
        problems.append("callers of %s: %s, expected %s"
                        % (target, dict(sorted(callers.items(), key=str)), expected))
    if problems:
        return "FAILED: " + "; ".join(problems)
    # an aggregate (cProfile, yappi) only shows immediate callers, not the sequence
    return "ok" if isinstance(tool, Infi | VizTracerTool) else "callers ok"


# --- main ------------------------------------------------------------------------------------


def measure(tool, workload, size):
    """Start ``tool``, warm up, time ``workload``, stop the tool.

    Returns (timings and client figures, expected callers of the checked function).
    """
    tool.start()
    result, expected = {}, None
    if workload == "tight":
        tight_loop(size["warmup"])
        t0 = time.perf_counter()
        tight_loop(size["calls"])
        t1 = time.perf_counter()
    elif workload == "greenlets":
        w = size["warmup"]
        expected = collections.Counter(run_greenlets(w["greenlets"], w["batches"],
                                                     w["per_batch"]))
        t0 = time.perf_counter()
        expected.update(run_greenlets(size["greenlets"], size["batches"], size["per_batch"]))
        t1 = time.perf_counter()
        expected = dict(expected)
    else:  # the client's warm-up requests come before its timed ones
        t0 = time.perf_counter()
        client_result = run_wsgi(size["connections"], size["requests"], size["warmup"])
        t1 = time.perf_counter()
        result.update(rps=client_result["rps"], client_s=client_result["elapsed_s"],
                      client_cpu=client_result["client_cpu"],
                      server_cpu=client_result["server_cpu"])
        expected = {"wsgi_app": client_result["requests"]
                    + size["warmup"] * size["connections"]}
    tool.stop()
    result.update(elapsed_s=t1 - t0, flush_s=time.perf_counter() - t1)
    return result, expected


def run(spec):
    """Run one measurement described by ``spec``; return the result dict."""
    workload = spec["workload"]
    tool = TOOLS[spec["tool"]](spec.get("option", ""), spec["workdir"], spec)
    if workload == "greenlets":
        import gevent  # noqa: F401  (imported before tracing starts, like the others)
    elif workload == "wsgi":
        import gevent.pywsgi  # noqa: F401
        import gevent.subprocess  # noqa: F401
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        # gevent.subprocess forks the wsgi client from a process with native threads (a
        # tracer's drain, gevent's): harmless here, since the child execs at once
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        result, expected = measure(tool, workload, spec["size"])
    result.update(tool.stats())
    messages = sorted({"%s: %s" % (w.category.__name__, w.message) for w in seen})
    if messages:
        result["warnings"] = messages[:3]
    if spec.get("check") and expected is not None and tool.checkable:
        result["nesting"] = check(tool, workload, expected)
    return result


def main(argv):
    """``run SPEC_JSON`` or ``client PORT CONNECTIONS REQUESTS WARMUP``."""
    if argv[0] == "client":
        client(*(int(a) for a in argv[1:5]))
        return
    spec = json.loads(argv[1])
    try:
        result = run(spec)
    except ImportError as exc:
        result = {"na": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
