"""overflow="drop" accounting, per thread: records written + records reported lost
== records produced, exactly, in the stream and in tracing_stats()."""

import json

import pytest

from helpers import BACKENDS, lost_by_tid, read_jsonl, run_python

pytestmark = pytest.mark.native  # make test-asan runs these

THREADS, CALLS = 4, 30_000

SLOW_SINK_PROGRAM = """
import json, threading, time
import infi_tracing, infi_tracing.sinks
THREADS, CALLS = %(threads)d, %(calls)d

class SlowSink:
    # A Python sink far slower than the program: the rings overflow.
    def __init__(self):
        self.per_tid = {}
    def write(self, batch):
        time.sleep(0.005)
        for rec in batch:
            if rec["event"] != "lost":
                self.per_tid[rec["tid"]] = self.per_tid.get(rec["tid"], 0) + 1
    def flush(self):
        pass
    def close(self):
        pass

slow = SlowSink()
infi_tracing.set_sinks([slow, infi_tracing.sinks.FileSink("trace.jsonl", "jsonl")])
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in ("f", "g"), backend=%(backend)r,
                         overflow="drop", buffer_size=65536)

def g(i):
    return i

def f(i):
    return g(i)

def worker(ready, release):
    for i in range(CALLS):
        f(i)
        if i %% 1000 == 0:
            time.sleep(0.01)   # the drain catches up now and then: drops come in bursts
    ready.release()
    release.wait()      # alive while the main thread reads the statistics

ready, release = threading.Semaphore(0), threading.Event()
threads = [threading.Thread(target=worker, args=(ready, release)) for _ in range(THREADS)]
for t in threads:
    t.start()
for _ in threads:
    ready.acquire()
stats = infi_tracing.tracing_stats()    # flushes first: pending drops are reported
release.set()
for t in threads:
    t.join()
infi_tracing.unset_tracing()
print(json.dumps({"tids": [t.native_id for t in threads], "stats": stats,
                  "python_sink": slow.per_tid}))
"""


@pytest.fixture(scope="module", params=BACKENDS)
def drop_run(request, tmp_path_factory):
    """One slow-sink run per backend: (thread ids, tracing_stats(), Python sink counts, records)."""
    tmp_path = tmp_path_factory.mktemp("drop-" + request.param)
    proc = run_python(tmp_path, SLOW_SINK_PROGRAM % {"threads": THREADS, "calls": CALLS,
                                                     "backend": request.param}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    python_sink = {int(tid): n for tid, n in out["python_sink"].items()}
    return out["tids"], out["stats"], python_sink, read_jsonl(tmp_path / "trace.jsonl")


def _written_by_tid(records):
    written = {}
    for r in records:
        if r["event"] != "lost":
            written[r["tid"]] = written.get(r["tid"], 0) + 1
    return written


def test_stream_accounts_for_every_record_per_thread(drop_run):
    """Per thread: records in the file + the 'lost' counts in its stream == 4 x calls produced."""
    tids, _, _, records = drop_run
    written, lost = _written_by_tid(records), lost_by_tid(records)
    produced = 4 * CALLS      # f and g, call and return
    print("per thread (written, lost): %s" % [(written.get(t, 0), lost.get(t, 0)) for t in tids])
    assert sum(lost.values()) > 0, "no ring overflowed: the test proves nothing"
    notices = [r["tid"] for r in records if r["event"] == "lost"]
    assert max(notices.count(t) for t in tids) > 1, "drops should be reported where they happened"
    assert set(written) | set(lost) == set(tids)
    for tid in tids:
        assert written.get(tid, 0) + lost.get(tid, 0) == produced, tid


def test_stats_account_for_every_record_per_thread(drop_run):
    """tracing_stats()['threads']: records + lost == produced per thread, matching the stream."""
    tids, stats, _, records = drop_run
    written, lost = _written_by_tid(records), lost_by_tid(records)
    per_thread = {t["tid"]: t for t in stats["threads"]}
    for tid in tids:
        assert per_thread[tid]["records"] + per_thread[tid]["lost"] == 4 * CALLS, tid
        assert per_thread[tid]["records"] == written.get(tid, 0), tid
        assert per_thread[tid]["lost"] == lost.get(tid, 0), tid
    assert stats["lost"] == sum(lost.values())
    assert stats["records"] == sum(written.values())


def test_every_sink_gets_the_same_records(drop_run):
    """The slow Python sink and the file sink received the same records per thread; none erred."""
    tids, stats, python_sink, records = drop_run
    assert python_sink == _written_by_tid(records)
    assert [s["errors"] for s in stats["sinks"]] == [0, 0]
