"""A small gevent WSGI service, run the way a gunicorn gevent worker runs one.

Every request goes through a short call chain (app -> route -> handle_user ->
load_user -> render), with a cooperative sleep in the middle so concurrent
requests interleave on their greenlets.  Nothing here knows about tracing:
it is switched on from the outside (see README.md).

    python app.py --port 8080                        # plain
    python -m infi_tracing run app.py --port 8080    # traced, settings from INFI_TRACING_*
    gunicorn -k gevent -c gunicorn.conf.py app:app   # under gunicorn (optional)
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent asks
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

USERS = {"alice": {"name": "Alice", "visits": 3}, "bob": {"name": "Bob", "visits": 7}}


def load_user(user_id):
    gevent.sleep(0.001)  # a database round trip: other requests run meanwhile
    return USERS.get(user_id)


def render(user):
    return json.dumps(user).encode()


def handle_user(user_id):
    user = load_user(user_id)
    if user is None:
        return "404 Not Found", b'{"error": "no such user"}'
    return "200 OK", render(user)


def route(path, query):
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "users":
        return handle_user(parts[1])
    if parts == ["busy"]:
        seconds = float(parse_qs(query).get("seconds", ["0.2"])[0])
        return "200 OK", str(spin(min(seconds, 10.0))).encode()
    return "200 OK", b'{"status": "ok"}'


def spin(seconds):
    """CPU work that never yields to other greenlets (signals still arrive)."""
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
    return rounds


def app(environ, start_response):
    status, body = route(environ["PATH_INFO"], environ.get("QUERY_STRING", ""))
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--port-file", help="write the port here once listening")
    args = parser.parse_args(argv)
    server = WSGIServer((args.host, args.port), app, log=None)
    server.start()
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_port))
        os.replace(args.port_file + ".tmp", args.port_file)
    gevent.signal_handler(signal.SIGTERM, server.stop)  # a clean exit: atexit runs
    gevent.signal_handler(signal.SIGINT, server.stop)
    print("serving on http://%s:%d" % (args.host, server.server_port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
