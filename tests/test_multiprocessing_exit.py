"""multiprocessing's forked children leave through os._exit(): they still deliver
every record, so each call has its return (Process and Pool workers)."""

import pytest

from helpers import BACKENDS, check_nesting, count_by, read_jsonl, run_for_fields

pytestmark = pytest.mark.native  # make test-asan runs these

WORKERS = """
import os, sys, multiprocessing, warnings
import infi_tracing
warnings.filterwarnings("ignore", "This process", DeprecationWarning)
N = 200

def work(i):
    return i

def readme_worker():
    try:
        for i in range(N):
            work(i)
    finally:
        infi_tracing.flush_tracing()  # the README's old advice: the worker's return came after it

def plain_worker():
    for i in range(N):
        work(i)

# multiprocessing.pool.worker is the pool worker's loop: it returns when the pool closes
NAMES = {"work", "readme_worker", "plain_worker", "worker"}

if __name__ == "__main__":
    infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
    infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in NAMES,
                             backend=%(backend)r, overflow="block")
    ctx = multiprocessing.get_context(%(method)r)
    procs = [ctx.Process(target=readme_worker), ctx.Process(target=plain_worker)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    pool = ctx.Pool(2)
    assert pool.map(work, range(N), chunksize=10) == list(range(N))
    pool.close()
    pool.join()
    infi_tracing.unset_tracing()
    print("pids", os.getpid(), *[p.pid for p in procs])
    print("exitcodes", *[p.exitcode for p in procs])
"""


@pytest.fixture(scope="module", params=BACKENDS)
def workers_run(request, tmp_path_factory):
    """One run of WORKERS per backend: (parent, [readme, plain], records)."""
    tmp_path = tmp_path_factory.mktemp("mp-fork-" + request.param)
    lines = run_for_fields(tmp_path, WORKERS % {"backend": request.param, "method": "fork"},
                           timeout=120)
    assert lines["exitcodes"].split() == ["0", "0"]
    parent, *children = map(int, lines["pids"].split())
    return parent, children, read_jsonl(tmp_path / "trace.jsonl")


def _calls_and_returns(records, pid):
    """{(event, qualname): count} of one process."""
    return dict(count_by([r for r in records if r["pid"] == pid], "event", "qualname"))


def test_worker_flushing_in_a_finally_delivers_its_own_return(workers_run):
    """A Process target that flushes in a finally: its own return arrives too."""
    _, (readme, _), records = workers_run
    assert _calls_and_returns(records, readme) == {
        ("call", "work"): 200, ("return", "work"): 200,
        ("call", "readme_worker"): 1, ("return", "readme_worker"): 1}
    check_nesting([r for r in records if r["pid"] == readme])


def test_worker_without_a_flush_delivers_everything(workers_run):
    """A Process target that does nothing special: every call and return arrives."""
    _, (_, plain), records = workers_run
    assert _calls_and_returns(records, plain) == {
        ("call", "work"): 200, ("return", "work"): 200,
        ("call", "plain_worker"): 1, ("return", "plain_worker"): 1}
    check_nesting([r for r in records if r["pid"] == plain])


def test_pool_workers_deliver_every_return(workers_run):
    """Pool(2) workers, closed and joined: every task's call and return, and each worker loop's."""
    parent, children, records = workers_run
    pool = [r for r in records if r["pid"] not in children and r["pid"] != parent]
    pids = {r["pid"] for r in pool}
    assert len(pids) == 2
    assert dict(count_by(pool, "event", "qualname")) == {
        ("call", "work"): 200, ("return", "work"): 200,
        ("call", "worker"): 2, ("return", "worker"): 2}
    check_nesting(pool)
