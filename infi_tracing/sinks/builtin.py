"""The built-in sinks as a plugin, registered through the ``infi_tracing.sinks``
entry point exactly like third-party plugins.

| scheme | sink | options |
|---|---|---|
| stdout, stderr | native text stream | format=text|jsonl, detail=values|name |
| file | native file (path) | format, detail, follow_symlinks=no|yes |
| syslog+tcp, syslog+udp | native syslog (host:port) | see SYSLOG_OPTIONS |
| syslog+unix | native syslog (socket path) | socktype=dgram|stream, see SYSLOG_OPTIONS |
| perfetto | Chrome/Perfetto trace JSON (path) | follow_symlinks |
| perfetto+proto | Perfetto protobuf trace, native (path) | follow_symlinks |
| binary | binary trace file (path) | follow_symlinks |

Files are created 0600 and a symbolic link at the path is followed only when
it is this user's or root's, or with follow_symlinks=yes (sinks/files.py).
"""

from infi_tracing.hookspecs import hookimpl
from infi_tracing.sinks.binary import BinaryFileSink
from infi_tracing.sinks.stream import FORMATS, FileSink, StderrSink, StdoutSink
from infi_tracing.sinks.syslog import SyslogSink

__all__ = ["infi_tracing_sink_schemes", "infi_tracing_make_sink", "SCHEMES"]

SCHEMES = ("stdout", "stderr", "file", "syslog+tcp", "syslog+udp", "syslog+unix", "perfetto",
           "perfetto+proto", "binary")
DETAILS = ("values", "name")


def _values(spec):
    return spec.option("detail", "values", choices=DETAILS) == "values"


def _follow(spec):
    return spec.option("follow_symlinks", "no", choices=("no", "yes")) == "yes"


def _syslog(spec, address, transport):
    return SyslogSink(
        address, transport=transport,
        facility=spec.option("facility", "user"),
        severity=spec.option("severity", "info"),
        rfc5424=spec.option("rfc", "5424", choices=("5424", "3164")) == "5424",
        framing=spec.option("framing", "octet", choices=("octet", "lf")),
        hostname=spec.option("hostname"),
        app_name=spec.option("app_name"),
        procid=spec.option("procid", None, int),
        msgid=spec.option("msgid"),
        max_datagram=spec.option("max_size", 2048, int),
        spool_size=spec.option("spool_size", 4 * 1024 * 1024, int),
        flush_timeout=spec.option("flush_timeout", 5.0, float),
        values=_values(spec))


def _checked(spec, factory):
    """Sink constructors raise ValueError without the spec: add it."""
    try:
        return factory()
    except ValueError as exc:
        if spec.source in str(exc):
            raise
        raise ValueError("sink %s: %s" % (spec.source, exc)) from None


@hookimpl
def infi_tracing_sink_schemes():
    """The built-in schemes."""
    return list(SCHEMES)


@hookimpl
def infi_tracing_make_sink(spec):
    """Build a built-in sink, or None for another plugin's scheme.  Files are
    opened later, by the sink's open(), once every spec was found valid."""
    scheme = spec.scheme
    if scheme in ("stdout", "stderr"):
        if spec.host or spec.path:
            raise ValueError("sink %s: %s takes no host or path" % (spec.source, scheme))
        fmt = spec.option("format", "text", choices=FORMATS)
        cls = StdoutSink if scheme == "stdout" else StderrSink
        return _checked(spec, lambda: cls(fmt, values=_values(spec)))
    if scheme == "file":
        fmt = spec.option("format", "text", choices=FORMATS)
        return _checked(spec, lambda: FileSink(spec.require_path(), fmt, values=_values(spec),
                                               open_now=False, follow_symlinks=_follow(spec)))
    if scheme in ("syslog+tcp", "syslog+udp"):
        address = spec.require_host_port()
        return _checked(spec, lambda: _syslog(spec, address, scheme.partition("+")[2]))
    if scheme == "syslog+unix":
        if spec.host:
            raise ValueError("sink %s: syslog+unix takes a socket path, not a host "
                             "(syslog+unix:///dev/log)" % spec.source)
        socktype = spec.option("socktype", "dgram", choices=("dgram", "stream"))
        return _checked(spec, lambda: _syslog(spec, spec.path or None, "unix-" + socktype))
    if scheme == "perfetto":
        from infi_tracing.sinks.perfetto import PerfettoSink
        return _checked(spec, lambda: PerfettoSink(spec.require_path(), open_now=False,
                                                   follow_symlinks=_follow(spec)))
    if scheme == "perfetto+proto":
        from infi_tracing.sinks.pftrace import PerfettoProtoSink
        return _checked(spec, lambda: PerfettoProtoSink(spec.require_path(), open_now=False,
                                                        follow_symlinks=_follow(spec)))
    if scheme == "binary":
        return _checked(spec, lambda: BinaryFileSink(spec.require_path(), open_now=False,
                                                     follow_symlinks=_follow(spec)))
    return None
