"""The wsgi workload's HTTP client: a plain (no gevent), one-thread ``selectors`` loop.

``python _http_client.py PORT CONNECTIONS REQUESTS WARMUP``, started by the traced server
process (``_workload_code.run_wsgi``): prints "timed" when the timed requests start, then one JSON
line with the requests, elapsed seconds, requests per second and its own CPU use (or "error").
"""

import json
import sys
import time

__all__ = ["REQUEST", "IN_FLIGHT", "client_phase", "client"]

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


if __name__ == "__main__":
    client(*(int(a) for a in sys.argv[1:5]))
