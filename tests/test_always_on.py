"""The README's "Always-on in production" set-up, end to end: the example gevent server
with a flight recorder and a thin syslog stream to a real rsyslogd at once."""

import signal
import threading

import pytest

from helpers import ExampleServer, decode_binary, run_cli, wait_for
from syslog_daemons import rsyslogd_fixture  # noqa: F401

pytestmark = pytest.mark.native  # make test-asan runs these

REQUESTS = 12


def _fetch_concurrently(server, count):
    """`count` requests at once, each in its own client thread; their bodies."""
    bodies = []
    clients = [threading.Thread(target=lambda n=n: bodies.append(server.get("/users/alice?n=%d" % n)))
               for n in range(count)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=30)
    return bodies


def test_gevent_server_keeps_the_past_and_ships_only_slow_calls(tmp_path, rsyslogd):
    """A snapshot on SIGUSR1 holds every call of every request; rsyslogd got only the
    calls of 1 ms or more (load_user sleeps 1 ms) with their ancestors and the
    `omitted` counts of the fast ones (render)."""
    snapshot = tmp_path / "snap-1.itr"
    env = {"INFI_TRACING_SINKS": "syslog+tcp://127.0.0.1:%d?min_duration=1ms" % rsyslogd.tcp_port,
           "INFI_TRACING_FLIGHT_RECORDER": "30s,16M,path=%s" % (tmp_path / "snap-{seq}.itr"),
           "INFI_TRACING_SIGNALS": "dump=USR1"}
    with ExampleServer(tmp_path, env, signals=False) as server:
        assert len(_fetch_concurrently(server, REQUESTS)) == REQUESTS
        server.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "written to %s" % snapshot in server.stderr(), "the snapshot")
        server.stop()
    kept = decode_binary(snapshot, tmp_path)
    kept_calls = [r["qualname"] for r in kept if r["event"] == "call"]
    for name in ("app", "route", "handle_user", "load_user", "render"):
        assert kept_calls.count(name) == REQUESTS, name
    shipped = [m["msg"] for m in rsyslogd.messages(expected=8 * REQUESTS)]
    calls = [m.split(" > __main__.")[1].split("(")[0] for m in shipped if " > __main__." in m]
    assert calls.count("load_user") == REQUESTS and calls.count("app") == REQUESTS
    assert any(" - omitted " in m for m in shipped)
    assert calls.count("render") < REQUESTS // 2  # fast: left out (unless the machine stalled it)
    report = run_cli(tmp_path, "report", snapshot)
    assert report.returncode == 0 and "__main__.render" in report.stdout, report.stderr
