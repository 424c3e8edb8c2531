"""A real rsyslogd for the benchmarks, on 127.0.0.1 high ports in a temporary directory.

It is the tests' daemon (``tests/syslog_daemons.py``: the copy ``make syslog-daemons`` extracts
into ``.venv/daemons/rsyslog``, or the system's), with one change for benchmarking: every message
is written as its MSGID alone (``call``, ``return``...), one short line, so millions of
messages cost little disk and ``received()`` can count them.  rsyslogd still receives, frames and
parses every message as it would in production.  ``start(workdir, tls=True)`` adds a TLS
listener on ``tls_port`` (the gtls driver, with the tests' throwaway CA in ``workdir/pki``).
"""

import os
import sys

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from syslog_tls import RsyslogdTls, make_pki  # noqa: E402

from syslog_daemons import INSTALL_COMMAND, Rsyslogd, find_rsyslogd  # noqa: E402

__all__ = ["BenchRsyslogd", "BenchRsyslogdTls", "missing_message", "start", "ca_file"]


class BenchRsyslogd(Rsyslogd):
    """rsyslogd with imtcp, imudp and imuxsock (as in the tests) writing one MSGID per line."""

    name = "rsyslogd"

    def config(self):
        """The tests' inputs, a one-field output template."""
        return f"""\
global(workDirectory="{self.workdir}/state" maxMessageSize="64k" net.enableDNS="off")
module(load="imtcp") module(load="imudp")
module(load="imuxsock" SysSock.Use="off")
template(name="msgid_only" type="string" string="%msgid%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{self.output_path}" template="msgid_only" asyncWriting="off")
}}
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="bench")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="bench")
input(type="imuxsock" socket="{self.unix_path}" ruleset="bench" rateLimit.interval="0")
"""

    def received(self):
        """Messages written out so far (lines of the output file)."""
        try:
            fh = open(self.output_path, "rb")
        except FileNotFoundError:
            return 0
        count = 0
        with fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += chunk.count(b"\n")
        return count


class BenchRsyslogdTls(RsyslogdTls, BenchRsyslogd):
    """BenchRsyslogd with the tests' TLS input (RsyslogdTls) on tls_port."""

    ruleset = "bench"


def ca_file(workdir):
    """The CA file a TLS client of start(workdir, tls=True)'s daemon trusts."""
    return os.path.join(workdir, "pki", "ca.pem")


def missing_message():
    """None when rsyslogd is installed, else what to run to install it."""
    if find_rsyslogd():
        return None
    return ("rsyslogd is not installed (looked in .venv/daemons/rsyslog and on PATH, /usr/sbin); "
            "install it with: " + INSTALL_COMMAND)


def start(workdir, tls=False):
    """A started BenchRsyslogd in ``workdir`` (with ``tls``, a BenchRsyslogdTls and its PKI);
    SystemExit with the install command if absent."""
    problem = missing_message()
    if problem:
        raise SystemExit(problem)
    if tls:
        from pathlib import Path
        pki = make_pki(Path(os.path.dirname(ca_file(workdir))))
        return BenchRsyslogdTls(workdir, pki).start()
    return BenchRsyslogd(workdir).start()
