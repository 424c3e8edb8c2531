"""The real syslog daemons of syslog_daemons.py receive hand-built RFC 5424 messages intact."""

import os
import socket
from datetime import datetime

import pytest

import syslog_daemons
from syslog_daemons import Rsyslogd, SyslogNg, rsyslogd_fixture, syslog_ng_fixture  # noqa: F401

TEXT = 'grüße ✓ 日本語 🐍 "quoted" \\ back\tslash'
SD = '[exampleSDID@32473 iut="3" eventSource="Application"]'


def build(msg=TEXT, pri=165, host="host.example", app="app-name", procid="4242",
          msgid="ID47", sd=SD, ts="2024-05-06T07:08:09.123456Z"):
    """An RFC 5424 message (bytes)."""
    return ("<%d>1 %s %s %s %s %s %s %s" % (pri, ts, host, app, procid, msgid, sd, msg)).encode()


def octet(message):
    """RFC 6587 octet-counting frame."""
    return b"%d %s" % (len(message), message)


def send_tcp(port, data):
    """Send bytes over one TCP connection to 127.0.0.1:port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)


def send_udp(port, message):
    """Send one UDP datagram to 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message, ("127.0.0.1", port))


def send_unix_dgram(path, message):
    """Send one unix datagram to path."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message, path)


def instant(timestamp):
    """An RFC 3339 timestamp as an aware datetime (Python 3.10 does not read "Z")."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def assert_fields(record, msg=TEXT, pri=165, host="host.example", app="app-name",
                  procid="4242", msgid="ID47", sd=SD):
    """The record holds the fields build() was given."""
    assert (record["pri"], record["facility"], record["severity"]) == (pri, pri // 8, pri % 8)
    assert (record["hostname"], record["app-name"], record["procid"], record["msgid"]) == (
        host, app, procid, msgid)
    assert record["structured-data"] == sd
    assert record["msg"] == msg
    assert instant(record["timestamp"]) == instant("2024-05-06T07:08:09.123456Z")


@pytest.fixture(params=["rsyslogd", "syslog_ng"])
def daemon(request):
    """Each daemon, started in tmp_path."""
    return request.getfixturevalue(request.param)


def test_tcp_octet_counted_message_arrives_intact(daemon):
    """A TCP octet-counted message keeps every field, UTF-8 text included."""
    send_tcp(daemon.tcp_port, octet(build()))
    [record] = daemon.messages(1)
    assert_fields(record)
    assert record["raw"] == build().decode()


def test_udp_message_arrives_intact(daemon):
    """A UDP datagram keeps every field."""
    send_udp(daemon.udp_port, build(pri=14))
    [record] = daemon.messages(1)
    assert_fields(record, pri=14)


def test_unix_datagram_arrives_intact(daemon):
    """A unix datagram keeps its fields (syslog-ng appends [meta sequenceId=...])."""
    send_unix_dgram(daemon.unix_path, build(pri=13, procid="7"))
    [record] = daemon.messages(1)
    assert record["structured-data"].startswith(SD)
    record["structured-data"] = SD
    assert_fields(record, pri=13, procid="7")


def test_nil_fields_read_as_dash(daemon):
    """Nil procid, msgid and structured data are "-" from both daemons."""
    send_tcp(daemon.tcp_port, octet(build(procid="-", msgid="-", sd="-", msg="nil")))
    [record] = daemon.messages(1)
    assert (record["procid"], record["msgid"], record["structured-data"]) == ("-", "-", "-")


def test_bom_is_not_part_of_msg(daemon):
    """A leading UTF-8 BOM is dropped from "msg" and kept in "raw"."""
    send_tcp(daemon.tcp_port, octet(build(msg="\ufeffwith bom")))
    [record] = daemon.messages(1)
    assert record["msg"] == "with bom"
    assert record["raw"].endswith("\ufeffwith bom")


def test_many_messages_on_one_connection_arrive_in_order(daemon):
    """300 octet-counted messages in one TCP write all arrive, in order."""
    send_tcp(daemon.tcp_port, b"".join(octet(build(msg="n=%d" % i)) for i in range(300)))
    records = daemon.messages(300)
    assert [r["msg"] for r in records] == ["n=%d" % i for i in range(300)]


def test_kill_and_restart_listen_on_the_same_ports(daemon):
    """After SIGKILL, restart() serves the same TCP port and keeps earlier output."""
    port = daemon.tcp_port
    send_tcp(port, octet(build(msg="before")))
    assert len(daemon.messages(1)) == 1
    daemon.kill()
    with pytest.raises(OSError):
        send_tcp(port, octet(build(msg="while down")))
    daemon.restart()
    assert daemon.tcp_port == port
    send_tcp(port, octet(build(msg="after")))
    assert [r["msg"] for r in daemon.messages(2)] == ["before", "after"]


def test_stop_leaves_no_process(daemon):
    """stop() ends the daemon process."""
    pid = daemon.proc.pid
    daemon.stop()
    assert not daemon.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_rsyslogd_tcp_lf_framed(rsyslogd):
    """rsyslogd's imtcp also takes LF-framed messages, after an octet-counted one."""
    send_tcp(rsyslogd.tcp_port, octet(build(msg="first")) + build(msg="second") + b"\n")
    assert [r["msg"] for r in rsyslogd.messages(2)] == ["first", "second"]
    assert [r["input"] for r in rsyslogd.messages()] == ["imtcp", "imtcp"]


def test_rsyslogd_octet_counted_keeps_newlines(rsyslogd):
    """An octet-counted message keeps its embedded newline (no #012 escape)."""
    send_tcp(rsyslogd.tcp_port, octet(build(msg="line 1\nline 2")))
    assert rsyslogd.messages(1)[0]["msg"] == "line 1\nline 2"


def test_rsyslogd_unix_stream_takes_both_framings(rsyslogd):
    """imptcp on unix_stream_path takes octet-counted and LF-framed messages."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(rsyslogd.unix_stream_path)
        sock.sendall(octet(build(msg="octet")) + build(msg="lf") + b"\n")
    records = rsyslogd.messages(2)
    assert [(r["msg"], r["input"]) for r in records] == [("octet", "imptcp"), ("lf", "imptcp")]
    assert_fields(records[0], msg="octet")


def test_context_manager_starts_and_stops(tmp_path):
    """`with Rsyslogd(...)` / `with SyslogNg(...)` runs the daemon only inside the block."""
    for cls in (Rsyslogd, SyslogNg):
        syslog_daemons.require(cls)
        with cls(tmp_path / cls.name) as daemon:
            assert daemon.running()
        assert not daemon.running()


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception),
                                         ("", pytest.skip.Exception)])
def test_missing_daemon_fails_under_ci_else_skips(monkeypatch, ci, outcome):
    """A missing daemon fails the test when CI=true and skips it otherwise."""
    monkeypatch.setattr(syslog_daemons, "find_syslog_ng", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="make syslog-daemons"):
        syslog_daemons.require(SyslogNg)
