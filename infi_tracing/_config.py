"""Sink specifications: URLs, dicts and the INFI_TRACING_SINKS variable."""

import json
import os
from urllib.parse import parse_qsl, unquote, urlsplit

from infi_tracing._plugins import known_schemes, plugin_manager
from infi_tracing._retention import parse_retention

__all__ = ["SinkSpec", "parse_sink_spec", "sinks_from_specs", "sink_objects",
           "check_sink_object", "specs_from_environment", "ENVIRONMENT_VARIABLE",
           "PID_FIELD"]

ENVIRONMENT_VARIABLE = "INFI_TRACING_SINKS"
_BARE_WORDS = ("stdout", "stderr")
PID_FIELD = "{pid}"  # in a sink's path: the id of the process that opens it
_SINK_METHODS = ("write", "flush", "close")


class SinkSpec:
    """One parsed sink specification, handed to plugins.

    ``scheme``, ``host``, ``port`` (int or None), ``path`` and the options
    (query parameters, or the other keys of a dict).  Plugins read options
    with ``option()``; any option nobody read is an error.
    """

    def __init__(self, scheme, host=None, port=None, path="", options=None, source=None):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.options = dict(options or {})
        self.source = source if source is not None else scheme
        self._read = set()

    def option(self, name, default=None, convert=None, choices=None):
        """An option's value (converted), or `default`; ValueError names a bad one."""
        self._read.add(name)
        if name not in self.options:
            return default
        value = self.options[name]
        if choices is not None and value not in choices:
            raise ValueError("sink %s: option %s must be one of %s, got %r"
                             % (self.source, name, ", ".join(map(str, choices)), value))
        if convert is not None:
            try:
                return convert(value)
            except (TypeError, ValueError) as exc:
                raise ValueError("sink %s: bad value %r for option %s: %s"
                                 % (self.source, value, name, exc)) from None
        return value

    def require_path(self):
        """The path ({pid} in it replaced by this process's id), or ValueError
        when the spec has none."""
        if not self.path:
            raise ValueError("sink %s: a path is required (e.g. %s:///var/log/app.trace)"
                             % (self.source, self.scheme))
        return self.path.replace(PID_FIELD, str(os.getpid()))

    def require_host_port(self):
        """(host, port), or ValueError naming what is missing."""
        if not self.host:
            raise ValueError("sink %s: a host is required (e.g. %s://127.0.0.1:514)"
                             % (self.source, self.scheme))
        if self.port is None:
            raise ValueError("sink %s: a port is required (e.g. %s://%s:514)"
                             % (self.source, self.scheme, self.host))
        return self.host, self.port

    def unread_options(self):
        """Options no plugin asked for."""
        return sorted(set(self.options) - self._read)

    def __repr__(self):
        return "SinkSpec(%r)" % (self.source,)


def _port(text, source):
    try:
        port = int(text)
    except (TypeError, ValueError):
        raise ValueError("sink %s: bad port %r (expected 1-65535)" % (source, text)) from None
    if not 0 < port < 65536:
        raise ValueError("sink %s: bad port %d (expected 1-65535)" % (source, port))
    return port


def _from_url(url):
    if url in _BARE_WORDS:
        return SinkSpec(url, source=url)
    word, question, query = url.partition("?")
    if question and word in _BARE_WORDS:  # "stdout?format=jsonl" is "stdout:?format=jsonl"
        spec = _from_url("%s:?%s" % (word, query))
        spec.source = url
        return spec
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ValueError("sink %s: cannot parse it: %s" % (url, exc)) from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError("sink %s: bad port %r (expected 1-65535)"
                         % (url, parts.netloc.rpartition(":")[2])) from None
    if not parts.scheme:
        raise ValueError("sink %r has no scheme (expected e.g. stderr, file:///path, "
                         "syslog+tcp://host:port)" % (url,))
    if parts.fragment:
        raise ValueError("sink %s: unexpected fragment #%s" % (url, parts.fragment))
    options = {}
    for key, value in pairs:
        if key in options:
            raise ValueError("sink %s: option %s given twice" % (url, key))
        options[key] = value
    if port is not None and port == 0:
        raise ValueError("sink %s: bad port 0 (expected 1-65535)" % (url,))
    host = parts.hostname
    path = unquote(parts.path)
    if host and parts.scheme in ("file", "perfetto", "perfetto+proto", "binary"):
        raise ValueError("sink %s: a %s path must be local (file:///abs/path or file:rel/path), "
                         "not on host %r" % (url, parts.scheme, host))
    return SinkSpec(parts.scheme.lower(), host, port, path, options, source=url)


def _from_dict(item):
    if "type" not in item:
        raise ValueError("sink %r: a dict needs a 'type' key (e.g. {'type': 'file', "
                         "'path': ...})" % (item,))
    fields = dict(item)
    kind = fields.pop("type")
    if not isinstance(kind, str):
        raise ValueError("sink %r: type must be a string" % (item,))
    host = fields.pop("host", None)
    port = fields.pop("port", None)
    source = "%s(dict)" % kind
    if port is not None:
        port = _port(port, source)
    path = fields.pop("path", "")
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError("sink %s: path must be a string, got %r" % (source, path))
    return SinkSpec(kind.lower(), host, port, os.fspath(path), fields, source=source)


def parse_sink_spec(item):
    """A SinkSpec from a URL string or a dict with a 'type' key."""
    if isinstance(item, str):
        return _from_url(item.strip())
    if isinstance(item, dict):
        return _from_dict(item)
    raise ValueError("a sink is a URL string, a dict with a 'type' or an object with write(), "
                     "flush() and close(), got %r" % (item,))


def check_sink_object(sink):
    """`sink` itself, or ValueError naming the method it lacks."""
    for method in _SINK_METHODS:
        if not callable(getattr(sink, method, None)):
            raise ValueError("sink %r has no %s() method (a sink is a URL string, a dict with "
                             "a 'type' or an object with write(), flush() and close())"
                             % (sink, method))
    return sink


def sink_objects(items):
    """Sink objects for a list mixing sink objects, URL strings and dicts (or
    one URL or dict alone).  Every item is checked before any sink is built;
    ValueError names the bad item."""
    if isinstance(items, (str, dict)):
        items = [items]
    items = list(items)
    specs = [parse_sink_spec(item) if isinstance(item, (str, dict)) else check_sink_object(item)
             for item in items]
    built = _build([spec for spec in specs if isinstance(spec, SinkSpec)])
    _open(built)
    built = iter(built)
    return [next(built) if isinstance(spec, SinkSpec) else spec for spec in specs]


def sinks_from_specs(items):
    """Build sink objects through the plugins (sink objects in the list are
    kept as they are); ValueError names the bad spec."""
    sinks = sink_objects(items)
    if not sinks:
        raise ValueError("no sinks given")
    return sinks


def _build(specs):
    """A sink per spec, through the plugins; all or nothing: when a spec is
    bad, the sinks built for the others are closed (built-in ones opened no
    file yet: see _open)."""
    manager = plugin_manager()
    sinks = []
    try:
        for spec in specs:
            retention = _retention_of(spec)
            sink = manager.hook.infi_tracing_make_sink(spec=spec)
            if sink is not None:
                sinks.append(sink)
            _check_built(spec, sink)
            if retention is not None:
                sink.retention = retention
    except BaseException:
        _discard(sinks)
        raise
    return sinks


def _retention_of(spec):
    """The slow-call retention options any sink takes (min_duration,
    keep_slow, max_held: infi_tracing/_retention.py), read before the
    plugin so that they are never "unknown"."""
    return parse_retention(spec.option("min_duration"), spec.option("keep_slow"),
                           spec.option("max_held"), source="sink %s" % spec.source)


def _check_built(spec, sink):
    """ValueError when no plugin took `spec`, or left one of its options unread."""
    if sink is None:
        raise ValueError("sink %s: unknown scheme %r (known: %s)"
                         % (spec.source, spec.scheme, ", ".join(known_schemes())))
    unread = spec.unread_options()
    if unread:
        raise ValueError("sink %s: unknown option%s %s" % (
            spec.source, "s" if len(unread) > 1 else "", ", ".join(unread)))


def _open(built):
    """Open the files of the sinks just built that open lazily (an ``open()``
    method: the built-in file sinks), now that every spec is valid; when one
    cannot be opened, close them all again."""
    try:
        for sink in built:
            opener = getattr(sink, "open", None)
            if callable(opener):
                opener()
    except BaseException:
        _discard(built)
        raise


def _discard(sinks):
    """Close sinks that will never be used and empty the list, so that
    nothing holds them: a native sink's descriptor is closed when its
    handle is freed."""
    for sink in sinks:
        try:
            sink.close()
        except Exception:  # the configuration error is what the caller must see
            pass
    sinks.clear()


def specs_from_environment(environ=None):
    """The sink list in INFI_TRACING_SINKS: a JSON list, or URLs separated by
    whitespace or ';'.  None when the variable is unset or empty."""
    text = (environ if environ is not None else os.environ).get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ValueError("%s is not valid JSON: %s" % (ENVIRONMENT_VARIABLE, exc)) from None
        if not isinstance(items, list):
            raise ValueError("%s must hold a JSON list" % ENVIRONMENT_VARIABLE)
        return items
    return [part for part in text.replace(";", " ").split() if part]
