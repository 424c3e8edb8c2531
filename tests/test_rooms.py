"""The reader and the analysis commands never load the tracer: a trace is read and analysed
where nothing is traced (DESIGN.md, "Rooms")."""

import pytest

from helpers import run_interpreter, run_traced_program

PROGRAM = "def f():\n    pass\nf()\n"

READ_EVERY_WAY = """
import io, sys
import infi_tracing.analysis as analysis
path = sys.argv[1]
analysis.decode([path], "/dev/null", "text", quiet=True)
analysis.decode([path], "/dev/null", "perfetto", quiet=True)
analysis.decode([path], "/dev/null", "perfetto-proto", quiet=True)
analysis.replay([path], "/dev/null")
analysis.report_command([path], io.StringIO())
list(analysis.Reader([path]).records())
loaded = sorted(m for m in sys.modules if m.startswith("infi_tracing"))
tracer = [m for m in loaded if m.endswith(("._core", "._api")) or m == "infi_tracing.sinks.stream"]
print("tracer modules:", tracer)
"""


@pytest.mark.parametrize("fmt", ["binary", "jsonl"])
def test_reading_and_analysing_load_no_tracer_module(tmp_path, fmt):
    """Every reading command of infi_tracing.analysis runs without loading the native tracer."""
    trace = tmp_path / ("trace.itr" if fmt == "binary" else "trace.jsonl")
    sink = "binary://%s" % trace if fmt == "binary" else "file://%s?format=jsonl" % trace
    run_traced_program(tmp_path, PROGRAM, sinks="infi_tracing.configure_sinks([%r])" % sink)
    (tmp_path / "read.py").write_text(READ_EVERY_WAY)
    proc = run_interpreter(tmp_path, "read.py", str(trace))
    assert proc.returncode == 0, proc.stderr
    assert "tracer modules: []" in proc.stdout, proc.stdout
