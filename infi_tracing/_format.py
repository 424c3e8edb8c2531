"""Text and JSON-lines rendering of decoded records (dicts).

The drain thread formats natively (``native/it_format.h``); this module is
the same format in Python, for sinks written in Python and for tools that
re-render decoded records.  A test keeps the two byte-identical.

Record dicts carry names and values as rendered (a value is its repr, as
is); the text outputs escape what would break or spoof a line
(``escape_text``), the JSON outputs keep the exact text (``json_safe``).
"""

import json
import re
import time

__all__ = ["format_text", "format_jsonl", "format_time", "format_duration", "round_duration",
           "escape_text", "json_safe"]

# What never reaches a text output raw (native/it_format.h, it_unsafe_at):
# C0 controls, DEL, C1 controls (NEL among them), U+2028 and U+2029.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_MARKS = {"call": ">", "return": "<", "exception": "!", "resume": ">>", "yield": "<<",
          "log": "#"}
_INDENT_MAX = 60


def format_time(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2026-11-25T22:10:01.123456Z``."""
    seconds, rest = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % (rest // 1000)


def format_duration(ns: int) -> str:
    """A call's duration as text lines show it (native/it_lines.h, it_out_duration): the
    unit by size and every digit down to the nanosecond, ``812 ns``, ``3.456 us``,
    ``1.132456 ms``, ``2.500000000 s``, so a reader's self times stay exact."""
    scale, unit = 1, "ns"
    for bigger in ("us", "ms", "s"):
        if ns < scale * 1000:
            break
        scale, unit = scale * 1000, bigger
    if scale == 1:
        return "%d ns" % ns
    return "%d.%0*d %s" % (ns // scale, len(str(scale)) - 1, ns % scale, unit)


def round_duration(ns: int) -> str:
    """A duration for tables (report, the exit summary): three decimals of its unit,
    ``12 ns``, ``1.132 ms``, ``2.500 s``."""
    if ns < 1000:
        return "%d ns" % ns
    scale, unit = 1000, "us"
    for bigger in ("ms", "s"):
        if ns < scale * 1000:
            break
        scale, unit = scale * 1000, bigger
    milli = (ns * 1000 + scale // 2) // scale
    return "%d.%03d %s" % (milli // 1000, milli % 1000, unit)


def _escape_one(match):
    char = match.group()
    return _SHORT.get(char) or ("\\x%02x" if ord(char) < 0x100 else "\\u%04x") % ord(char)


def escape_text(text: str) -> str:
    """`text` for a text line: control characters, DEL, C1 controls, U+2028 and
    U+2029 escaped as repr() writes them (``\\n``, ``\\x1b``, ``\\u2028``); all
    else, backslashes included, as is."""
    return _UNSAFE.sub(_escape_one, text)


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(ensure_ascii=False)``) with the characters
    it leaves raw that ``escape_text`` escapes (DEL, C1 controls, U+2028,
    U+2029) written as ``\\uXXXX``: one line for any reader, same value."""
    return _UNSAFE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def _indent(depth):
    """Two spaces per level up to the cap; deeper lines say their depth."""
    if depth > _INDENT_MAX:
        return "  " * _INDENT_MAX + "[depth %d] " % depth
    return "  " * max(depth, 0)


def format_text(rec: dict) -> str:
    """One text line (with its newline) for a decoded record."""
    head = "%s %d %d" % (format_time(rec["time_ns"]), rec["pid"], rec["tid"])
    if rec["event"] == "lost":
        return "%s lost %d records\n" % (head, rec["count"])
    indent = _indent(rec["depth"])
    if rec["event"] == "omitted":
        return "%s g%d %s- omitted %d calls [%d ns]\n" % (head, rec["greenlet"], indent,
                                                         rec["omitted_calls"],
                                                         max(rec["omitted_ns"], 0))
    if rec["event"] == "log":
        return "%s g%d %s# %s %s: %s\n" % (head, rec["greenlet"], indent,
                                           escape_text(rec["level"]),
                                           escape_text(rec["logger"]),
                                           escape_text(rec["message"]))
    line = "%s g%d %s%s %s.%s" % (head, rec["greenlet"], indent, _MARKS[rec["event"]],
                                  escape_text(rec["module"]), escape_text(rec["qualname"]))
    if rec["event"] == "call":
        if rec.get("args"):
            line += "(%s)" % ", ".join("%s=%s" % (escape_text(name), escape_text(value))
                                       for name, value in rec["args"].items())
    elif rec["event"] == "exception":
        line += " raised %s" % escape_text(rec["exception"])
    elif "retval" in rec:
        line += " -> %s" % escape_text(rec["retval"])
    if "duration_ns" in rec:
        line += " [%s]" % format_duration(rec["duration_ns"])
    return "%s %s:%d\n" % (line, escape_text(rec["file"]), rec["line"])


def format_jsonl(rec: dict) -> str:
    """One JSON object per line, keys in the native order."""
    out = {"time": format_time(rec["time_ns"]), "mono_ns": rec["mono_ns"], "pid": rec["pid"],
           "tid": rec["tid"], "event": rec["event"]}
    if rec["event"] == "lost":
        out["count"] = rec["count"]
    elif rec["event"] == "omitted":
        for key in ("greenlet", "depth", "omitted_calls", "omitted_ns", "omitted_active_ns"):
            out[key] = rec[key]
    elif rec["event"] == "log":
        for key in ("greenlet", "depth", "level", "logger", "message"):
            out[key] = rec[key]
    else:
        for key in ("greenlet", "depth", "module", "qualname", "file", "line"):
            out[key] = rec[key]
        for key in ("args", "exception", "retval", "duration_ns"):
            if key in rec:
                out[key] = rec[key]
    return json_safe(json.dumps(out, ensure_ascii=False, separators=(",", ":"))) + "\n"
