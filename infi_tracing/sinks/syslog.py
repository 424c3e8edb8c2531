"""Native syslog sink: RFC 5424 (or 3164) over TCP, TLS, UDP or a unix socket.

The drain thread formats and sends without the GIL, never blocking the
traced program: a lost connection is retried with backoff while messages
spool in a bounded buffer; drops are counted and reported in the stream.
"""

import ipaddress
import os
import socket
import sys

from infi_tracing.native._core import SinkHandle

__all__ = ["SyslogSink", "FACILITIES", "SEVERITIES", "TRANSPORTS", "DEFAULT_SOCKET"]

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
    "solaris-cron": 15, **{"local%d" % i: 16 + i for i in range(8)},
}
SEVERITIES = {
    "emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "warn": 4,
    "notice": 5, "info": 6, "debug": 7,
}
TRANSPORTS = ("tcp", "tls", "udp", "unix-dgram", "unix-stream")
DEFAULT_SOCKET = "/dev/log"


def _number_or_name(value, table, what, top):
    if isinstance(value, bool):
        raise ValueError("%s must be a name or a number, got %r" % (what, value))
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        if 0 <= value <= top:
            return value
        raise ValueError("%s must be between 0 and %d, got %d" % (what, top, value))
    if isinstance(value, str) and value.lower() in table:
        return table[value.lower()]
    raise ValueError("unknown %s %r (expected one of %s or 0-%d)"
                     % (what, value, ", ".join(sorted(table)), top))


def _header_field(value, what, limit):
    """RFC 5424 header fields: 1..limit printable US-ASCII characters, no spaces."""
    if not isinstance(value, str) or not value or len(value) > limit or \
            any(not 33 <= ord(c) <= 126 for c in value):
        raise ValueError("%s must be 1 to %d printable ASCII characters without spaces, got %r"
                         % (what, limit, value))
    return value


def _sanitized(value, limit):
    text = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return text or "-"


def _resolve(host, port, transport):
    if not isinstance(host, str) or not host:
        raise ValueError("syslog host must be a non-empty string, got %r" % (host,))
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("syslog port must be an integer from 1 to 65535, got %r" % (port,))
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host.strip("[]"), port, type=kind)[0]
    except (OSError, UnicodeError) as exc:
        raise ValueError("cannot resolve syslog host %r: %s" % (host, exc)) from None
    return family, sockaddr[0]


def _readable(path, what):
    """A file option's path, checked now so a typo fails at configuration."""
    if path is None or path == "":
        return ""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError("%s must be a file path, got %r" % (what, path))
    path = os.fspath(path)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError("%s %r is not a readable file" % (what, path))
    return path


def _tls_options(host, tls, transport):
    """The TLS settings for the native handle (None unless transport is "tls")."""
    if transport != "tls":
        if tls is not None:
            raise ValueError("tls options need transport 'tls', got %r" % (transport,))
        return None
    tls = dict(tls or {})
    unknown = set(tls) - {"ca", "cert", "key", "verify", "servername"}
    if unknown:
        raise ValueError("unknown tls option(s) %s (expected ca, cert, key, verify, servername)"
                         % ", ".join(sorted(unknown)))
    verify = tls.get("verify", True)
    if not isinstance(verify, bool):
        raise ValueError("tls verify must be True or False, got %r" % (verify,))
    cert, key = _readable(tls.get("cert"), "tls cert"), _readable(tls.get("key"), "tls key")
    if key and not cert:
        raise ValueError("tls key needs a cert (the client certificate)")
    peer = tls.get("servername") or host.strip("[]")
    try:
        peer = peer.encode("idna").decode("ascii")  # a certificate names hosts in ASCII
    except (AttributeError, UnicodeError):
        peer = None
    if not peer or len(peer) > 253:
        raise ValueError("tls servername must be a host name, got %r"
                         % (tls.get("servername") or host,))
    try:
        ipaddress.ip_address(peer)
        peer_is_ip = True
    except ValueError:
        peer_is_ip = False
    return {"ca": _readable(tls.get("ca"), "tls ca"), "cert": cert, "key": key, "verify": verify,
            "peer": peer, "peer_is_ip": peer_is_ip}


class SyslogSink:
    """Records as syslog messages (one per record).

    ``address``: None for the local syslog socket (/dev/log), a path for a
    unix socket, or ``(host, port)`` for TCP (or UDP with transport="udp");
    hostnames and IPv6 addresses are accepted; transport="tls" is RFC 5425
    (octet-counted syslog over TLS), set up by ``tls``: a dict with ``ca``
    (CA file; default the system's store), ``cert`` and ``key`` (a client
    certificate), ``verify`` (default True: the server's certificate must be
    trusted and name the host, or ``servername``).  ``framing`` ("octet", RFC
    6587 octet counting, or "lf") applies to stream transports; UDP
    datagrams are cut at ``max_datagram`` bytes with a visible mark.
    ``msgid`` None uses the event name (call, return, exception, lost...).
    ``flush_timeout`` bounds how long unset_tracing() and exit wait for the
    server; ``values=False`` leaves arguments and return values out.
    """

    def __init__(self, address=None, *, transport=None, facility="user", severity="info",
                 rfc5424=True, framing="octet", hostname=None, app_name=None, procid=None,
                 msgid=None, max_datagram=2048, spool_size=4 * 1024 * 1024, flush_timeout=5.0,
                 values=True, tls=None):
        if address is None:
            address = DEFAULT_SOCKET
        if isinstance(address, (str, bytes, os.PathLike)):
            transport = transport or "unix-dgram"
            if transport not in ("unix-dgram", "unix-stream"):
                raise ValueError("a unix socket path needs transport 'unix-dgram' or "
                                 "'unix-stream', got %r" % (transport,))
            path, family, host, port = os.fsdecode(address), socket.AF_UNIX, "", 0
            if not path or len(os.fsencode(path)) > 107:
                raise ValueError("unix socket path must be 1 to 107 bytes, got %r" % (path,))
            where = "%s:%s" % (transport, path)
        elif isinstance(address, tuple) and len(address) == 2:
            transport = transport or "tcp"
            if transport not in ("tcp", "tls", "udp"):
                raise ValueError("a (host, port) address needs transport 'tcp', 'tls' or 'udp', "
                                 "got %r" % (transport,))
            family, host = _resolve(address[0], address[1], transport)
            port, path = address[1], ""
            where = "%s:%s:%d" % (transport, address[0], port)
        else:
            raise ValueError("address must be None, a unix socket path or (host, port), got %r"
                             % (address,))
        tls = _tls_options(address[0] if isinstance(address, tuple) else "", tls, transport)
        if framing not in ("octet", "lf"):
            raise ValueError("framing must be 'octet' or 'lf', got %r" % (framing,))
        if isinstance(max_datagram, bool) or not isinstance(max_datagram, int) or \
                not 64 <= max_datagram <= 65000:
            raise ValueError("max_datagram must be an int from 64 to 65000, got %r"
                             % (max_datagram,))
        if isinstance(spool_size, bool) or not isinstance(spool_size, int) or \
                not 64 * 1024 <= spool_size <= 1 << 30:
            raise ValueError("spool_size must be an int from 65536 to 2**30 bytes, got %r"
                             % (spool_size,))
        if isinstance(flush_timeout, bool) or not isinstance(flush_timeout, (int, float)) or \
                not 0 <= flush_timeout <= 600:
            raise ValueError("flush_timeout must be 0 to 600 seconds, got %r" % (flush_timeout,))
        if procid is not None:
            if isinstance(procid, str) and procid.isdigit():
                procid = int(procid)
            if isinstance(procid, bool) or not isinstance(procid, int) or procid <= 0:
                raise ValueError("procid must be a positive int or None, got %r" % (procid,))
        hostname = _header_field(hostname, "hostname", 255) if hostname is not None else \
            _sanitized(socket.gethostname(), 255)
        app_name = _header_field(app_name, "app_name", 48) if app_name is not None else \
            _sanitized(os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "python"),
                       48)
        msgid = _header_field(msgid, "msgid", 32) if msgid is not None else ""
        self.transport = transport
        self.name = "syslog:" + where
        self.handle = SinkHandle.syslog(
            transport, family, host, port, path, rfc5424=bool(rfc5424),
            octet_framing=framing == "octet", facility=_number_or_name(
                facility, FACILITIES, "facility", 23),
            severity=_number_or_name(severity, SEVERITIES, "severity", 7), hostname=hostname,
            app_name=app_name, procid=procid or 0, msgid=msgid, max_datagram=max_datagram,
            spool_size=spool_size, flush_timeout_ms=int(flush_timeout * 1000),
            values=bool(values), name=self.name, tls=tls)

    def write(self, batch):
        """Records are sent by the drain thread through the handle."""
        raise TypeError("SyslogSink is written natively by the drain thread")

    def flush(self):
        """The drain flushes the spool (bounded by flush_timeout)."""

    def close(self):
        """The socket is closed when the handle is released."""

    def __repr__(self):
        return "<SyslogSink %s>" % self.name
