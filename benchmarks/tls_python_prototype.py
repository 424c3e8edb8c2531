"""Prototype of the syslog+tls design NOT chosen: Python's ssl (MemoryBIO + SSLObject) once per
batch, against the one chosen (OpenSSL called from C in the drain, ``it_tls.h``).

In that design the drain would format messages natively as now, then take the GIL once per
batch (up to 1,024 records, IT_BATCH_MAX) to run ``SSLObject.write(batch)`` and read the
ciphertext out of the outgoing MemoryBIO, then send it natively.  This prototype runs exactly
that per-batch work in a Python thread on pre-formatted, octet-framed RFC 5424 messages
(~130 bytes each, like the sink's), to ``openssl s_server`` (another process, so the peer
takes no GIL here):

* **alone**: nothing else wants the GIL -- the best case;
* **beside a busy thread**: a pure-Python loop (the traced program) runs meanwhile, as in
  production.  Every GIL hand-over then waits up to ``sys.getswitchinterval()`` (5 ms), and
  the busy thread loses the GIL for every batch.

Compare the records/s with ``make bench-drain`` (``--only syslog-tls-reader``), where the
native sink formats, encrypts and sends without the GIL.

Usage::

    python benchmarks/tls_python_prototype.py [--records N] [--batch 1024]
"""

import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _syslogd  # noqa: F401  (puts tests/ on sys.path)
from syslog_tls import make_pki

MESSAGE = (b"<134>1 2026-11-30T02:49:14.123456Z tracehost app 4242 call - "
           b"123456 g1 1 > __main__.f(a=12345, b='text') /srv/app/module.py:10")
FRAMED = b"%d %s" % (len(MESSAGE), MESSAGE)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(pki):
    """openssl s_server on a free port, discarding what it reads; (process, port).  Its
    standard input stays open: at end of input it would end the session."""
    port = _free_port()
    cert, key = pki.servers["trusted"]
    proc = subprocess.Popen([shutil.which("openssl"), "s_server", "-quiet", "-accept",
                             "127.0.0.1:%d" % port, "-cert", cert, "-key", key],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("openssl s_server did not come up")


def _connect(port, ca):
    """A handshaken SSLObject over a blocking socket to 127.0.0.1:port."""
    sock = socket.create_connection(("127.0.0.1", port))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context(cafile=ca).wrap_bio(incoming, outgoing,
                                                         server_hostname="127.0.0.1")
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    return sock, tls, outgoing


def send_batches(port, ca, records, batch):
    """Encrypt and send `records` messages, `batch` per SSLObject.write; seconds taken."""
    sock, tls, outgoing = _connect(port, ca)
    data = FRAMED * batch
    t0 = time.perf_counter()
    for _ in range(records // batch):
        tls.write(data)                  # the GIL is held: one batch's encryption
        sock.sendall(outgoing.read())    # native in the real design; the GIL is let go here
    elapsed = time.perf_counter() - t0
    sock.close()
    return elapsed


def busy(stop, counter):
    """The traced program's stand-in: pure-Python work, counted."""
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            n += 1
        counter[0] = n


def measure(port, ca, records, batch, with_busy):
    """records/s of the prototype, and the busy thread's loops/s beside it (or None)."""
    stop, counter = threading.Event(), [0]
    thread = threading.Thread(target=busy, args=(stop, counter)) if with_busy else None
    if thread:
        thread.start()
        time.sleep(0.2)
    start_count = counter[0]
    elapsed = send_batches(port, ca, records, batch)
    loops = counter[0] - start_count
    stop.set()
    if thread:
        thread.join()
    return records / elapsed, (loops / elapsed if thread else None)


def main(argv=None):
    """Run both cases and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tls_prototype_") as workdir:
        pki = make_pki(Path(workdir) / "pki")
        server, port = start_server(pki)
        try:
            stop, counter = threading.Event(), [0]
            thread = threading.Thread(target=busy, args=(stop, counter))
            thread.start()
            time.sleep(1.0)
            c0, t0 = counter[0], time.perf_counter()
            time.sleep(1.0)
            busy_alone = (counter[0] - c0) / (time.perf_counter() - t0)
            stop.set()
            thread.join()
            rows = []
            for name, flag in (("alone", False), ("beside a busy thread", True)):
                rows.append((name,) + measure(port, pki.ca, args.records, args.batch, flag))
                time.sleep(0.5)  # s_server serves one connection at a time
        finally:
            server.kill()
            server.wait()
    print("## tls_python_prototype: %s records of %d bytes, %d per batch, Python %s, %s"
          % (format(args.records, ","), len(FRAMED), args.batch, sys.version.split()[0],
             "OpenSSL " + ssl.OPENSSL_VERSION.split()[1]))
    print()
    print("| case | records/s | busy thread: increments/s (alone: %s) |" % format(
        int(busy_alone), ","))
    print("|---|---:|---:|")
    for name, rate, loops in rows:
        print("| %s | %s | %s |" % (name, format(int(rate), ","),
                                    "-" if loops is None else format(int(loops), ",")))
    print()
    print("switch interval %.1f ms; pid %d" % (sys.getswitchinterval() * 1000, os.getpid()))


if __name__ == "__main__":
    main()
