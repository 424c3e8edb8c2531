"""Odd names read back: file names with spaces (`<frozen importlib._bootstrap>`), `:`, `[`
and non-ASCII letters, `<lambda>`, `<genexpr>`, `<module>` -- from text and JSON lines,
written live and decoded from a binary trace, every record of the binary trace read."""

import pytest

from infi_tracing.analysis import Reader

from helpers import run_cli, run_traced_program, shown_qualname, write

pytestmark = pytest.mark.native  # make test-asan runs these

# Imported from a folder whose name has a space, ':', '[' and a non-ASCII letter: the import
# itself runs through frozen importlib (file names with a space); values with spaces come
# right before those file names.
MODULE = """\
def run():
    pair = lambda x: [x, 'a b']
    total = sum(v for v in range(3))
    exec(compile("def snippet(a):\\n    return {'k': a}\\nsnippet('x y')\\n", "<my snippet>",
                 "exec"))
    return pair(total)
"""

BODY = """\
import sys
sys.path.insert(0, %r)
import modü
modü.run()
"""

KEYS = ("pid", "tid", "event", "greenlet", "depth", "module", "qualname", "file", "line",
        "args", "retval", "exception")


def _trace(tmp_path):
    """Trace the import and run of modü to binary, text and jsonl files; their paths."""
    folder = tmp_path / "odd dir:[1] é"
    write(folder / "modü.py", MODULE)
    paths = {fmt: tmp_path / ("live." + fmt) for fmt in ("itr", "txt", "jsonl")}
    sinks = ["binary://%s" % paths["itr"], "file://%s" % paths["txt"],
             "file://%s?format=jsonl" % paths["jsonl"]]
    run_traced_program(tmp_path, BODY % str(folder),
                       sinks="infi_tracing.configure_sinks(%r)" % sinks,
                       tracing_args="level=TRACE_FUNC_PRIMITIVES, overflow='block'")
    return paths


def _read(path):
    """The records of one trace file, as tuples of KEYS; no line skipped, no error."""
    reader = Reader([path])
    records = [tuple(r.get(k) for k in KEYS) for r in reader.records()]
    assert reader.skipped == [] and reader.errors == [], path
    return records


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_odd_names_read_back_live_and_decoded(tmp_path, fmt):
    """Text and jsonl traces, live and decoded, read back as every record of the binary trace,
    names split as the binary trace names them."""
    paths = _trace(tmp_path)
    decoded = tmp_path / ("decoded." + fmt)
    proc = run_cli(tmp_path, "decode", paths["itr"], "--format", fmt, "-o", decoded)
    assert proc.returncode == 0, proc.stderr
    expected = _read(paths["itr"])
    files = {r[KEYS.index("file")] for r in expected}
    assert "<frozen importlib._bootstrap>" in files and "<my snippet>" in files
    assert any(f.endswith("odd dir:[1] é/modü.py") for f in files)
    assert {shown_qualname("run.<locals>.<lambda>"), shown_qualname("run.<locals>.<genexpr>"),
            "<module>"} <= \
        {r[KEYS.index("qualname")] for r in expected}
    live = paths["txt" if fmt == "text" else "jsonl"]
    assert _read(live) == expected
    assert _read(decoded) == expected


@pytest.mark.parametrize("body, file, value", [
    ("< m.f -> [1, 'a b'] [1.000 us] <frozen m>", "<frozen m>", "[1, 'a b']"),
    ("< m.f -> 'ab'... <len=99> /a b/m.py", "/a b/m.py", "'ab'... <len=99>"),
    ("< m.f -> <K 0x7f> [1 ns] /x [y]:z/m.py", "/x [y]:z/m.py", "<K 0x7f>"),
    ("! m.f raised E /a b/m.py", "/a b/m.py", "E"),
    ("> m.f(a=') x', b={1: 2}) /c (d)/m.py", "/c (d)/m.py", "') x'"),
    ("> m.f /a b/m.py", "/a b/m.py", None),
])
def test_file_names_with_spaces_follow_the_values(tmp_path, body, file, value):
    """A file name with spaces is read whole after a value that has spaces of its own."""
    path = tmp_path / "trace.log"
    path.write_text("2026-11-30T01:56:48.173888Z 1 1 g1 %s:7\n" % body, encoding="utf-8")
    reader = Reader([path])
    (record,) = reader.records()
    shown = record.get("retval") or record.get("exception") or (record.get("args") or {}).get("a")
    assert (record["module"], record["qualname"], record["file"], record["line"], shown) == \
        ("m", "f", file, 7, value)
