"""Per-sink accounting: written counts what reached the fd or socket, lost what a
sink gave up on, pending what it holds for a retry, and for every sink
written + lost + pending == the records produced (issue #14, items 4-6)."""

import json
import re
import subprocess
import sys
import time

import pytest

from helpers import cli_env, run_cli, run_python
from syslog_peers import DatagramPeer, StreamPeer

pytestmark = pytest.mark.native  # make test-asan runs these

# A program tracing `work` N times, then printing its counters to stderr.
ACCOUNTED = """
import json, os, sys, infi_tracing
%(setup)s
def work(i):
    return i
infi_tracing.set_tracing(buffer_size=65536)
for i in range(%(n)d):
    if i == %(n)d // 2:
        %(midway)s
    work(i)
infi_tracing.unset_tracing()
stats = infi_tracing.tracing_stats()
sys.stderr.write(json.dumps({"records": stats["records"], "sinks": stats["sinks"]}) + "\\n")
"""

PROGRAM = """
def work(i):
    return i
for i in range(%d):
    work(i)
"""


def _counters(tmp_path, setup, n=100000, midway="pass"):
    """Run ACCOUNTED; (records produced, the one sink's stats)."""
    proc = run_python(tmp_path, ACCOUNTED % {"setup": setup, "n": n, "midway": midway})
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    [sink] = stats["sinks"]
    return stats["records"], sink


def _summary(stderr):
    """(records produced, written, lost, the sink line) from run's exit summary."""
    lines = stderr.splitlines()
    head = [line for line in lines if line.startswith("infi_tracing: ")][-1]
    produced = int(re.match(r"infi_tracing: ([\d,]+) records", head).group(1).replace(",", ""))
    sink = lines[lines.index(head) + 1]
    written, lost = re.match(r"  sink .*: ([\d,]+) records written, ([\d,]+) lost", sink).groups()
    return produced, int(written.replace(",", "")), int(lost.replace(",", "")), sink


def test_full_disk_counts_records_lost_not_written(tmp_path):
    """/dev/full: nothing counts as written, every record as lost, after one failed write."""
    produced, sink = _counters(tmp_path, "infi_tracing.tracing_output_to_file('/dev/full')")
    assert (sink["records"], sink["bytes"], sink["lost"]) == (0, 0, produced)
    assert sink["errors"] == 1 and "ENOSPC" in sink["error"]


def test_full_disk_counts_perfetto_proto_records_lost(tmp_path):
    """perfetto+proto:///dev/full: nothing written, every record lost, the reason kept."""
    produced, sink = _counters(
        tmp_path, "infi_tracing.configure_sinks(['perfetto+proto:///dev/full'])")
    assert (sink["records"], sink["bytes"], sink["lost"]) == (0, 0, produced)
    assert sink["errors"] == 1 and "ENOSPC" in sink["error"]


def test_run_summary_reports_full_disk_as_lost(tmp_path):
    """`run --sink file:///dev/full` prints 0 written and every record lost."""
    (tmp_path / "prog.py").write_text(PROGRAM % 1000)
    proc = run_cli(tmp_path, "run", "--sink", "file:///dev/full", "prog.py")
    assert proc.returncode == 0, proc.stderr
    produced, written, lost, line = _summary(proc.stderr)
    assert (written, lost) == (0, produced) and "ENOSPC" in line


def test_reader_closing_the_pipe_counts_the_rest_lost(tmp_path):
    """`run --sink stdout prog.py | head -2`: what the pipe did not take is lost, not written."""
    (tmp_path / "prog.py").write_text(PROGRAM % 100000)
    proc = subprocess.Popen([sys.executable, "-m", "infi_tracing", "run", "--sink", "stdout",
                             "prog.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env())
    head = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert all(line.endswith(b"\n") for line in head) and proc.returncode == 0, err
    produced, written, lost, line = _summary(err.decode())
    bytes_written = int(re.search(r"([\d,]+) bytes", line).group(1).replace(",", ""))
    assert written + lost == produced and 0 < written < produced // 10
    assert bytes_written < 1 << 20 and "EPIPE" in line


def test_program_closing_stdout_counts_the_rest_lost(tmp_path):
    """The traced program closes fd 1 while tracing to stdout: the rest is lost, not written."""
    produced, sink = _counters(tmp_path, "infi_tracing.tracing_output_to_stdout()",
                               midway="infi_tracing.flush_tracing(); os.close(1)")
    assert sink["records"] + sink["lost"] == produced
    assert sink["records"] > 0 and sink["lost"] > 0 and "EBADF" in sink["error"]


SINK_SETUPS = {
    "text": "infi_tracing.tracing_output_to_file('trace.log')",
    "jsonl": "infi_tracing.tracing_output_to_file('trace.jsonl', format='jsonl')",
    "binary": "infi_tracing.configure_sinks(['binary://%(tmp)s/trace.itr'])",
    "perfetto-proto": "infi_tracing.configure_sinks(['perfetto+proto://%(tmp)s/t.pftrace'])",
    "python": """
class Keep:
    def __init__(self):
        self.batches = 0
    def write(self, batch):
        self.batches += 1
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([Keep()])""",
    "syslog-udp": "infi_tracing.configure_sinks(['syslog+udp://127.0.0.1:%(udp)d'])",
    "syslog-tcp": "infi_tracing.configure_sinks(['syslog+tcp://127.0.0.1:%(tcp)d'])",
}


@pytest.mark.parametrize("kind", sorted(SINK_SETUPS))
def test_every_sink_kind_accounts_for_every_record(tmp_path, kind):
    """Small rings that overflow: a sink's written + lost + pending equals the records made."""
    udp, tcp = DatagramPeer(), StreamPeer("octet")
    try:
        setup = SINK_SETUPS[kind] % {"tmp": tmp_path, "udp": udp.port, "tcp": tcp.port}
        produced, sink = _counters(tmp_path, setup, n=200000)
    finally:
        udp.close()
        tcp.close()
    assert sink["records"] + sink["lost"] + sink.get("pending", 0) == produced


ALWAYS_FAILS = """
class Failing:
    def write(self, batch):
        raise OSError("always")
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([Failing()])"""


def test_always_failing_python_sink_accounts_for_every_record(tmp_path):
    """A Python sink that always raises: nothing written, lost + pending == produced exactly."""
    produced, sink = _counters(tmp_path, ALWAYS_FAILS, n=300000)
    assert sink["records"] == 0 and sink["pending"] > 0
    assert sink["lost"] + sink["pending"] == produced


def test_python_sink_records_still_pending_at_exit_are_lost(tmp_path):
    """run's summary: a failing Python sink's held records are counted lost at exit."""
    (tmp_path / "worker.py").write_text(PROGRAM % 1000)
    (tmp_path / "prog.py").write_text("import infi_tracing\n%s\nimport worker\n" % ALWAYS_FAILS)
    proc = run_cli(tmp_path, "run", "--include", "worker", "prog.py")
    assert proc.returncode == 0, proc.stderr
    produced, written, lost, line = _summary(proc.stderr)
    assert produced >= 2000 and written == 0 and lost == produced and "pending" not in line


def test_unreachable_syslog_delays_exit_at_most_flush_timeout(tmp_path):
    """An unreachable syslog server holds the exit up at most flush_timeout; its records are lost."""
    (tmp_path / "prog.py").write_text(PROGRAM % 5)
    started = time.monotonic()
    proc = run_cli(tmp_path, "run", "--sink",
                   "syslog+unix://%s/nonexistent.sock?flush_timeout=3" % tmp_path, "prog.py")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 3 + 4, "exit took %.1f s" % elapsed  # a bound on a hang: was 4 x 3 s
    produced, written, lost, line = _summary(proc.stderr)
    assert written == 0 and lost == produced > 0 and "pending" not in line


# A Python sink whose write() never returns: it waits (GIL released) or spins (GIL held).
NEVER_RETURNS = """
import threading
class NeverReturns:
    def write(self, batch):
        %s
    def flush(self):
        pass
    def close(self):
        pass
infi_tracing.set_sinks([NeverReturns()])"""


@pytest.mark.parametrize("body", ["threading.Event().wait()", "while True: pass"],
                         ids=["waits", "spins"])
def test_python_sink_that_never_returns_delays_exit_a_bounded_time(tmp_path, body):
    """run ends ~5 s after a Python sink's write() stopped returning; its batch counts lost."""
    (tmp_path / "worker.py").write_text(PROGRAM % 1000)
    (tmp_path / "prog.py").write_text("import infi_tracing\n%s\nimport worker\n"
                                      % NEVER_RETURNS % body)
    proc = run_cli(tmp_path, "run", "--include", "worker", "prog.py", timeout=60)
    assert proc.returncode == 0, proc.stderr
    produced, written, lost, line = _summary(proc.stderr)
    assert written == 0 and lost == produced > 0 and "given up at exit" in line


def test_records_left_in_the_rings_by_a_given_up_sink_count_lost(tmp_path):
    """Exit gives up on a sink: the records the drain never took are in run's `lost` total."""
    (tmp_path / "worker.py").write_text(PROGRAM % 1000)
    (tmp_path / "prog.py").write_text("import infi_tracing\n%s\nimport worker\n"
                                      % NEVER_RETURNS % "threading.Event().wait()")
    proc = run_cli(tmp_path, "run", "--include", "worker", "prog.py", timeout=60)
    assert proc.returncode == 0, proc.stderr
    head = [line for line in proc.stderr.splitlines() if line.startswith("infi_tracing: ")][-1]
    produced, lost = re.match(r"infi_tracing: ([\d,]+) records, ([\d,]+) lost", head).groups()
    made = 2 + 2 * 1000  # worker's <module> and work(), each a call and a return
    assert int(produced.replace(",", "")) + int(lost.replace(",", "")) == made
