"""Text sinks (stdout, stderr, file; text and JSON lines) and Python sinks."""

import json
import re

import pytest

from helpers import SINK_CLASSES, run_traced_program

pytestmark = pytest.mark.native  # make test-asan runs these

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (?P<pid>\d+) (?P<tid>\d+) g(?P<g>\d+) "
    r"(?P<indent> *)(?P<mark>>|<|!|>>|<<) (?P<name>[^\s(]+)(?P<rest>(\(.*?\))?( -> .*?| raised \S+)?)"
    r"(?P<duration> \[[\d.]+ (ns|us|ms|s)\])? (?P<file>\S+):(?P<line>\d+)$")

PROGRAM = """
def leaf(x):
    return x * 2
def top():
    return leaf(21)
top()
"""


def _run(tmp_path, backend, configure):
    return run_traced_program(tmp_path, PROGRAM, backend=backend, sinks=configure,
                              tracing_args="level=TRACE_FUNC_PRIMITIVES")


def _main_lines(text):
    return [line for line in text.splitlines() if "__main__." in line]


def test_stdout_text_format(tmp_path, backend):
    """stdout gets one documented text line per record, indented by depth."""
    proc = _run(tmp_path, backend, "tracing_output_to_stdout()")
    lines = _main_lines(proc.stdout)
    parsed = [TEXT_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["indent"], m["mark"], m["name"], m["rest"], bool(m["duration"]))
            for m in parsed] == [
        ("", ">", "__main__.top", "", False),
        ("  ", ">", "__main__.leaf", "(x=21)", False),
        ("  ", "<", "__main__.leaf", " -> 42", True),  # returns carry their call's duration
        ("", "<", "__main__.top", " -> 42", True),
    ]
    assert all(m["file"].endswith("traced_program.py") for m in parsed)


def test_stderr_sink(tmp_path, backend):
    """stderr gets the same lines; stdout stays clean."""
    proc = _run(tmp_path, backend, "tracing_output_to_stderr()")
    assert len(_main_lines(proc.stderr)) == 4 and not proc.stdout


def test_default_output_is_stderr(tmp_path, backend):
    """With no output configured, records go to stderr."""
    proc = _run(tmp_path, backend, "")
    assert len(_main_lines(proc.stderr)) == 4


def test_file_sink_appends_text(tmp_path, backend):
    """A file sink appends, so two runs leave both traces."""
    _run(tmp_path, backend, "tracing_output_to_file('out.log')")
    _run(tmp_path, backend, "tracing_output_to_file('out.log')")
    lines = _main_lines((tmp_path / "out.log").read_text())
    assert len(lines) == 8 and all(TEXT_LINE.match(line) for line in lines)


def test_jsonl_format(tmp_path, backend):
    """format='jsonl' writes one JSON object per record with the documented keys."""
    proc = _run(tmp_path, backend, "tracing_output_to_stdout(format='jsonl')")
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    leaf_call = next(r for r in records if r.get("qualname") == "leaf")
    assert set(leaf_call) == {"time", "mono_ns", "pid", "tid", "event", "greenlet", "depth",
                              "module", "qualname", "file", "line", "args"}
    assert leaf_call["args"] == {"x": "21"} and leaf_call["depth"] == 1


def test_python_sink_receives_decoded_batches(tmp_path, backend):
    """A Python sink object gets lists of record dicts and a flush at the end."""
    proc = _run(tmp_path, backend, """
import atexit
class Collect:
    def __init__(self):
        self.batches, self.flushes = [], 0
    def write(self, batch):
        self.batches.append(batch)
    def flush(self):
        self.flushes += 1
    def close(self):
        pass
sink = Collect()
infi_tracing.set_sinks([sink])
def report():
    records = [r for b in sink.batches for r in b if r.get("module") == "__main__"]
    print([(r["event"], r["qualname"]) for r in records], sink.flushes > 0)
atexit.register(report)
""")
    assert "[('call', 'top'), ('call', 'leaf'), ('return', 'leaf'), ('return', 'top')] True" \
        in proc.stdout


def test_native_and_python_formatters_agree(tmp_path, backend):
    """The drain's C formatting and infi_tracing._format give the same text and JSON."""
    _run(tmp_path, backend, SINK_CLASSES + """
import atexit
from infi_tracing import _format
sink = Collect()
infi_tracing.set_sinks([sink, infi_tracing.sinks.FileSink("native.txt"),
                        infi_tracing.sinks.FileSink("native.jsonl", "jsonl")])
def dump():
    with open("python.txt", "w") as f:
        f.writelines(_format.format_text(r) for r in sink.records)
    with open("python.jsonl", "w") as f:
        f.writelines(_format.format_jsonl(r) for r in sink.records)
atexit.register(dump)
""")
    assert (tmp_path / "native.txt").read_text() == (tmp_path / "python.txt").read_text()
    native = [json.loads(x) for x in (tmp_path / "native.jsonl").read_text().splitlines()]
    python = [json.loads(x) for x in (tmp_path / "python.jsonl").read_text().splitlines()]
    assert native == python and len(native) >= 4


def test_failing_python_sink_is_counted_and_retried(tmp_path, backend):
    """A sink that raises is counted in tracing_stats() and gets the records again later."""
    proc = _run(tmp_path, backend, """
import atexit
class Flaky:
    def __init__(self):
        self.failures, self.records = 0, []
    def write(self, batch):
        if self.failures < 2:
            self.failures += 1
            raise OSError("disk full")
        self.records.extend(batch)
    def flush(self):
        pass
    def close(self):
        pass
sink = Flaky()
infi_tracing.set_sinks([sink])
def report():
    infi_tracing.flush_tracing()  # a flush retries what failed
    names = [r["qualname"] for r in sink.records if r.get("module") == "__main__"]
    errors = infi_tracing.tracing_stats()["sinks"][0]["errors"]
    print(names, errors)
atexit.register(report)
""")
    assert "['top', 'leaf', 'leaf', 'top'] 2" in proc.stdout


def test_changing_sinks_keeps_earlier_records_in_the_earlier_sink(tmp_path, backend):
    """Records made before a sink change are delivered to the sink of that time."""
    run_traced_program(tmp_path, """
before()
infi_tracing.tracing_output_to_file("second.log")
after()
""", backend=backend, sinks='infi_tracing.tracing_output_to_file("first.log")', setup="""
def before():
    pass
def after():
    pass
""")
    first, second = (tmp_path / "first.log").read_text(), (tmp_path / "second.log").read_text()
    assert "__main__.before" in first and "__main__.after" not in first
    assert "__main__.after" in second and "__main__.before" not in second
