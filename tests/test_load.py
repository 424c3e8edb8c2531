"""Load: many threads of many greenlets lossless and nested, thread churn with flat
memory, and greenlets that die in odd ways leaving no state behind."""

import pytest

from helpers import BACKENDS, ONLY_MAIN, check_nesting, decode_binary, run_for_fields, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

THREADS_OF_GREENLETS = """
import threading
import gevent
import infi_tracing
THREADS, GREENLETS = 32, 200
infi_tracing.configure_sinks(["binary://" + %(path)r])
NAMES = {"thread_main", "job", "middle", "leaf"}
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name in NAMES, backend=%(backend)r,
                         overflow="block", buffer_size=65536)

def leaf(i):
    gevent.sleep(0)              # every greenlet switches in the middle of its chain
    return i

def middle(i):
    return leaf(i) + leaf(i + 1) + leaf(i + 2)

def job(i):
    return middle(i)

def thread_main(results, slot):
    jobs = [gevent.spawn(job, i) for i in range(GREENLETS)]
    gevent.joinall(jobs)     # one hub per thread: all 200 greenlets alive at once
    results[slot] = [j.value for j in jobs]
    gevent.get_hub().destroy(destroy_loop=True)

results = [None] * THREADS
threads = [threading.Thread(target=thread_main, args=(results, k)) for k in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert results == [[3 * i + 3 for i in range(GREENLETS)]] * THREADS
stats = infi_tracing.tracing_stats()
infi_tracing.unset_tracing()
print("tids", *[t.native_id for t in threads])
print("stats", stats["records"], stats["lost"])
"""


def test_32_threads_of_200_greenlets_lossless_and_nested(tmp_path, backend):
    """32 threads x 200 gevent greenlets, block mode, binary sink: exact counts, every stream nested."""
    trace = tmp_path / "trace.itr"
    program = THREADS_OF_GREENLETS % {"path": str(trace), "backend": backend}
    lines = run_for_fields(tmp_path, program, timeout=120)
    tids = set(map(int, lines["tids"].split()))
    produced, lost = map(int, lines["stats"].split())
    records = decode_binary(trace, tmp_path)
    assert not [r for r in records if r["event"] == "lost"] and lost == 0
    per_greenlet_records = 2 * (1 + 1 + 3)   # job, middle, three leaves
    per_thread = 200 * per_greenlet_records + 2
    print("32 threads x 200 greenlets: %d records produced, %d decoded, %d lost"
          % (produced, len(records), lost))
    assert produced == len(records) == 32 * per_thread
    pairs = check_nesting(records)
    by_thread = {}
    for (_, tid, _greenlet), n in pairs.items():
        by_thread.setdefault(tid, []).append(n)
    assert set(by_thread) == tids
    for tid, counts in by_thread.items():
        # 200 job greenlets of 5 pairs each, and the thread's own greenlet: thread_main
        assert sorted(counts) == [1] + [5] * 200, tid
    job_greenlets = {(tid, g) for (_, tid, g), n in pairs.items() if n == 5}
    assert len(job_greenlets) == 32 * 200


THREAD_CHURN = """
import os, threading
import infi_tracing
infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "short_life", backend=%r)
TOTAL, BATCH, PAGE = 10_000, 50, os.sysconf("SC_PAGE_SIZE")

def short_life(i):
    return i

def body(i):
    for k in range(3):
        short_life(i)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def churn(start, stop):
    for first in range(start, stop, BATCH):
        batch = [threading.Thread(target=body, args=(i,)) for i in range(first, first + BATCH)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()

churn(0, 2000)
infi_tracing.flush_tracing()   # rings of exited threads are freed by the drain
rss_2000 = rss()
churn(2000, TOTAL)
stats = infi_tracing.tracing_stats()
rss_10000 = rss()
infi_tracing.unset_tracing()
print("rss", rss_2000, rss_10000)
print("exited", stats["exited_threads"]["threads"], stats["exited_threads"]["records"],
      stats["exited_threads"]["lost"], len(stats["threads"]))
"""


@pytest.fixture(scope="module", params=BACKENDS)
def churn(request, tmp_path_factory):
    """One THREAD_CHURN run per backend: (RSS figures, exited-thread figures, trace path)."""
    tmp_path = tmp_path_factory.mktemp("churn-" + request.param)
    lines = run_for_fields(tmp_path, THREAD_CHURN % request.param, timeout=120)
    return ([int(x) for x in lines["rss"].split()], [int(x) for x in lines["exited"].split()],
            tmp_path / "trace.jsonl")


def test_thread_churn_leaves_memory_flat(churn):
    """10,000 short traced threads: RSS after the last 8,000 grows by less than 8 MiB."""
    (rss_2000, rss_10000), _, trace = churn
    print("RSS after 2,000 threads: %.1f MiB, after 10,000: %.1f MiB"
          % (rss_2000 / 2**20, rss_10000 / 2**20))
    assert rss_10000 - rss_2000 < 8 * 2**20, (rss_2000, rss_10000)
    with trace.open() as f:
        calls = sum(1 for line in f if '"event":"call"' in line)
    assert calls == 30_000


def test_thread_churn_is_accounted_in_exited_threads(churn):
    """tracing_stats() counts the 10,000 exited threads and their records; only main is live."""
    _, (threads, records, lost, live), _ = churn
    assert (threads, records, lost) == (10_000, 60_000, 0)
    assert live == 1


DYING_GREENLETS = """
import gc, weakref
import greenlet, gevent

def blocked():
    main.switch()             # suspended here for good

def victim_chain():
    return blocked()

def never_runs():
    return 1

def probe(i):
    return i

def failing_chain():
    return failing_leaf()

def failing_leaf():
    raise ValueError("dies")

def gevent_blocked():
    gevent.sleep(10)

def gevent_victim():
    return gevent_blocked()

main = greenlet.getcurrent()
refs = []
probe(0)
# 1. suspended mid-stack, then dropped: greenlet kills it with GreenletExit
g = greenlet.greenlet(victim_chain)
g.switch()
refs.append(weakref.ref(g))
del g
# 2. never started, then dropped
g = greenlet.greenlet(never_runs)
refs.append(weakref.ref(g))
del g
# 3. died of an exception mid-stack, inside a reference cycle: only gc.collect() frees it
g = greenlet.greenlet(failing_chain)
g.cycle = g
try:
    g.switch()
except ValueError:
    pass
refs.append(weakref.ref(g))
del g
# 4. gevent: killed mid-stack, and killed before it ever ran
v = gevent.spawn(gevent_victim)
gevent.sleep(0)
v.kill()
n = gevent.spawn(gevent_victim)
n.kill()
gevent.sleep(0)           # lets the hub drop its last references to them
refs += [weakref.ref(v), weakref.ref(n)]
del v, n
gc.collect()
gc.collect()
print("alive", sum(1 for r in refs if r() is not None))
# afterwards: a fresh greenlet chain and the main greenlet still nest
g = greenlet.greenlet(victim_chain)
g.switch()
g.throw(greenlet.GreenletExit)
probe(1)
"""


def test_killed_unstarted_and_collected_greenlets_leave_no_state(tmp_path, backend):
    """Greenlets killed, never started or collected mid-stack: all freed, every stream still nests."""
    traced = run_traced(tmp_path, DYING_GREENLETS, backend=backend, setup=ONLY_MAIN, tracing_args="filter=only_main")
    assert "alive 0" in traced.stdout, traced.stdout + traced.stderr
    records = [r for r in traced.events() if r["module"] == "__main__"
               and r["qualname"] != "<module>"]
    check_nesting(records)
    probes = [(r["event"], r["depth"]) for r in records if r["qualname"] == "probe"]
    assert probes == [("call", 0), ("return", 0)] * 2, "the main greenlet's depth drifted"
    unwound = [r["qualname"] for r in records if r["event"] == "exception"]
    assert sorted(unwound) == sorted(["blocked", "victim_chain", "failing_leaf", "failing_chain",
                                      "gevent_blocked", "gevent_victim",
                                      "blocked", "victim_chain"])
    assert "never_runs" not in {r["qualname"] for r in records}
