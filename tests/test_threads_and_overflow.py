"""All threads are traced; overflow drops are counted, blocking mode is exact."""

from collections import Counter

import pytest

from helpers import CALLS_OF_F, SINK_CLASSES, check_nesting, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these


# sinks: a Slow one (from SINK_CLASSES), then the JSON-lines file run_traced reads
SLOW_THEN_JSONL = """
infi_tracing.set_sinks([Slow(), infi_tracing.sinks.FileSink("trace.jsonl", "jsonl")])
"""


def test_existing_and_later_threads_are_traced(tmp_path, backend):
    """A thread running before set_tracing() and one started after are both traced."""
    traced = run_traced(tmp_path, """
        started.wait()
        go.set()
        early.join()
        late = threading.Thread(target=work, args=("late",))
        late.start()
        late.join()
    """, backend=backend, setup="""
        import threading
        started, go = threading.Event(), threading.Event()

        def work(name):
            return name

        def early_main():
            started.set()
            go.wait()
            while not done:
                work("early")
                break

        done = False
        early = threading.Thread(target=early_main)
        early.start()
    """)
    calls = [r for r in traced.events("call") if r["qualname"] == "work"]
    assert len({r["tid"] for r in calls}) == 2
    check_nesting([r for r in traced.events() if r["qualname"] == "work"])


def test_unset_tracing_stops_every_thread(tmp_path, backend):
    """After unset_tracing() no thread records anything."""
    traced = run_traced(tmp_path, """
        import threading
        def work():
            return 1
        def loop():
            for _ in range(100):
                work()
                stop.wait(0.001)
        stop = threading.Event()
        t = threading.Thread(target=loop)
        t.start()
        infi_tracing.unset_tracing()
        count = infi_tracing.tracing_stats()["records"]
        t.join()
        assert infi_tracing.tracing_stats()["records"] == count
    """, backend=backend)
    assert traced.returncode == 0


def test_block_mode_is_exact(tmp_path, backend):
    """overflow='block' with a small ring: N calls give exactly N calls and N returns."""
    n = 200_000
    traced = run_traced(tmp_path, CALLS_OF_F % n, backend=backend,
                        tracing_args="overflow='block', buffer_size=65536")
    counts = Counter(r["event"] for r in traced.records if r.get("qualname") == "f")
    assert counts == {"call": n, "return": n}
    assert not traced.events("lost")


def test_block_mode_is_exact_across_threads(tmp_path, backend):
    """Four threads in block mode: every thread's records arrive, nested."""
    traced = run_traced(tmp_path, """
        import threading
        def f(i):
            return g(i)
        def g(i):
            return i
        def loop():
            for i in range(20_000):
                f(i)
        threads = [threading.Thread(target=loop) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
    """, backend=backend, tracing_args="overflow='block', buffer_size=65536")
    records = [r for r in traced.events() if r["qualname"] in ("f", "g")]
    pairs = check_nesting(records)
    assert sorted(pairs.values()) == [40_000] * 4


def test_drop_mode_accounts_for_every_record(tmp_path, backend):
    """A sink slower than the program: delivered + reported lost == produced."""
    n = 100_000
    traced = run_traced(tmp_path, CALLS_OF_F % n + """
infi_tracing.flush_tracing()
stats = infi_tracing.tracing_stats()
print("lost", stats["lost"], "records", stats["records"])
""", backend=backend, setup=SINK_CLASSES + SLOW_THEN_JSONL,
                        tracing_args="overflow='drop', buffer_size=65536", sinks_configured=True)
    f_records = [r for r in traced.records if r.get("qualname") == "f"]
    lost = sum(r["count"] for r in traced.events("lost"))
    words = traced.stdout.split()
    stats_lost, stats_records = int(words[1]), int(words[3])
    assert lost > 0, "the ring never overflowed: the test proves nothing"
    assert lost == stats_lost
    assert len(f_records) + lost == 2 * n
    assert stats_records + stats_lost == 2 * n


def test_lost_records_appear_where_they_happened(tmp_path, backend):
    """A 'lost N records' line sits in the text stream of the thread that dropped."""
    traced = run_traced(tmp_path, CALLS_OF_F % 50_000, backend=backend,
                        setup=SINK_CLASSES + SLOW_THEN_JSONL, tracing_args="buffer_size=65536",
                        sinks_configured=True)
    lost = traced.events("lost")
    assert lost and all(r["count"] > 0 and r["tid"] > 0 for r in lost)


def test_drain_is_not_a_python_thread_and_gevent_patching_is_harmless(tmp_path, backend):
    """After monkey.patch_all() tracing works and no extra Python thread exists."""
    traced = run_traced(tmp_path, """
        import threading
        def f():
            gevent.sleep(0)
            return 1
        gevent.joinall([gevent.spawn(f) for _ in range(10)])
        print("threads", len(threading.enumerate()))
    """, backend=backend, setup="""
        from gevent import monkey
        monkey.patch_all()
        import gevent
    """)
    assert "threads 1" in traced.stdout
    assert traced.names().count("f") == 10


def test_idle_drain_does_not_spin(tmp_path, backend):
    """With tracing on and nothing happening, the process uses almost no CPU."""
    traced = run_traced(tmp_path, """
        import resource, time
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(1.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print("cpu", used)
    """, backend=backend)
    assert float(traced.stdout.split()[1]) < 0.2
