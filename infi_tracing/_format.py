"""Text and JSON-lines rendering of decoded records (dicts).

The drain thread formats natively (``native/it_format.h``); this module is
the same format in Python, for sinks written in Python and for tools that
re-render decoded records.  A test keeps the two byte-identical.
"""

import json
import time

__all__ = ["format_text", "format_jsonl", "format_time"]

_MARKS = {"call": ">", "return": "<", "exception": "!", "resume": ">>", "yield": "<<",
          "log": "#"}
_INDENT_MAX = 60


def format_time(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2026-11-25T22:10:01.123456Z``."""
    seconds, rest = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % (rest // 1000)


def format_text(rec: dict) -> str:
    """One text line (with its newline) for a decoded record."""
    head = "%s %d %d" % (format_time(rec["time_ns"]), rec["pid"], rec["tid"])
    if rec["event"] == "lost":
        return "%s lost %d records\n" % (head, rec["count"])
    indent = "  " * min(rec["depth"], _INDENT_MAX)
    if rec["event"] == "log":
        return "%s g%d %s# %s %s: %s\n" % (head, rec["greenlet"], indent, rec["level"],
                                           rec["logger"], rec["message"])
    line = "%s g%d %s%s %s.%s" % (head, rec["greenlet"], indent, _MARKS[rec["event"]],
                                  rec["module"], rec["qualname"])
    if rec["event"] == "call":
        if rec.get("args"):
            line += "(%s)" % ", ".join("%s=%s" % item for item in rec["args"].items())
    elif rec["event"] == "exception":
        line += " raised %s" % rec["exception"]
    elif "retval" in rec:
        line += " -> %s" % rec["retval"]
    return "%s %s:%d\n" % (line, rec["file"], rec["line"])


def format_jsonl(rec: dict) -> str:
    """One JSON object per line, keys in the native order."""
    out = {"time": format_time(rec["time_ns"]), "mono_ns": rec["mono_ns"], "pid": rec["pid"],
           "tid": rec["tid"], "event": rec["event"]}
    if rec["event"] == "lost":
        out["count"] = rec["count"]
    elif rec["event"] == "log":
        for key in ("greenlet", "depth", "level", "logger", "message"):
            out[key] = rec[key]
    else:
        for key in ("greenlet", "depth", "module", "qualname", "file", "line"):
            out[key] = rec[key]
        for key in ("args", "exception", "retval"):
            if key in rec:
                out[key] = rec[key]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n"
