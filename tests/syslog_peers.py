"""Minimal in-test syslog receivers on 127.0.0.1 / unix sockets (threads).

They parse RFC 6587 octet counting or LF framing over TCP and unix stream
sockets, and take datagrams as they come.  The real daemons are in
syslog_daemons.py; these exist to look at the bytes on the wire.
"""

import re
import socket
import threading
import time

__all__ = ["StreamPeer", "DatagramPeer", "RFC5424", "parse_5424"]

RFC5424 = re.compile(r"^<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) "
                     r"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|\[.*?\]) (?P<msg>.*)$", re.S)


def parse_5424(message):
    """The fields of an RFC 5424 message (dict), or None."""
    m = RFC5424.match(message)
    if not m:
        return None
    fields = m.groupdict()
    pri = int(fields["pri"])
    fields["facility"], fields["severity"] = divmod(pri, 8)
    return fields


class StreamPeer:
    """TCP (or unix stream) receiver splitting messages by the given framing."""

    def __init__(self, framing="octet", unix_path=None, port=0):
        self.framing = framing
        self.messages = []
        self.raw = bytearray()
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
        self.port = None if unix_path else self.sock.getsockname()[1]
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._readers = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            reader = threading.Thread(target=self._read, args=(conn,), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _read(self, conn):
        """One connection (several may be open at once: a parent and its child)."""
        conn.settimeout(0.2)
        buf = bytearray()
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self.raw += data
            buf += data
            self._split(buf)
        conn.close()

    def _split(self, buf):
        while True:
            if self.framing == "octet":
                space = buf.find(b" ")
                if space < 0:
                    return
                length = int(buf[:space])
                if len(buf) < space + 1 + length:
                    return
                self.messages.append(buf[space + 1:space + 1 + length].decode("utf-8"))
                del buf[:space + 1 + length]
            else:
                nl = buf.find(b"\n")
                if nl < 0:
                    return
                self.messages.append(buf[:nl].decode("utf-8"))
                del buf[:nl + 1]

    def wait(self, count, timeout=10.0, where=None):
        """The messages, once at least `count` arrived (of those `where` accepts,
        if given); the wait is bounded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [m for m in self.messages if where is None or where(m)]
            if len(seen) >= count:
                break
            time.sleep(0.01)
        return list(self.messages)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for reader in self._readers:
            reader.join(5)
        self.sock.close()


class DatagramPeer:
    """UDP (or unix datagram) receiver: one message per datagram."""

    def __init__(self, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(unix_path)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.settimeout(0.2)
        self.datagrams = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(70000))
            except (TimeoutError, OSError):
                continue

    def wait(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.datagrams) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return [d.decode("utf-8") for d in self.datagrams]

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
