"""syslog+tls (RFC 5425) against real rsyslogd (gnutls driver) and syslog-ng (TLS source),
with a CA and certificates each test session makes (syslog_tls.make_pki)."""

import pytest
from syslog_checks import OPTIONS, check_fields, ours, traced
from syslog_tls import RsyslogdTls, SyslogNgTls, make_pki, require_tls, tls_url

import infi_tracing

from helpers import run_traced_program
from syslog_phases import restart_mid_stream

pytestmark = pytest.mark.native  # make test-asan runs these: it_tls.h is C

DAEMONS = {"rsyslogd": RsyslogdTls, "syslog-ng": SyslogNgTls}


@pytest.fixture(name="pki", scope="module")
def pki_fixture(tmp_path_factory):
    """The test CA, server, rogue server and client certificates."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(name="start_daemon")
def start_daemon_fixture(tmp_path, pki):
    """start_daemon(name, **options): a TLS daemon started in tmp_path, stopped afterwards."""
    started = []

    def start(name, **options):
        cls = DAEMONS[name]
        require_tls(cls)
        daemon = cls(tmp_path / name, pki, **options).start()
        started.append(daemon)
        return daemon
    yield start
    for daemon in started:
        daemon.stop()


def _stats_of_untrusted_run(tmp_path, url):
    """Trace FIELDS to `url`, returning (the sink's stats, stderr)."""
    proc = traced(tmp_path, url + "&flush_timeout=1",
                  end='print(infi_tracing.tracing_stats()["sinks"][0])')
    return eval(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.parametrize("name", DAEMONS)
def test_records_arrive_intact_over_tls(tmp_path, pki, start_daemon, name):
    """Every header field and argument arrives intact through the TLS listener."""
    daemon = start_daemon(name)
    traced(tmp_path, tls_url(daemon, pki) + "&" + OPTIONS)
    check_fields(ours(daemon.messages(2)))


@pytest.mark.parametrize("name", DAEMONS)
def test_untrusted_server_receives_nothing_and_the_error_is_reported(tmp_path, pki,
                                                                     start_daemon, name):
    """A server whose certificate the CA did not sign gets no record; stderr says why
    once, and tracing_stats() counts the errors and names the cause."""
    daemon = start_daemon(name, server="rogue")
    stats, stderr = _stats_of_untrusted_run(tmp_path, tls_url(daemon, pki))
    lines = [line for line in stderr.splitlines() if "certificate verification failed" in line]
    assert len(lines) == 1, stderr
    assert "syslog:tls:127.0.0.1:%d" % daemon.tls_port in lines[0]
    assert stats["records"] == 0 and stats["lost"] + stats["pending"] == 2 and stats["errors"] >= 2
    assert "certificate verification failed" in stats["error"]
    assert daemon.messages() == []


def test_certificate_for_another_name_is_refused(tmp_path, pki, start_daemon):
    """A trusted CA's certificate that does not name 127.0.0.1 is refused (hostname check)."""
    daemon = start_daemon("rsyslogd", server="elsewhere")
    stats, stderr = _stats_of_untrusted_run(tmp_path, tls_url(daemon, pki))
    assert "mismatch" in stats["error"] and stats["records"] == 0, stderr
    assert daemon.messages() == []


def test_servername_names_the_certificate_to_expect(tmp_path, pki, start_daemon):
    """servername= is the name checked in the certificate instead of the URL's host."""
    daemon = start_daemon("rsyslogd", server="elsewhere")
    traced(tmp_path, tls_url(daemon, pki, servername="elsewhere.example") + "&" + OPTIONS)
    check_fields(ours(daemon.messages(2)))


def test_verify_no_sends_to_any_server(tmp_path, pki, start_daemon):
    """verify=no accepts a certificate no trusted CA signed."""
    daemon = start_daemon("syslog-ng", server="rogue")
    traced(tmp_path, tls_url(daemon, pki, verify="no") + "&" + OPTIONS)
    check_fields(ours(daemon.messages(2)))


@pytest.mark.parametrize("name", DAEMONS)
def test_client_certificate_for_a_daemon_requiring_one(tmp_path, pki, start_daemon, name):
    """cert= and key= give the client certificate a daemon set to require one checks."""
    daemon = start_daemon(name, require_client_cert=True)
    traced(tmp_path, tls_url(daemon, pki, cert=pki.client_cert, key=pki.client_key)
           + "&" + OPTIONS)
    check_fields(ours(daemon.messages(2)))


@pytest.mark.parametrize("name", DAEMONS)
def test_no_client_certificate_for_a_daemon_requiring_one(tmp_path, pki, start_daemon, name):
    """Without cert=, a daemon requiring a client certificate refuses the session after
    the TLS 1.3 handshake: no record is counted delivered, stderr says so once."""
    daemon = start_daemon(name, require_client_cert=True)
    stats, stderr = _stats_of_untrusted_run(tmp_path, tls_url(daemon, pki))
    lines = [line for line in stderr.splitlines() if line.startswith("infi_tracing: syslog:tls")]
    assert len(lines) == 1, stderr
    assert stats["records"] == 0 and stats["lost"] + stats["pending"] == 2 and stats["error"]
    assert daemon.messages() == []


@pytest.mark.parametrize("name", DAEMONS)
def test_server_killed_mid_stream_and_restarted(tmp_path, pki, start_daemon, name):
    """SIGKILL the daemon mid-stream and start it again: every record is received or
    reported lost, exactly, over a new TLS session."""
    daemon = start_daemon(name)
    produced, received, reported, stats = restart_mid_stream(tmp_path, daemon,
                                                             tls_url(daemon, pki))
    assert stats["reconnects"] >= 1 and reported == stats["lost"]
    assert received + reported == produced


@pytest.mark.parametrize("option, value, message", [
    ("ca", "missing.pem", "tls ca 'missing.pem' is not a readable file"),
    ("ca", "not-pem.txt", "ca file not-pem.txt cannot be used"),
    ("cert", "not-pem.txt", "cert file not-pem.txt cannot be used"),
    ("key", "not-pem.txt", "tls key needs a cert"),
    ("verify", "maybe", "option verify must be one of yes, no"),
])
def test_bad_tls_options_fail_at_configuration(tmp_path, monkeypatch, option, value, message):
    """A TLS file OpenSSL cannot use, or a bad option, is a ValueError naming it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-pem.txt").write_text("not a certificate\n")
    with pytest.raises(ValueError, match=message):
        infi_tracing.configure_sinks(["syslog+tls://127.0.0.1:6514?%s=%s" % (option, value)])


def test_traced_program_does_not_wait_for_a_server_that_never_answers(tmp_path):
    """A server that accepts and never answers the handshake: the program runs on,
    records are counted lost or pending, nothing is delivered."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        proc = run_traced_program(tmp_path, """
def work(i):
    return i
for i in range(1000):
    work(i)
""", sinks='infi_tracing.configure_sinks(["syslog+tls://127.0.0.1:%d?verify=no'
           '&flush_timeout=0.5"])' % silent.getsockname()[1],
            tracing_args="overflow='block'", end="""
sink = infi_tracing.tracing_stats()["sinks"][0]
print(sink["records"], sink["lost"] + sink["pending"])
""")
    finally:
        silent.close()
    assert proc.stdout.split() == ["0", "2000"]


FORKED = """
import os
def work(who):
    return who
work("parent-before")
pid = os.fork()
if pid == 0:
    work("child")
    infi_tracing.unset_tracing()
    os._exit(0)
os.waitpid(pid, 0)
work("parent-after")
"""


def test_forked_child_sends_over_its_own_session(tmp_path, pki, start_daemon):
    """A forked child drops the parent's TLS session and sends its records over its own."""
    daemon = start_daemon("syslog-ng")
    traced(tmp_path, tls_url(daemon, pki), FORKED)
    calls = [m for m in daemon.messages(6) if m["msgid"] == "call" and "work(" in m["msg"]]
    by_pid = {}
    for m in calls:
        by_pid.setdefault(m["procid"], []).append(m["msg"].split("who=")[1].split(")")[0])
    assert sorted(by_pid.values()) == [["'child'"], ["'parent-before'", "'parent-after'"]]
