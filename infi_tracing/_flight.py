"""The flight recorder: the recent past kept in memory, written on demand.

``set_tracing(flight_recorder="30s,64M")`` (or a FlightRecorder object, the
CLI's ``--flight-recorder``, INFI_TRACING_FLIGHT_RECORDER) keeps every
thread's records in memory, bounded by age and by bytes, instead of (or
beside) streaming them; ``dump_flight_recorder(path)`` writes the window as
a binary trace that ``decode``, ``replay``, ``report`` ... read.  The native
side is it_flight.h / it_flight_snap.h; the triggers (unhandled exceptions,
a signal, exit) are _flight_triggers.py.
"""

import itertools
import os
import re
import tempfile
import time

from infi_tracing import _flight_file
from infi_tracing.native import _core
from infi_tracing.sinks.files import open_trace_file

__all__ = ["FlightRecorder", "SlowRule", "parse_slow_rule", "with_slow_rules",
           "parse_flight_recorder", "check_flight_recorder", "with_changes",
           "dump_flight_recorder", "flight_recorder_stats", "DEFAULT_WINDOW", "DEFAULT_SIZE",
           "DEFAULT_PATH"]

DEFAULT_WINDOW = 30.0            # seconds
DEFAULT_SIZE = 64 << 20          # bytes
MIN_SIZE = 1 << 20
MAX_SIZE = 1 << 40
#: Where triggered snapshots go unless the spec says (``{pid}``, ``{time}``, ``{seq}``).
DEFAULT_PATH = os.path.join(tempfile.gettempdir(), "infi-tracing-{pid}-{time}-{seq}.itr")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_SIZE_UNITS = {"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$")
_SPEC_HELP = ("expected e.g. '30s,64M' (a window: ms, s, min or h; a size: K, M or G) and "
              "optionally at-exit, on-exception=no, dump-on-slow=FUNCTION>DURATION, "
              "path=TEMPLATE")


class FlightRecorder:
    """Flight-recorder settings.

    ``window``: seconds of the past a snapshot holds; ``size``: bytes the
    recorder may use in all (the window is shorter when they fill first);
    ``path``: where triggered snapshots go (``{pid}``, ``{time}`` and
    ``{seq}`` are filled in; default DEFAULT_PATH); ``at_exit``: a snapshot
    when the interpreter exits; ``on_exception``: a snapshot on an unhandled
    exception (``sys.excepthook``, ``threading.excepthook``, gevent's hub);
    ``dump_on_slow``: rules such as ``"myapp.handle>500ms"`` (a glob on
    module.qualname, a duration; a list, or one string with rules separated
    by spaces or ';'): a snapshot when a matching call takes that long, at
    most one per window.  ``file``: a path template (``{pid}`` is filled
    in) for the crash-survival file: the rings and the recorder live in a
    shared mapping of it, and ``python -m infi_tracing recover`` turns what
    a killed process left there into a trace; it is removed at a clean exit
    unless ``keep_file``.
    """

    __slots__ = ("window", "size", "path", "at_exit", "on_exception", "dump_on_slow", "file",
                 "keep_file")

    def __init__(self, window=DEFAULT_WINDOW, size=DEFAULT_SIZE, path=None, at_exit=False,
                 on_exception=True, dump_on_slow=(), file=None, keep_file=False):
        if isinstance(window, bool) or not isinstance(window, (int, float)) or \
                not 0 < window <= 86400 * 365:
            raise ValueError("flight_recorder: window must be seconds (> 0), got %r" % (window,))
        if isinstance(size, bool) or not isinstance(size, int) or \
                not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError("flight_recorder: size must be bytes between %d and %d, got %r"
                             % (MIN_SIZE, MAX_SIZE, size))
        if path is not None and (not isinstance(path, str) or not path):
            raise ValueError("flight_recorder: path must be a non-empty str, got %r" % (path,))
        if file is not None and (not isinstance(file, (str, bytes, os.PathLike)) or
                                 not os.fsdecode(file)):
            raise ValueError("flight_recorder: file must be a non-empty path, got %r" % (file,))
        self.file = None if file is None else os.fsdecode(file)
        self.keep_file = bool(keep_file)
        self.window = float(window)
        self.size = size
        self.path = path
        self.at_exit = bool(at_exit)
        self.on_exception = bool(on_exception)
        if isinstance(dump_on_slow, str):
            dump_on_slow = dump_on_slow.replace(";", " ").split()
        self.dump_on_slow = tuple(parse_slow_rule(rule, "flight_recorder: dump_on_slow")
                                  if isinstance(rule, str) else rule for rule in dump_on_slow)
        for rule in self.dump_on_slow:
            if not isinstance(rule, SlowRule):
                raise ValueError("flight_recorder: dump_on_slow must hold rules such as "
                                 "'myapp.handle>500ms', got %r" % (rule,))

    def _key(self):
        return (self.window, self.size, self.path, self.at_exit, self.on_exception,
                tuple(rule.text for rule in self.dump_on_slow), self.file, self.keep_file)

    def __eq__(self, other):
        return isinstance(other, FlightRecorder) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return ("FlightRecorder(window=%r, size=%r, path=%r, at_exit=%r, on_exception=%r, "
                "dump_on_slow=%r, file=%r, keep_file=%r)" % self._key())


class SlowRule:
    """A --dump-on-slow rule: calls of functions matching `glob` (on
    "module.qualname") that take at least `seconds`."""

    __slots__ = ("glob", "seconds", "text")

    def __init__(self, glob, seconds, text):
        self.glob, self.seconds, self.text = glob, seconds, text

    def __repr__(self):
        return "SlowRule(%r)" % self.text


def parse_slow_rule(text, source):
    """A SlowRule from ``GLOB>DURATION`` (``myapp.handle>500ms``); ValueError names `source`."""
    glob, gt, duration = str(text).strip().rpartition(">")
    found = _quantity(duration.strip(), source, text) if gt and glob.strip() else None
    if found is None or found[0] != "window" or found[1] <= 0:
        raise ValueError("%s: expected FUNCTION>DURATION (a glob on module.qualname and a "
                         "duration in ms, s, min or h, e.g. 'myapp.handle>500ms'), got %r"
                         % (source, text))
    return SlowRule(glob.strip(), found[1], str(text).strip())


def _quantity(word, source, text):
    match = _QUANTITY.match(word)
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    if match.group(2) == "m":  # M is mebibytes
        raise ValueError("%s: %r is ambiguous in %r: write 30min for minutes or 64M for "
                         "mebibytes" % (source, word, text))
    if unit in _DURATION_UNITS:
        return "window", number * _DURATION_UNITS[unit]
    if unit in _SIZE_UNITS:
        return "size", int(number * _SIZE_UNITS[unit])
    return None


def parse_flight_recorder(text, source="flight_recorder"):
    """A FlightRecorder from a spec such as ``30s,64M`` or
    ``10s,256M,at-exit,path=/var/tmp/app-{pid}-{seq}.itr`` (``path=`` takes
    the rest of the spec, commas included); ValueError names `source`."""
    fields = {}
    rest = str(text).strip()
    if "path=" in rest:
        rest, _, fields["path"] = rest.partition("path=")
        if not fields["path"]:
            raise ValueError("%s: path= needs a file path template in %r" % (source, text))
    for word in (w.strip() for w in rest.split(",")):
        if not word:
            continue
        low = word.lower()
        if low in ("at-exit", "at_exit"):
            fields["at_exit"] = True
            continue
        if low.replace("_", "-") in ("on-exception=no", "on-exception=off", "on-exception=0"):
            fields["on_exception"] = False
            continue
        if low.replace("_", "-") in ("on-exception", "on-exception=yes", "on-exception=on",
                                     "on-exception=1"):
            continue
        if low.replace("_", "-").startswith("dump-on-slow="):
            fields.setdefault("dump_on_slow", []).append(
                parse_slow_rule(word.partition("=")[2], source))
            continue
        found = _quantity(word, source, text)
        if found is None or found[0] in fields:
            raise ValueError("%s: %s %r in %r (%s)" % (
                source, "twice" if found else "cannot read", word, text, _SPEC_HELP))
        fields[found[0]] = found[1]
    try:
        return FlightRecorder(**fields)
    except ValueError as exc:
        raise ValueError("%s: %s (in %r)" % (source, str(exc).partition(": ")[2], text)) from None


def with_slow_rules(recorder, rules, source):
    """`recorder` with the slow-call `rules` (strings) added; ValueError
    naming `source` when there is no recorder or a rule is bad."""
    if recorder is None:
        raise ValueError("%s needs the flight recorder (--flight-recorder or %s)"
                         % (source, "INFI_TRACING_FLIGHT_RECORDER"))
    added = tuple(parse_slow_rule(rule, source) for rule in rules)
    return with_changes(recorder, dump_on_slow=recorder.dump_on_slow + added)


def with_changes(recorder, **changes):
    """A copy of `recorder` with the given settings changed."""
    fields = {name: getattr(recorder, name) for name in FlightRecorder.__slots__}
    fields.update(changes)
    return FlightRecorder(**fields)


def check_flight_recorder(value, source="flight_recorder"):
    """set_tracing()'s flight_recorder argument as a FlightRecorder, or None
    (None or False: no recorder; True: the defaults; a spec string)."""
    if value is None or value is False:
        return None
    if value is True:
        return FlightRecorder()
    if isinstance(value, FlightRecorder):
        return value
    if isinstance(value, str):
        return parse_flight_recorder(value, source)
    raise ValueError("%s must be a FlightRecorder, a spec string such as '30s,64M', True or "
                     "None, got %r" % (source, value))


_recorder = None   # the FlightRecorder in use
_handle = None     # its native sink handle
_seq = itertools.count(1)


def in_use():
    """The FlightRecorder in use, or None."""
    return _recorder


def handles():
    """The recorder's sink handle, as a list to append to the sinks' ones."""
    return [_handle] if _handle is not None else []


def use(recorder, ring_bytes=8 << 20):
    """Make `recorder` (a FlightRecorder or None) the one in use (rings of
    `ring_bytes`).  Returns True when the sink list must change (the same
    settings keep the recorder and what it holds)."""
    global _recorder, _handle
    if recorder == _recorder:
        return False
    if recorder is not None and recorder.file is not None:
        _flight_file.open_file(recorder.file, ring_bytes, recorder.size, recorder.keep_file)
    if _handle is not None:
        _core.flight_stop_waiter(_handle)  # its slow-call waiter ends
    _recorder = recorder
    _handle = None if recorder is None else _core.flight_handle(
        int(recorder.window * 1e9), recorder.size, "flight-recorder",
        [(rule.glob, int(rule.seconds * 1e9)) for rule in recorder.dump_on_slow],
        recorder.file is not None)
    return True


def handle():
    """The recorder's native sink handle, or None."""
    return _handle


def snapshot_path(template=None):
    """`template` (default: the recorder's path, else DEFAULT_PATH) with
    ``{pid}``, ``{time}`` (UTC, to the microsecond) and ``{seq}`` (1, 2, ...
    in this process) filled in."""
    if template is None:
        template = (_recorder.path if _recorder is not None else None) or DEFAULT_PATH
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + ".%06dZ" % (now % 1 * 1e6)
    return (template.replace("{pid}", str(os.getpid())).replace("{time}", stamp)
            .replace("{seq}", str(next(_seq))))


def dump_flight_recorder(path=None):
    """Write the flight recorder's window as a binary trace at `path` (a
    template: ``{pid}``, ``{time}``, ``{seq}`` are filled in; default: the
    recorder's path).  Every record made so far is delivered first; the
    call waits for the file.  The file is created 0600 and replaced if it
    exists (a symbolic link there is not followed).  Returns the path
    written.  RuntimeError when no flight recorder is on; OSError naming
    the path when the file cannot be written."""
    return _core.call_untraced(_dump, path)  # the tracer's own work stays out of the trace


def _dump(path):
    handle = _handle
    if handle is None:
        raise RuntimeError("infi_tracing: no flight recorder is on (start one with "
                           "set_tracing(flight_recorder='30s,64M'))")
    path = snapshot_path(None if path is None else os.fsdecode(path))
    path, fd = open_trace_file(path, os.O_WRONLY | os.O_TRUNC, what="flight-recorder snapshot")
    try:
        try:
            _core.flight_dump(handle, fd)
        except OSError as exc:
            raise OSError(exc.errno, "infi_tracing: cannot write the flight-recorder snapshot "
                          "(path=%r): %s" % (path, exc.strerror), path) from None
    finally:
        os.close(fd)
    return path


def flight_recorder_stats():
    """The recorder's counters (records kept, taken back as the window
    wrapped, dropped, blocks, snapshots), or None when none is on; with a
    crash-survival file, "file": its path, size, and the threads' rings and
    code entries that did not fit in it."""
    if _handle is None:
        return None
    stats = _core.flight_stats(_handle)
    if _flight_file.path_in_use() is not None:
        stats["file"] = dict(_core.flight_file_stats(), path=_flight_file.path_in_use())
    return stats


def _after_fork_in_child():
    global _seq
    _seq = itertools.count(1)  # the child's snapshots are numbered from 1 under its pid


os.register_at_fork(after_in_child=_after_fork_in_child)
