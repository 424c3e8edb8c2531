"""The code ``benchmarks/compare.py`` measures: the tight loop, the gevent greenlets and the
gevent ``pywsgi`` server (its client is ``_http_client.py``, in another process).

Even and odd greenlets run different worker functions and amounts of work, and the wsgi chain
has its own function names, so ``_nesting.py`` can tell whether a tool attributed calls to the
right callers.
"""

import json
import os
import sys
import tempfile
import time

__all__ = ["f", "tight_loop", "chain_a", "chain_b", "chain_c", "worker_even", "worker_odd",
           "run_greenlets", "wsgi_app", "wsgi_handle", "wsgi_render", "run_wsgi"]

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_http_client.py")


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
                [sys.executable, CLIENT, str(server.server_port), str(connections),
                 str(requests), str(warmup)],
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
