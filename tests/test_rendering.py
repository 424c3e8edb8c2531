"""Rendered values and names in every output: the repr once, control characters
escaped in text (native, Python, syslog, decode) and exact in JSON and in Python
sinks' records, and the depth shown as a number past the indentation cap."""

import json
import re

import pytest

from helpers import BACKENDS, SINK_CLASSES, run_cli, run_traced, without_durations
from syslog_peers import StreamPeer, parse_5424

pytestmark = pytest.mark.native  # make test-asan runs these

# What a user __repr__ returns: a line break, ESC, U+2028, NEL, DEL, a C1 control...
RAW = "a\nb\x1bc\u2028d\x85e\x7ff\x9bg\u2029h\ri\tj"
ESCAPED = r"a\nb\x1bc\u2028d\x85e\x7ff\x9bg\u2029h\ri\tj"
NAME, MODULE, FILE = "na\nme\u2028x", "mod\x1b[31m", "file\nname\x85.py"
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

HOSTILE_SETUP = """
import atexit, json, types
from infi_tracing import _format
from infi_tracing.sinks.binary import BinaryFileSink
from infi_tracing.sinks.perfetto import PerfettoSink
from infi_tracing.sinks.syslog import SyslogSink
""" + SINK_CLASSES + """
collected = Collect()
infi_tracing.set_sinks([infi_tracing.sinks.FileSink("hostile.jsonl", "jsonl"),
                        infi_tracing.sinks.FileSink("trace.txt"), BinaryFileSink("trace.itr"),
                        PerfettoSink("trace.json"), collected,
                        SyslogSink(("127.0.0.1", %(port)d), transport="tcp")])

def dump():
    with open("collected.json", "w") as f:
        json.dump(collected.records, f)
    with open("python.txt", "w", encoding="utf-8", newline="") as f:
        f.writelines(_format.format_text(r) for r in collected.records)
atexit.register(dump)

def flt(frame):
    return frame.f_code.co_name in ("take", "deep", %(name)r)
"""

HOSTILE_BODY = """
class Loud:
    def __repr__(self):
        return %(raw)r

def take(x):
    return x

def deep(n):
    return deep(n - 1) if n else 0

take('a\\tb')
take(Loud())
deep(80)
namespace = {"__name__": %(module)r}
exec(compile("def f(x):\\n    return x\\n", %(file)r, "exec"), namespace)
code = namespace["f"].__code__.replace(co_name=%(name)r)
if hasattr(code, "co_qualname"):
    code = code.replace(co_qualname=%(name)r)
types.FunctionType(code, namespace)("v")
"""


class Hostile:
    """Every output of one traced run of HOSTILE_BODY (JSON lines in hostile.jsonl)."""

    def __init__(self, tmp_path, backend):
        peer = StreamPeer("octet")
        try:
            run_traced(
                tmp_path, HOSTILE_BODY % {"raw": RAW, "module": MODULE, "file": FILE,
                                          "name": NAME},
                backend=backend, sinks_configured=True,
                setup=HOSTILE_SETUP % {"port": peer.port, "name": NAME},
                tracing_args="filter=flt, level=TRACE_FUNC_REPR")
            self.jsonl = (tmp_path / "hostile.jsonl").read_bytes().decode("utf-8")
            # split on "\n" only: str.splitlines() would also split at U+2028, U+0085...
            self.records = [json.loads(line) for line in self.jsonl.split("\n")[:-1]]
            self.syslog = [parse_5424(m)["msg"] for m in peer.wait(len(self.records))]
        finally:
            peer.close()
        self.path = tmp_path
        self.text = (tmp_path / "trace.txt").read_bytes().decode("utf-8")
        self.collected = json.loads((tmp_path / "collected.json").read_text())

    def call(self, records, qualname, nth=0):
        """The `nth` call record of `qualname`."""
        return [r for r in records if r["event"] == "call" and r["qualname"] == qualname][nth]


@pytest.fixture(scope="module", params=BACKENDS)
def hostile(request, tmp_path_factory):
    """HOSTILE_BODY traced at TRACE_FUNC_REPR to every kind of sink, once per backend."""
    return Hostile(tmp_path_factory.mktemp("hostile"), request.param)


def test_repr_level_shows_a_string_repr_once(hostile):
    """TRACE_FUNC_REPR renders 'a\\tb' as its repr, not the repr escaped again."""
    assert hostile.call(hostile.records, "take")["args"] == {"x": "'a\\tb'"}
    assert " > __main__.take(x='a\\tb') " in hostile.text


def test_control_characters_of_a_user_repr_are_escaped_in_text(hostile):
    """A __repr__ returning control characters shows them escaped in the text line."""
    assert " > __main__.take(x=%s) " % ESCAPED in hostile.text
    assert " < __main__.take -> %s " % ESCAPED in hostile.text


def test_control_characters_in_names_are_escaped_in_text(hostile):
    """Module, qualname and file name with control characters are escaped in the text line."""
    shown = lambda s: s.encode("unicode_escape").decode("ascii")  # noqa: E731
    assert " > %s.%s(x='v') %s:1\n" % (shown(MODULE), shown(NAME), shown(FILE)) in hostile.text


def test_text_output_holds_one_line_per_record_and_no_raw_controls(hostile):
    """Nothing in a rendered value or name breaks a text line or reaches it raw."""
    assert hostile.text.count("\n") == len(hostile.records)
    assert not UNSAFE.search(hostile.text.replace("\n", ""))


def test_jsonl_holds_exact_values_and_names_and_no_raw_controls(hostile):
    """JSON lines decode to the exact repr and names; the line itself has no raw controls."""
    assert not UNSAFE.search(hostile.jsonl.replace("\n", ""))
    assert hostile.call(hostile.records, "take", 1)["args"] == {"x": RAW}
    rec = hostile.call(hostile.records, NAME)
    assert (rec["module"], rec["file"]) == (MODULE, FILE)


def test_python_sinks_get_values_and_names_unescaped(hostile):
    """A Python sink's record dicts carry the value and names as rendered, unescaped."""
    assert hostile.call(hostile.collected, "take", 1)["args"] == {"x": RAW}
    rec = hostile.call(hostile.collected, NAME)
    assert (rec["module"], rec["file"]) == (MODULE, FILE)


def test_python_text_formatter_matches_the_native_one(hostile):
    """infi_tracing._format.format_text escapes (and marks depth) byte for byte like the drain."""
    assert (hostile.path / "python.txt").read_bytes().decode("utf-8") == hostile.text


def test_syslog_messages_escape_like_the_text_output(hostile):
    """Each syslog message is its text line's body, escaped the same way."""
    assert sorted(hostile.syslog) == sorted(
        line.split(" ", 2)[2] for line in hostile.text.splitlines(keepends=False))


def test_perfetto_output_is_exact_and_has_no_raw_controls(hostile):
    """The Perfetto JSON has no raw control characters and decodes to the exact repr."""
    text = (hostile.path / "trace.json").read_bytes().decode("utf-8")
    assert not UNSAFE.search(text.replace("\n", ""))
    events = json.loads(text)
    assert {"x": RAW} in [e.get("args") for e in events if e.get("name") == "__main__.take"]


def test_decoded_binary_trace_escapes_like_the_native_text(hostile):
    """`python -m infi_tracing decode --format text` escapes values and names the same way."""
    proc = run_cli(hostile.path, "decode", hostile.path / "trace.itr", "--format", "text",
                   text=False)
    assert proc.returncode == 0, proc.stderr
    body = lambda text: [line.split(" ", 1)[1] for line in text.splitlines()]  # noqa: E731
    assert body(proc.stdout.decode("utf-8")) == body(without_durations(hostile.text))


def test_text_shows_the_depth_as_a_number_past_the_indent_cap(hostile):
    """Past 60 levels the indentation stops growing and the line says its depth."""
    lines = {m.group(2): m.group(1) for m in
             re.finditer(r" g\d+ ( *(?:\[depth \d+\] )?)> __main__\.deep\(n=(\d+)\)", hostile.text)}
    assert lines["20"] == "  " * 60
    assert lines["19"] == "  " * 60 + "[depth 61] "
    assert lines["7"] == "  " * 60 + "[depth 73] "
