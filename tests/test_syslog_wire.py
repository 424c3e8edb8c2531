"""What the syslog sink puts on the wire, read by small in-test receivers."""

import os
import time

import pytest

from helpers import FORKED_CHILD, finish, run_traced_program, start_program, traced_source
from syslog_peers import DatagramPeer, StreamPeer, parse_5424
from syslog_phases import wait_file

pytestmark = pytest.mark.native  # make test-asan runs these

PROGRAM = """
def naïve(text, n):
    return n * 2
for i in range({calls}):
    naïve("line one\\nline two ✓", i)
"""


# how PROGRAM is traced: with values, and the sink's stats printed at the end
TRACING = {"tracing_args": "level=infi_tracing.TRACE_FUNC_PRIMITIVES",
           "end": 'print(infi_tracing.tracing_stats()["sinks"][0])'}


def _run(tmp_path, configure, calls=3, env=None):
    return run_traced_program(tmp_path, PROGRAM.format(calls=calls), sinks=configure, env=env,
                              **TRACING)


def _ours(messages):
    return [m for m in map(parse_5424, messages) if m and "naïve" in m["msg"]]


@pytest.fixture
def tcp_peer():
    peer = StreamPeer("octet")
    yield peer
    peer.close()


def test_tcp_octet_counting_carries_every_field(tmp_path, tcp_peer):
    """RFC 5424 over TCP with octet counting: PRI, host, app, procid, msgid and UTF-8 text."""
    proc = _run(tmp_path, "infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d?"
                "facility=local3&severity=notice&hostname=tracehost&app_name=myapp'])"
                % tcp_peer.port)
    msgs = _ours(tcp_peer.wait(6))
    assert len(msgs) == 6
    call = msgs[0]
    assert (call["facility"], call["severity"]) == (19, 5)
    assert (call["host"], call["app"], call["msgid"]) == ("tracehost", "myapp", "call")
    assert call["procid"].isdigit() and int(call["procid"]) != os.getpid()
    assert "> __main__.naïve(text='line one\\nline two ✓', n=0)" in call["msg"]
    assert msgs[1]["msgid"] == "return" and "-> 0" in msgs[1]["msg"]
    assert "'records': 6" in proc.stdout and "'lost': 0" in proc.stdout


def test_tcp_lf_framing_keeps_one_message_per_line(tmp_path):
    """LF framing: one message per line, no raw LF inside a message."""
    peer = StreamPeer("lf")
    try:
        _run(tmp_path, "infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d?framing=lf'])"
             % peer.port)
        msgs = _ours(peer.wait(6))
    finally:
        peer.close()
    assert len(msgs) == 6 and all("\n" not in m["msg"] for m in msgs)


def test_rfc3164_on_request(tmp_path, tcp_peer):
    """rfc=3164 writes the BSD format: <PRI>Mmm dd hh:mm:ss host app[pid]: msg."""
    _run(tmp_path, "infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d?rfc=3164&"
         "hostname=h1&app_name=a1'])" % tcp_peer.port)
    msgs = [m for m in tcp_peer.wait(6) if "naïve" in m]
    assert len(msgs) == 6
    assert msgs[0].startswith("<14>") and " h1 a1[" in msgs[0] and "]: " in msgs[0]


def test_udp_one_record_per_datagram_truncated_with_a_mark(tmp_path):
    """UDP: a datagram per record; long ones are cut at max_size with a visible mark."""
    peer = DatagramPeer()
    try:
        _run(tmp_path, "infi_tracing.configure_sinks(['syslog+udp://127.0.0.1:%d?max_size=200'])"
             % peer.port, calls=2)
        datagrams = [d for d in peer.wait(4) if "naïve" in d]
    finally:
        peer.close()
    assert len(datagrams) == 4
    assert all(len(d.encode()) <= 200 for d in datagrams)
    assert any(d.endswith("...[truncated]") for d in datagrams)


@pytest.mark.parametrize("transport", ["udp", "unix"])
def test_datagram_transports_send_every_record_of_a_long_run(tmp_path, transport):
    """UDP and unix datagrams: 3,000 calls' 6,000 records all sent, none lost, none pending."""
    path = str(tmp_path / "log.sock")
    peer = DatagramPeer(unix_path=path if transport == "unix" else None)
    url = ("syslog+udp://127.0.0.1:%d" % peer.port if transport == "udp"
           else "syslog+unix://%s?socktype=dgram" % path)
    try:
        proc = _run(tmp_path, "infi_tracing.configure_sinks(['%s'])" % url, calls=3000)
        got = peer.wait(6000)
    finally:
        peer.close()
    stats = eval(proc.stdout.strip().splitlines()[-1])
    assert (stats["records"], stats["lost"], stats["pending"]) == (6000, 0, 0), stats
    if transport == "unix":  # a unix datagram socket loses nothing: the sender waits for room
        assert len([m for m in got if "naïve" in m]) == 6000


@pytest.mark.parametrize("socktype", ["dgram", "stream"])
def test_unix_sockets(tmp_path, socktype):
    """syslog+unix sends to a unix datagram or stream socket."""
    path = str(tmp_path / "log.sock")
    peer = DatagramPeer(unix_path=path) if socktype == "dgram" else StreamPeer("octet", path)
    try:
        _run(tmp_path, "infi_tracing.configure_sinks(['syslog+unix://%s?socktype=%s'])"
             % (path, socktype))
        got = peer.wait(6)
    finally:
        peer.close()
    assert len([m for m in got if "naïve" in m]) == 6


def test_seed_signature_with_tcp_address(tmp_path, tcp_peer):
    """tracing_output_to_syslog(address=(host, port), ...) keeps the seed's signature."""
    _run(tmp_path, "infi_tracing.tracing_output_to_syslog(facility='local0', address=('localhost',"
         " %d), host_name='h2', application_name='seed', process_id=4242, rfc5424=True)"
         % tcp_peer.port)
    msgs = _ours(tcp_peer.wait(6))
    assert len(msgs) == 6
    assert (msgs[0]["facility"], msgs[0]["host"], msgs[0]["app"], msgs[0]["procid"]) == \
        (16, "h2", "seed", "4242")


def test_procid_is_the_childs_pid_after_fork(tmp_path, tcp_peer):
    """A forked child's messages carry the child's pid."""
    proc = run_traced_program(tmp_path, FORKED_CHILD, tracing_args="overflow='block'",
                              sinks="infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d'])"
                              % tcp_peer.port, setup="def in_child():\n    pass", end="print(pid)")
    child = proc.stdout.split()[-1]
    tcp_peer.wait(2, where=lambda m: "in_child" in m)
    msgs = [m for m in map(parse_5424, tcp_peer.messages) if m and "in_child" in m["msg"]]
    assert msgs and all(m["procid"] == child for m in msgs)


def test_refused_connection_spools_until_the_server_comes_up(tmp_path):
    """With no server at first, records spool and arrive once it listens: nothing lost."""
    probe = StreamPeer("octet")
    port = probe.port
    probe.close()  # the port is now refused
    child = start_program(tmp_path, traced_source(
        PROGRAM.format(calls=50) + 'open("produced", "w").close()',
        sinks="infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%d?flush_timeout=20'])"
        % port, **TRACING))
    try:
        wait_file(tmp_path / "produced", timeout=30)
        time.sleep(0.3)  # a few refused connection attempts
        peer = StreamPeer("octet", port=port)
        try:
            returncode, out, err = finish(child)
            msgs = _ours(peer.wait(100))
        finally:
            peer.close()
    finally:
        child.kill()
    assert returncode == 0, err
    assert len(msgs) == 100
    assert "'lost': 0" in out and "'reconnects': 0" in out
