"""gevent: tracing works whether set_tracing() comes before or after monkey.patch_all()."""

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from collections import defaultdict

import pytest

from helpers import ONLY_MAIN, ExampleServer, check_nesting, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these



PATCH = """
from gevent import monkey
monkey.patch_all()
"""

WORKLOAD = """
import time
import gevent

def leaf(i):
    time.sleep(0.001)  # patched: yields to the other greenlets
    return i

def middle(i):
    return leaf(i) + leaf(i + 1)

def job(i):
    return middle(i)

jobs = [gevent.spawn(job, i) for i in range(50)]
gevent.joinall(jobs, timeout=60)
assert [j.value for j in jobs] == [2 * i + 1 for i in range(50)]
"""


def _check_jobs(traced):
    records = [r for r in traced.events() if r["qualname"] in ("job", "middle", "leaf")]
    check_nesting(records)
    by_greenlet = defaultdict(list)
    for r in records:
        by_greenlet[r["greenlet"]].append((r["event"][0], r["qualname"]))
    expected = [("c", "job"), ("c", "middle"), ("c", "leaf"), ("r", "leaf"), ("c", "leaf"),
                ("r", "leaf"), ("r", "middle"), ("r", "job")]
    assert len(by_greenlet) == 50
    assert all(seq == expected for seq in by_greenlet.values())


def test_set_tracing_before_patch_all(tmp_path, backend):
    """Tracing started before monkey.patch_all(): 50 patched-sleep greenlets each nest."""
    traced = run_traced(tmp_path, PATCH + WORKLOAD, backend=backend, setup=ONLY_MAIN,
                        tracing_args="filter=only_main")
    _check_jobs(traced)


def test_set_tracing_after_patch_all(tmp_path, backend):
    """Tracing started after monkey.patch_all(): the same records."""
    traced = run_traced(tmp_path, WORKLOAD, backend=backend, setup=PATCH + ONLY_MAIN,
                        tracing_args="filter=only_main")
    _check_jobs(traced)


def test_patched_threads_are_greenlets_of_the_main_thread(tmp_path, backend):
    """After patch_all, threading.Thread runs as greenlets: one tid, one greenlet each."""
    traced = run_traced(tmp_path, """
        import threading
        def work(n):
            return n
        threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    """, backend=backend, setup=PATCH + ONLY_MAIN, tracing_args="filter=only_main")
    calls = [r for r in traced.events("call") if r["qualname"] == "work"]
    assert len(calls) == 3 and len({r["tid"] for r in calls}) == 1
    assert len({r["greenlet"] for r in calls}) == 3


def test_blocking_overflow_is_lossless_under_gevent(tmp_path):
    """overflow="block" with the smallest ring under gevent: every record arrives (the
    drain is a native thread monkey-patching does not turn into a greenlet)."""
    traced = run_traced(tmp_path, """
        import gevent
        def tick(i):
            return i
        def job():
            for i in range(5000):
                tick(i)
                if i % 1000 == 0:
                    gevent.sleep(0)
        gevent.joinall([gevent.spawn(job) for _ in range(4)], timeout=60)
    """, setup=PATCH + ONLY_MAIN,
        tracing_args="filter=only_main, overflow='block', buffer_size=64 * 1024")
    assert sum(1 for r in traced.events("call") if r["qualname"] == "tick") == 20000
    assert not traced.events("lost")


@pytest.fixture
def traced_server(tmp_path):
    """The example app under `python -m infi_tracing run`, configured by the environment only."""
    with ExampleServer(tmp_path, {}, signals=False) as server:
        yield server.proc, server.port, server.trace


def test_example_server_traces_concurrent_requests_per_greenlet(traced_server):
    """Ten concurrent requests to the traced example server: each request's call chain
    nests in its own greenlet, and every request is there."""
    proc, port, trace = traced_server
    bodies = {}

    def fetch(n):
        url = "http://127.0.0.1:%d/users/alice?n=%d" % (port, n)
        with urllib.request.urlopen(url, timeout=20) as response:
            bodies[n] = response.read()

    clients = [threading.Thread(target=fetch, args=(n,)) for n in range(10)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=30)
    assert len(bodies) == 10
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    records = [json.loads(x) for x in trace.read_text().splitlines()]
    requests = [r for r in records if r["event"] == "call" and r["qualname"] == "app"]
    assert len(requests) == 10 and len({r["greenlet"] for r in requests}) == 10
    check_nesting([r for r in records if r["event"] in ("call", "return")])
    chain = [r["qualname"] for r in records
             if r["event"] == "call" and r["greenlet"] == requests[0]["greenlet"]]
    assert chain == ["app", "route", "handle_user", "load_user", "render"]


def test_python_sink_uses_unpatched_sockets_from_the_drain_thread(tmp_path):
    """Under monkey.patch_all() a Python sink sends over an original (blocking) socket."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    script = tmp_path / "sink_socket.py"
    script.write_text('''
from gevent import monkey
monkey.patch_all()
import json, socket, gevent, infi_tracing
from infi_tracing.sinks import original
assert original("socket", "socket") is not socket.socket   # gevent's is patched in

class SocketSink:
    def __init__(self, port):
        self.sock = original("socket", "socket")()
        self.sock.connect(("127.0.0.1", port))
    def write(self, batch):
        names = [r["qualname"] for r in batch if r["event"] == "call"]
        self.sock.sendall((json.dumps(names) + "\\n").encode())
    def flush(self):
        pass
    def close(self):
        self.sock.close()

infi_tracing.set_sinks([SocketSink(%d)])
def job():
    gevent.sleep(0)
infi_tracing.set_tracing(lambda frame: frame.f_globals.get("__name__") == "__main__")
gevent.joinall([gevent.spawn(job) for _ in range(3)])
infi_tracing.unset_tracing()
''' % server.getsockname()[1])
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        server.settimeout(30)
        conn, _ = server.accept()
        conn.settimeout(30)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.close()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        server.close()
    assert proc.returncode == 0, err
    names = [n for line in data.decode().splitlines() for n in json.loads(line)]
    assert names.count("job") == 3
