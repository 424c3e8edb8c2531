"""The tracer's syslog sink against real rsyslogd and syslog-ng."""


import pytest
from syslog_checks import OPTIONS, check_fields, ours, traced

from syslog_daemons import rsyslogd_fixture, syslog_ng_fixture  # noqa: F401
from syslog_phases import restart_mid_stream


@pytest.mark.parametrize("framing", ["octet", "lf"])
def test_rsyslog_tcp_framings_carry_every_field(tmp_path, rsyslogd, framing):
    """rsyslogd parses octet counting and LF framing; UTF-8 names, long and
    multi-line arguments arrive intact."""
    traced(tmp_path, "syslog+tcp://127.0.0.1:%d?%s&framing=%s"
            % (rsyslogd.tcp_port, OPTIONS, framing))
    check_fields(ours(rsyslogd.messages(2)))


def test_rsyslog_udp(tmp_path, rsyslogd):
    """rsyslogd receives the UDP datagrams intact."""
    traced(tmp_path, "syslog+udp://127.0.0.1:%d?%s" % (rsyslogd.udp_port, OPTIONS))
    check_fields(ours(rsyslogd.messages(2)))


def test_rsyslog_unix_datagram_and_stream(tmp_path, rsyslogd):
    """rsyslogd receives over its unix datagram and unix stream sockets."""
    traced(tmp_path, "syslog+unix://%s?%s" % (rsyslogd.unix_path, OPTIONS))
    traced(tmp_path, "syslog+unix://%s?socktype=stream&%s"
            % (rsyslogd.unix_stream_path, OPTIONS))
    messages = rsyslogd.messages(4)
    by_input = {m["input"] for m in ours(messages)}
    assert by_input == {"imuxsock", "imptcp"}
    assert len(ours(messages)) == 4


def test_syslog_ng_rfc5424_source_carries_every_field(tmp_path, syslog_ng):
    """syslog-ng's RFC 5424 syslog() source gets every field intact."""
    traced(tmp_path, "syslog+tcp://127.0.0.1:%d?%s" % (syslog_ng.tcp_port, OPTIONS))
    check_fields(ours(syslog_ng.messages(2)))


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
    proc = traced(tmp_path, "syslog+tcp://127.0.0.1:%d" % daemon.tcp_port, LOSSLESS,
                  tracing_args="overflow='block'",
                  end='print(infi_tracing.tracing_stats()["sinks"][0])')
    work = ours(daemon.messages(20000, timeout=30), name="__main__.work ")
    assert len(work) == 20000
    assert [m["msgid"] for m in work[:4]] == ["call", "return", "call", "return"]
    assert "'lost': 0" in proc.stdout and "'pending': 0" in proc.stdout


def test_rsyslog_killed_mid_stream_and_restarted(tmp_path, rsyslogd):
    """SIGKILL rsyslogd mid-stream, restart it on the same port: every record
    is either received or reported lost, exactly."""
    produced, received, reported, stats = restart_mid_stream(
        tmp_path, rsyslogd, "syslog+tcp://127.0.0.1:%d" % rsyslogd.tcp_port)
    assert stats["reconnects"] >= 1 and reported == stats["lost"]
    assert received + reported == produced
