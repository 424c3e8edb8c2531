"""Real syslog daemons (rsyslogd, syslog-ng) for the tests, on 127.0.0.1 high ports.

Each daemon runs in the foreground as a child of the test process, with every
file (config, pid, state, sockets, output) inside its work directory, and
writes each received message as one JSON object per line.  messages() gives
them back as dicts with the keys in KEYS (rsyslog adds "input": imtcp,
imudp, imuxsock or imptcp).  Normalised across the two daemons: a nil field
("-" in RFC 5424, "" from syslog-ng) is "-", and "msg" has no leading BOM
("raw" is the message as received, BOM and all).

`make syslog-daemons` (.ci/install-syslog-daemons) installs syslog-ng-core
and extracts rsyslog into .venv/daemons/rsyslog (the Debian packages conflict).

Fixtures "rsyslogd" and "syslog_ng": import rsyslogd_fixture and syslog_ng_fixture
into the test module (other names than the fixtures', so ruff sees no F811).
"""

import atexit
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import tool_unavailable

REPO = Path(__file__).resolve().parent.parent
RSYSLOG_DIR = REPO / ".venv" / "daemons" / "rsyslog"
INSTALL_COMMAND = "make syslog-daemons  (as root; it runs .ci/install-syslog-daemons)"
KEYS = ("pri", "facility", "severity", "timestamp", "hostname", "app-name", "procid", "msgid",
        "structured-data", "msg", "raw")
NIL_FIELDS = ("hostname", "app-name", "procid", "msgid", "structured-data")
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
_SETPRIV = shutil.which("setpriv", path=_SEARCH_PATH)  # util-linux
# With setpriv the daemon gets SIGKILL when the test process dies, however it dies.
_PREFIX = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []
_RUNNING = set()


def find_rsyslogd():
    """(rsyslogd path, module dir or None for its built-in one), or None if absent.

    The copy extracted into .venv/daemons/rsyslog comes first, then the system's.
    """
    local = RSYSLOG_DIR / "usr" / "sbin" / "rsyslogd"
    if os.access(local, os.X_OK):
        modules = sorted(RSYSLOG_DIR.glob("usr/lib/*/rsyslog/imtcp.so"))
        return str(local), str(modules[0].parent) if modules else None
    system = shutil.which("rsyslogd", path=_SEARCH_PATH)
    return (system, None) if system else None


def find_syslog_ng():
    """The syslog-ng executable's path, or None if absent."""
    return shutil.which("syslog-ng", path=_SEARCH_PATH)


def _free_port(kind):
    """A port on 127.0.0.1 free right now for `kind` (SOCK_STREAM or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(tcp_port, udp_port):
    """Whether 127.0.0.1:tcp_port accepts connections and udp_port is bound (/proc/net/udp)."""
    try:
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=0.5):
            pass
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except FileNotFoundError:  # no /proc: cannot tell for UDP
        return True
    except OSError:
        return False
    return any(line.split()[1].endswith(":%04X" % udp_port) for line in lines)


class _Daemon:
    """Common process handling; subclasses give config() and command() (the argv)."""

    name = "daemon"

    def __init__(self, workdir):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tcp_port = _free_port(socket.SOCK_STREAM)
        self.udp_port = _free_port(socket.SOCK_DGRAM)
        self.unix_path = str(self.workdir / "dgram.sock")
        if len(self.unix_path.encode()) > 100:
            raise ValueError("work directory too long for a unix socket path: %s" % self.workdir)
        self.output_path = self.workdir / "messages.jsonl"
        self.conf_path = self.workdir / (self.name + ".conf")
        self.pid_path = self.workdir / (self.name + ".pid")
        self.log_path = self.workdir / (self.name + ".log")  # the daemon's stdout and stderr
        self.stale_files = [self.pid_path, Path(self.unix_path)]  # a killed daemon's leftovers
        self.proc = None

    def running(self):
        """Whether the daemon process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10):
        """Start the daemon and wait (bounded) until its listeners are up."""
        if self.running():
            return self
        for path in self.stale_files:
            path.unlink(missing_ok=True)
        self.conf_path.write_text(self.config(), encoding="utf-8")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(_PREFIX + self.command(), cwd=self.workdir,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while not (_listening(self.tcp_port, self.udp_port) and os.path.exists(self.unix_path)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError("%s did not come up (exit code %s); %s:\n%s"
                                   % (self.name, self.proc.returncode, self.log_path, log))
            time.sleep(0.02)
        return self

    def stop(self, timeout=10):
        """SIGTERM, wait (bounded), then SIGKILL if it is still there."""
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        """SIGKILL, as a crash would: whatever the daemon had not written is lost."""
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        _RUNNING.discard(self)

    def restart(self, timeout=10):
        """Stop if running, then start again on the same ports and paths."""
        self.stop()
        return self.start(timeout)

    def messages(self, expected=None, timeout=10):
        """The messages written so far (list of dicts, see KEYS).

        With `expected`, poll until at least that many are there or `timeout`
        seconds passed, and return what there is.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self._read()
            if expected is None or len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def _read(self):
        """Parse the complete lines of the output file."""
        try:
            data = self.output_path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for line in data.split(b"\n")[:-1]:  # the last piece is "" or a line still being written
            record = json.loads(line.decode("utf-8", errors="replace"))
            for key in NIL_FIELDS:
                if record.get(key) == "":
                    record[key] = "-"
            record["msg"] = record.get("msg", "").removeprefix("\ufeff")
            records.append(record)
        return records

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


_RSYSLOG_FIELDS = [("pri", "pri", ' datatype="number"'),
                   ("facility", "syslogfacility", ' datatype="number"'),
                   ("severity", "syslogseverity", ' datatype="number"'),
                   ("timestamp", "timereported", ' dateFormat="rfc3339"'),
                   ("hostname", "hostname", ""), ("app-name", "app-name", ""),
                   ("procid", "procid", ""), ("msgid", "msgid", ""),
                   ("structured-data", "structured-data", ""), ("msg", "msg", ""),
                   ("raw", "rawmsg", ""), ("input", "inputname", "")]


class Rsyslogd(_Daemon):
    """rsyslogd -n: imtcp (octet-counted and LF framing), imudp, imuxsock on `unix_path`
    (datagrams) and imptcp on `unix_stream_path` (octet-counted and LF framing).

    Control characters are kept as received (no #012 escapes).  A message over 64 KiB
    is truncated, and over TCP the rest of its frame arrives as a further message.
    Modules come from `-M module_dir` (the extracted copy); errors go to `log_path`.
    """

    name = "rsyslogd"

    def __init__(self, workdir):
        found = find_rsyslogd()
        if not found:
            raise FileNotFoundError("rsyslogd is not installed; run: " + INSTALL_COMMAND)
        self.executable, self.module_dir = found
        super().__init__(workdir)
        self.unix_stream_path = str(self.workdir / "stream.sock")
        self.stale_files.append(Path(self.unix_stream_path))
        (self.workdir / "state").mkdir(exist_ok=True)

    def command(self):
        argv = [self.executable, "-n", "-f", str(self.conf_path), "-i", str(self.pid_path)]
        return argv + (["-M", self.module_dir] if self.module_dir else [])

    def config(self):
        fields = "\n".join('  property(outname="%s" name="%s" format="jsonf"%s)' % field
                           for field in _RSYSLOG_FIELDS)
        return f"""\
global(workDirectory="{self.workdir}/state" maxMessageSize="64k" net.enableDNS="off"
       parser.escapeControlCharactersOnReceive="off")
module(load="imtcp") module(load="imudp") module(load="imptcp")
module(load="imuxsock" SysSock.Use="off")
template(name="json5424" type="list" option.jsonf="on") {{
{fields}
}}
ruleset(name="tests") {{
  action(type="omfile" file="{self.output_path}" template="json5424"
         flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="tests")
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="tests")
input(type="imuxsock" socket="{self.unix_path}" ruleset="tests" useSpecialParser="off"
      parseHostname="on" ignoreTimestamp="off" useSysTimeStamp="off" rateLimit.interval="0")
input(type="imptcp" path="{self.unix_stream_path}" unlink="on" ruleset="tests")
"""


class SyslogNg(_Daemon):
    """syslog-ng -F: syslog() sources on TCP (octet counting only: an LF-framed message
    ends the connection) and UDP, and unix-dgram on `unix_path`.

    syslog-ng writes timestamps with 6 fractional digits ("Z" becomes "+00:00"), adds
    [meta sequenceId="N"] to the structured data of unix-dgram messages and drops a
    message over 64 KiB.
    """

    name = "syslog-ng"
    unix_stream_path = None

    def __init__(self, workdir):
        self.executable = find_syslog_ng()
        if not self.executable:
            raise FileNotFoundError("syslog-ng is not installed; run: " + INSTALL_COMMAND)
        super().__init__(workdir)
        self.persist_path = self.workdir / "syslog-ng.persist"
        self.control_path = self.workdir / "syslog-ng.ctl"
        self.stale_files.append(self.control_path)

    def command(self):
        argv = [self.executable, "-F", "-f", str(self.conf_path),
                "--persist-file", str(self.persist_path), "--pidfile", str(self.pid_path),
                "--control", str(self.control_path)]
        return argv + ([] if os.geteuid() == 0 else ["--no-caps"])

    def config(self):
        fields = ("pri=int64($PRI) facility=int64($FACILITY_NUM) severity=int64($LEVEL_NUM)"
                  " timestamp=$ISODATE hostname=$HOST app-name=$PROGRAM procid=$PID"
                  " msgid=$MSGID structured-data=$SDATA msg=$MSG raw=$RAWMSG")
        return f"""\
@version: current
options {{
  chain-hostnames(no); keep-hostname(yes); keep-timestamp(yes); use-dns(no); dns-cache(no);
  use-fqdn(no); log-msg-size(65536); frac-digits(6); stats-freq(0); mark-freq(0);
  log-fifo-size(10000);
}};
source s_tests {{
  syslog(ip("127.0.0.1") port({self.tcp_port}) transport("tcp") max-connections(100)
         log-iw-size(10000) flags(store-raw-message));
  syslog(ip("127.0.0.1") port({self.udp_port}) transport("udp") flags(store-raw-message));
  unix-dgram("{self.unix_path}" flags(syslog-protocol, store-raw-message));
}};
destination d_tests {{
  file("{self.output_path}" template("$(format-json --scope none {fields})\\n"));
}};
log {{ source(s_tests); destination(d_tests); }};
"""


@atexit.register
def _kill_leftovers():
    """Safety net: no daemon outlives the test process."""
    for daemon in list(_RUNNING):
        daemon.kill()


def require(cls):
    """Fail (under CI=true) or skip the test unless `cls`'s daemon is installed."""
    if (find_rsyslogd() if cls is Rsyslogd else find_syslog_ng()):
        return
    tool_unavailable("%s is not installed; run: %s" % (cls.name, INSTALL_COMMAND))


def running(cls, workdir):
    """Generator for a fixture: a started `cls` in `workdir`, stopped afterwards."""
    require(cls)
    with cls(workdir) as daemon:
        yield daemon


@pytest.fixture(name="rsyslogd")
def rsyslogd_fixture(tmp_path):
    """A started Rsyslogd in tmp_path/rsyslogd."""
    yield from running(Rsyslogd, tmp_path / "rsyslogd")


@pytest.fixture(name="syslog_ng")
def syslog_ng_fixture(tmp_path):
    """A started SyslogNg in tmp_path/syslog-ng."""
    yield from running(SyslogNg, tmp_path / "syslog-ng")
