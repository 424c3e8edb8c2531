"""Syslog over TLS for the tests: a throwaway PKI and the real daemons with TLS listeners.

make_pki() writes, with the openssl command, a CA, a server certificate for
127.0.0.1 and localhost, a client certificate, and a second ("rogue") CA with
its own server certificate for the same names: a server the client must not
trust.  Nothing is committed; every test makes its own.

RsyslogdTls (imtcp with the gnutls stream driver, lmnsd_gtls from Debian's
rsyslog-gnutls) and SyslogNgTls (a syslog() source with transport("tls"))
add a TLS listener on `tls_port` to the listeners of syslog_daemons.py.
`server` picks the certificate the daemon shows ("trusted" or "rogue");
`require_client_cert` makes it demand a client certificate signed by the CA.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from syslog_daemons import INSTALL_COMMAND, Rsyslogd, SyslogNg, _free_port, find_rsyslogd, require

__all__ = ["make_pki", "RsyslogdTls", "SyslogNgTls", "require_tls", "tls_url"]

_OPENSSL = shutil.which("openssl")
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(directory, *args):
    subprocess.run([_OPENSSL, *args], cwd=directory, check=True, capture_output=True,
                   timeout=60, stdin=subprocess.DEVNULL)


def _ca(directory, name):
    _openssl(directory, "req", "-x509", *_EC, "-keyout", name + ".key", "-out", name + ".pem",
             "-days", "2", "-subj", "/CN=%s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _leaf(directory, name, ca, usage, names="DNS:localhost,IP:127.0.0.1"):
    _openssl(directory, "req", *_EC, "-keyout", name + ".key", "-out", name + ".csr",
             "-subj", "/CN=%s" % name)
    (directory / (name + ".ext")).write_text(
        "subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n" % (names, usage))
    _openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
             "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
             "-extfile", name + ".ext")


def make_pki(directory):
    """Write the test PKI into `directory`; returns the file paths (str) by role."""
    directory.mkdir(parents=True, exist_ok=True)
    _ca(directory, "ca")
    _ca(directory, "rogue-ca")
    _leaf(directory, "server", "ca", "serverAuth")
    _leaf(directory, "rogue-server", "rogue-ca", "serverAuth")
    _leaf(directory, "client", "ca", "clientAuth")
    _leaf(directory, "elsewhere", "ca", "serverAuth", names="DNS:elsewhere.example")
    path = {name: str(directory / name) for name in (
        "ca.pem", "server.pem", "server.key", "rogue-server.pem", "rogue-server.key",
        "client.pem", "client.key", "elsewhere.pem", "elsewhere.key")}
    return SimpleNamespace(ca=path["ca.pem"], client_cert=path["client.pem"],
                           client_key=path["client.key"],
                           servers={"trusted": (path["server.pem"], path["server.key"]),
                                    "rogue": (path["rogue-server.pem"], path["rogue-server.key"]),
                                    "elsewhere": (path["elsewhere.pem"],
                                                  path["elsewhere.key"])})


def tls_url(daemon, pki, **options):
    """The syslog+tls URL of `daemon`, trusting the test CA, with extra query options."""
    query = "&".join(["ca=" + pki.ca] + ["%s=%s" % item for item in options.items()])
    return "syslog+tls://127.0.0.1:%d?%s" % (daemon.tls_port, query)


def require_tls(cls):
    """Fail (under CI=true) or skip unless `cls`'s daemon, its TLS driver and openssl are there."""
    base = Rsyslogd if issubclass(cls, Rsyslogd) else SyslogNg
    require(base)
    missing = [] if _OPENSSL else ["openssl"]
    if base is Rsyslogd:
        module_dir = find_rsyslogd()[1]
        drivers = (Path(module_dir).glob("lmnsd_gtls.so") if module_dir
                   else Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"))
        if not list(drivers):
            missing.append("rsyslog's TLS driver lmnsd_gtls (rsyslog-gnutls)")
    if missing:
        message = "%s not installed; run: %s" % (" and ".join(missing), INSTALL_COMMAND)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class _TlsListener:
    """Mixin: a TLS listener on tls_port; start() also waits until it accepts."""

    def __init__(self, workdir, pki, server="trusted", require_client_cert=False):
        super().__init__(workdir)
        self.pki = pki
        self.server_cert, self.server_key = pki.servers[server]
        self.require_client_cert = require_client_cert
        self.tls_port = _free_port(socket.SOCK_STREAM)

    def start(self, timeout=10):
        super().start(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline or not self.running():
                    self.kill()
                    raise RuntimeError("%s: no TLS listener on %d; %s:\n%s" % (
                        self.name, self.tls_port, self.log_path,
                        self.log_path.read_text(errors="replace")[-3000:])) from None
                time.sleep(0.02)


class RsyslogdTls(_TlsListener, Rsyslogd):
    """rsyslogd with an imtcp TLS input (gtls driver) on tls_port, into `ruleset`."""

    ruleset = "tests"

    def config(self):
        auth = "x509/certvalid" if self.require_client_cert else "anon"
        return super().config().replace(
            "global(", 'global(DefaultNetstreamDriverCAFile="%s"\n       ' % self.pki.ca, 1) + f"""\
input(type="imtcp" address="127.0.0.1" port="{self.tls_port}" ruleset="{self.ruleset}"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="{auth}"
      streamDriver.CAFile="{self.pki.ca}" streamDriver.CertFile="{self.server_cert}"
      streamDriver.KeyFile="{self.server_key}")
"""


class SyslogNgTls(_TlsListener, SyslogNg):
    """syslog-ng with a syslog() source over TLS (RFC 5425) on tls_port."""

    def config(self):
        verify = "required-trusted" if self.require_client_cert else "optional-untrusted"
        source = f"""\
  syslog(ip("127.0.0.1") port({self.tls_port}) transport("tls") max-connections(100)
         log-iw-size(10000) flags(store-raw-message)
         tls(key-file("{self.server_key}") cert-file("{self.server_cert}")
             ca-file("{self.pki.ca}") peer-verify({verify})));
"""
        return super().config().replace("source s_tests {\n", "source s_tests {\n" + source, 1)
