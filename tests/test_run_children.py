"""`run` traces the program's spawn and forkserver multiprocessing children:
they start as fresh interpreters, so run hands its settings over in the
environment, and each child writes without spoiling the parent's output."""

import json

import pytest

from helpers import check_nesting, count_by, decode_binary, read_jsonl, run_cli, write

PROGRAM = """
import multiprocessing, os, sys

def work(i):
    return i

def target(n):
    for i in range(n):
        work(i)

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=target, args=(100,))
    p.start()
    p.join(60)
    pool = ctx.Pool(2)
    assert pool.map(work, range(100), chunksize=10) == list(range(100))
    pool.close()
    pool.join()
    print("pids", os.getpid(), p.pid, p.exitcode)
"""


def _run(tmp_path, sink, method, include="prog.py"):
    """Run PROGRAM under `run` (only prog.py traced); (parent pid, Process child pid)."""
    write(tmp_path / "prog.py", PROGRAM)
    proc = run_cli(tmp_path, "run", "--no-summary", "--overflow", "block", "--include",
                   include, "--sink", sink, "prog.py", method)
    assert proc.returncode == 0, proc.stderr
    parent, child, exitcode = map(int, proc.stdout.split()[1:])
    assert exitcode == 0
    return parent, child


def _check_children(records, parent, child):
    """The Process child's and the pool workers' calls, each with its return."""
    ours = [r for r in records if r["qualname"] in ("work", "target")]
    assert count_by([r for r in ours if r["pid"] == child], "event", "qualname") == {
        ("call", "work"): 100, ("return", "work"): 100,
        ("call", "target"): 1, ("return", "target"): 1}
    pool = [r for r in ours if r["pid"] not in (parent, child)]
    assert 1 <= len({r["pid"] for r in pool}) <= 2  # one worker may take every task
    assert count_by(pool, "event", "qualname") == {("call", "work"): 100,
                                                   ("return", "work"): 100}
    check_nesting(ours)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_and_forkserver_children_are_traced_into_the_same_file(tmp_path, method):
    """Process and Pool children of both start methods append whole lines to run's JSONL file."""
    trace = tmp_path / "trace.jsonl"
    parent, child = _run(tmp_path, "file://%s?format=jsonl" % trace, method)
    _check_children(read_jsonl(trace), parent, child)


def test_include_main_covers_the_script_in_spawned_children(tmp_path):
    """--include __main__ also matches the script re-imported as __mp_main__ in a spawned child."""
    trace = tmp_path / "trace.jsonl"
    parent, child = _run(tmp_path, "file://%s?format=jsonl" % trace, "spawn", "__main__")
    _check_children(read_jsonl(trace), parent, child)


def test_spawned_children_append_to_the_binary_trace(tmp_path):
    """Spawned children add their own chunks to run's binary trace, which decodes whole."""
    trace = tmp_path / "trace.itr"
    parent, child = _run(tmp_path, "binary://%s" % trace, "spawn")
    _check_children(decode_binary(trace, tmp_path), parent, child)


def test_spawned_children_write_perfetto_files_of_their_own(tmp_path):
    """A Perfetto file is one process's JSON array: each spawned child writes trace.PID.json."""
    parent, child = _run(tmp_path, "perfetto://%s" % (tmp_path / "trace.json"), "spawn")
    events = json.loads((tmp_path / "trace.json").read_text())
    assert {e["pid"] for e in events} == {parent}
    own = json.loads((tmp_path / ("trace.%d.json" % child)).read_text())
    assert [e["name"] for e in own if e["ph"] == "B" and "<module>" not in e["name"]] == \
        ["__mp_main__.target"] + ["__mp_main__.work"] * 100


CHILDREN_OF_ANOTHER_KIND = """
import multiprocessing, os, subprocess, sys

def target():
    pass

if __name__ == "__main__":
    p = multiprocessing.get_context("spawn").Process(target=target)
    p.start()
    p.join(60)
    child = subprocess.run([sys.executable, "-c", "import sys; print(sorted(m for m in "
                            "sys.modules if m.startswith(('infi', 'my'))))"],
                           capture_output=True, text=True, timeout=60)
    print("subprocess", child.stdout.strip(), repr(child.stderr))
"""


def _run_with_a_sitecustomize(tmp_path):
    """CHILDREN_OF_ANOTHER_KIND under run, with a sitecustomize of the user's on
    PYTHONPATH that imports a module named mysite; (stdout lines, trace)."""
    write(tmp_path / "prog.py", CHILDREN_OF_ANOTHER_KIND)
    write(tmp_path / "site" / "sitecustomize.py", "import mysite")
    write(tmp_path / "site" / "mysite.py", "import os\nopen('mysite-%d' % os.getpid(), 'w')")
    trace = tmp_path / "trace.jsonl"
    proc = run_cli(tmp_path, "run", "--no-summary", "--include", "prog.py", "--sink",
                   "file://%s?format=jsonl" % trace, "prog.py",
                   env={"PYTHONPATH": str(tmp_path / "site")})
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines()), read_jsonl(trace)


def test_a_sitecustomize_of_the_users_still_runs_in_children(tmp_path):
    """run's start-up hook hides no sitecustomize: the user's runs in the traced spawned child."""
    _, records = _run_with_a_sitecustomize(tmp_path)
    (child,) = {r["pid"] for r in records if r["qualname"] == "target"}
    assert (tmp_path / ("mysite-%d" % child)).exists()


def test_other_python_subprocesses_are_left_untraced(tmp_path):
    """A python subprocess that multiprocessing did not start loads no infi_tracing, writes no trace."""
    lines, _ = _run_with_a_sitecustomize(tmp_path)
    assert lines["subprocess"] == "['mysite'] ''"
