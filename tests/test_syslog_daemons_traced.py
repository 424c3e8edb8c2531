"""The tracer's syslog sink against real rsyslogd and syslog-ng."""

import time

import pytest

from helpers import finish, run_traced_program, start_program
from syslog_daemons import rsyslogd_fixture, syslog_ng_fixture  # noqa: F401
from syslog_phases import PHASED, lost_reported, wait_file

FIELDS = """
def naïve_函数(text, *values, **options):
    return len(values)
naïve_函数("first line\\nsecond line ✓", *range(20), flag=True, name="x" * 30)
"""


def _traced(tmp_path, sink, body=FIELDS,
            tracing_args="level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow='block'", **source):
    """Trace `body` into the one sink of URL `sink`."""
    return run_traced_program(tmp_path, body, sinks="infi_tracing.configure_sinks([%r])" % sink,
                              tracing_args=tracing_args, **source)


def _ours(messages, name="naïve_函数"):
    return [m for m in messages if name in m["msg"] and m["msgid"] in ("call", "return")]


def _check_fields(messages, child_pid=None):
    call, ret = messages
    assert (call["facility"], call["severity"]) == (17, 6)
    assert call["hostname"] == "tracehost" and call["app-name"] == "traced"
    assert call["procid"].isdigit() and call["msgid"] == "call" and ret["msgid"] == "return"
    assert "> __main__.naïve_函数(text='first line\\nsecond line ✓', " \
           "*values=(0, 1, 2, 3, 4, 5, 6, 7, ... <len=20>), " \
           "**options={'flag': True, 'name': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'})" in call["msg"]
    assert "< __main__.naïve_函数 -> 20" in ret["msg"]


OPTIONS = "facility=local1&hostname=tracehost&app_name=traced"


@pytest.mark.parametrize("framing", ["octet", "lf"])
def test_rsyslog_tcp_framings_carry_every_field(tmp_path, rsyslogd, framing):
    """rsyslogd parses octet counting and LF framing; UTF-8 names, long and
    multi-line arguments arrive intact."""
    _traced(tmp_path, "syslog+tcp://127.0.0.1:%d?%s&framing=%s"
            % (rsyslogd.tcp_port, OPTIONS, framing))
    _check_fields(_ours(rsyslogd.messages(2)))


def test_rsyslog_udp(tmp_path, rsyslogd):
    """rsyslogd receives the UDP datagrams intact."""
    _traced(tmp_path, "syslog+udp://127.0.0.1:%d?%s" % (rsyslogd.udp_port, OPTIONS))
    _check_fields(_ours(rsyslogd.messages(2)))


def test_rsyslog_unix_datagram_and_stream(tmp_path, rsyslogd):
    """rsyslogd receives over its unix datagram and unix stream sockets."""
    _traced(tmp_path, "syslog+unix://%s?%s" % (rsyslogd.unix_path, OPTIONS))
    _traced(tmp_path, "syslog+unix://%s?socktype=stream&%s"
            % (rsyslogd.unix_stream_path, OPTIONS))
    messages = rsyslogd.messages(4)
    by_input = {m["input"] for m in _ours(messages)}
    assert by_input == {"imuxsock", "imptcp"}
    assert len(_ours(messages)) == 4


def test_syslog_ng_rfc5424_source_carries_every_field(tmp_path, syslog_ng):
    """syslog-ng's RFC 5424 syslog() source gets every field intact."""
    _traced(tmp_path, "syslog+tcp://127.0.0.1:%d?%s" % (syslog_ng.tcp_port, OPTIONS))
    _check_fields(_ours(syslog_ng.messages(2)))


LOSSLESS = """
def work(i):
    return i
for i in range(10000):
    work(i)
"""


@pytest.mark.parametrize("daemon_name", ["rsyslogd", "syslog_ng"])
def test_ten_thousand_calls_arrive_complete(tmp_path, request, daemon_name):
    """A 10,000-call trace in lossless mode arrives complete, in order."""
    daemon = request.getfixturevalue(daemon_name)
    proc = _traced(tmp_path, "syslog+tcp://127.0.0.1:%d" % daemon.tcp_port, LOSSLESS,
                   tracing_args="overflow='block'",
                   end='print(infi_tracing.tracing_stats()["sinks"][0])')
    work = _ours(daemon.messages(20000, timeout=30), name="__main__.work ")
    assert len(work) == 20000
    assert [m["msgid"] for m in work[:4]] == ["call", "return", "call", "return"]
    assert "'lost': 0" in proc.stdout and "'pending': 0" in proc.stdout




def test_rsyslog_killed_mid_stream_and_restarted(tmp_path, rsyslogd):
    """SIGKILL rsyslogd mid-stream, restart it on the same port: every record
    is either received or reported lost, exactly."""
    n = 3000
    child = start_program(tmp_path, PHASED % {"port": rsyslogd.tcp_port, "n": n})
    try:
        wait_file(tmp_path / "A-done")
        rsyslogd.messages(2 * n)
        rsyslogd.kill()                       # the daemon dies
        (tmp_path / "go-A").touch()
        wait_file(tmp_path / "B-done")       # more records while it is down
        time.sleep(0.5)
        rsyslogd.start()                      # back on the same port
        (tmp_path / "go-B").touch()
        returncode, out, err = finish(child, timeout=120)
    finally:
        child.kill()
    assert returncode == 0, err
    stats = eval(out.strip().splitlines()[-1])
    messages = rsyslogd.messages(6 * n - stats["lost"], timeout=30)
    work = _ours(messages, name="__main__.work ")
    reported = lost_reported(m["msg"] for m in messages if m["msgid"] == "lost")
    print("rsyslogd killed mid-stream: %d produced, %d received, %d reported lost"
          % (6 * n, len(work), reported))
    assert stats["reconnects"] >= 1 and reported == stats["lost"]
    assert len(work) + reported == 6 * n
