"""Exit flushing, fork, and the statistics."""

import json

import pytest

from helpers import FORKED_CHILD, run_python, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

EXIT_PROGRAM = """
import sys, infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(backend={backend!r})
def last_words():
    return 1
for _ in range(1000):
    last_words()
{ending}
"""


def _last_words_calls(tmp_path):
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    return sum(1 for x in lines if json.loads(x).get("qualname") == "last_words"
               and json.loads(x)["event"] == "call")


def test_records_reach_the_sink_at_normal_exit(tmp_path, backend):
    """Without unset_tracing(), an interpreter exit still delivers every record."""
    proc = run_python(tmp_path, EXIT_PROGRAM.format(backend=backend, ending=""))
    assert proc.returncode == 0, proc.stderr
    assert _last_words_calls(tmp_path) == 1000


def test_records_reach_the_sink_on_sys_exit(tmp_path, backend):
    """sys.exit(3) keeps its exit code and every record."""
    proc = run_python(tmp_path, EXIT_PROGRAM.format(backend=backend, ending="sys.exit(3)"))
    assert proc.returncode == 3
    assert _last_words_calls(tmp_path) == 1000


def test_records_reach_the_sink_on_unhandled_exception(tmp_path, backend):
    """An unhandled exception exits as usual, with its traceback and every record."""
    proc = run_python(tmp_path, EXIT_PROGRAM.format(backend=backend,
                                                     ending="raise RuntimeError('bye')"))
    assert proc.returncode == 1 and "RuntimeError: bye" in proc.stderr
    assert _last_words_calls(tmp_path) == 1000


def test_forked_child_keeps_tracing_with_its_own_pid(tmp_path, backend):
    """After os.fork() the child records with its own pid; nothing is written twice."""
    traced = run_traced(tmp_path, "in_parent()" + FORKED_CHILD, backend=backend,
                        tracing_args="overflow='block'", end="print(os.getpid(), pid)", setup="""
def in_parent():
    return 1
def in_child():
    return 2
""")
    parent, child = map(int, traced.stdout.split())
    records = traced.records
    calls = [(r["qualname"], r["pid"]) for r in records if r["event"] == "call"
             and r["qualname"].startswith("in_")]
    assert sorted(calls) == [("in_child", child), ("in_parent", parent)]


def test_stats_count_records_sinks_and_filter_calls(tmp_path, backend):
    """tracing_stats() counts records per thread and sink, code objects and filter calls."""
    proc = run_python(tmp_path, """
import json, infi_tracing
infi_tracing.tracing_output_to_file("trace.log")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "f", backend=%r)
def f():
    pass
for _ in range(10):
    f()
stats = infi_tracing.tracing_stats()
print(json.dumps(stats))
""" % backend)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["active"] is True and stats["backend"] == backend
    assert stats["records"] == 20 and stats["lost"] == 0
    assert stats["sinks"][0]["records"] == 20 and stats["sinks"][0]["errors"] == 0
    assert stats["sinks"][0]["sink"].startswith("file:")
    assert stats["code_objects"] >= 1 and stats["filter_calls"] >= 1
    assert stats["threads"][0]["records"] == 20


def test_forked_child_records_its_own_thread_id_and_fork_does_not_warn(tmp_path, backend):
    """A child's records carry its own thread id; forking raises no threads warning (3.12+)."""
    traced = run_traced(tmp_path, FORKED_CHILD, backend=backend, tracing_args="overflow='block'",
                        end="print(pid, status)", setup="""
import warnings
warnings.simplefilter("error")   # 3.12+ warns when forking a process with threads
def in_child():
    pass
""")
    child, status = map(int, traced.stdout.split())
    assert status == 0
    records = traced.records
    ours = [r for r in records if r.get("qualname") == "in_child"]
    assert ours and all(r["pid"] == child and r["tid"] == child for r in ours)
