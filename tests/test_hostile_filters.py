"""Hostile trace filters: raising, junk answers, changing answers, blocking, signals
arriving while they run, switching greenlets, calling set_tracing/unset_tracing: the traced
program never notices, and the trace stays well-formed."""

import signal
import textwrap

import pytest

from helpers import check_nesting, finish, run_traced, start_program, wait_for_line

pytestmark = pytest.mark.native  # make test-asan runs these

# ---- filters ---------------------------------------------------------------


def test_first_filter_answer_sticks_for_a_code_object(tmp_path, backend):
    """A filter changing its mind is asked once per code object; its first answer holds, for twins too."""
    traced = run_traced(tmp_path, """
        import types

        def first_yes(i):
            return i

        def first_no(i):
            return i

        for i in range(10):
            first_yes(i)
            first_no(i)
        twin_yes = types.FunctionType(first_yes.__code__, {"__name__": "elsewhere"}, "twin")
        twin_no = types.FunctionType(first_no.__code__, {"__name__": "elsewhere"}, "twin")
        twin_yes(1)
        twin_no(1)
        print(sorted(asked.items()))
    """, backend=backend, setup="""
        asked = {}

        def fickle(frame):
            name = frame.f_code.co_name
            if name not in ("first_yes", "first_no"):
                return False
            asked[name] = asked.get(name, 0) + 1
            yes = asked[name] % 2 == 1      # yes, no, yes, no...
            return yes if name == "first_yes" else not yes
    """, tracing_args="filter=fickle")
    assert "[('first_no', 1), ('first_yes', 1)]" in traced.stdout
    assert traced.names() == ["first_yes"] * 11
    check_nesting(traced.events())


@pytest.mark.parametrize("hostility", ["raise Hostile('from the filter')",
                                       "return JunkWithBadRepr()"])
def test_every_bad_filter_answer_warns_once(tmp_path, backend, hostility):
    """A filter raising a BaseException, or returning junk whose repr raises: one warning, one error."""
    traced = run_traced(tmp_path, """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(3):
                victim()
            bystander()
        stats = infi_tracing.tracing_stats()
        print("went on", len(caught), stats["filter_errors"], asked)
    """, backend=backend, setup="""
        class Hostile(BaseException):
            pass

        class JunkWithBadRepr:
            def __repr__(self):
                raise RuntimeError("no repr either")

        asked = []

        def hostile(frame):
            if frame.f_code.co_name == "victim":
                asked.append(1)
                %s
            return frame.f_code.co_name == "bystander"

        def victim():
            return 1

        def bystander():
            return 2
    """ % hostility, tracing_args="filter=hostile")
    words = traced.stdout.split()
    assert words[:2] == ["went", "on"], traced.stdout
    assert traced.names() == ["bystander"]
    assert words[2:] == ["1", "1", "[1]"], \
        "expected one warning and one filter error, got %s warnings, %s errors" % tuple(words[2:4])


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_exception_raised_while_the_filter_runs_reaches_the_program(tmp_path, backend,
                                                                            sig):
    """Ctrl-C, or a SIGTERM handler's sys.exit(), arriving while a slow filter runs reaches the program."""
    proc = start_program(tmp_path, textwrap.dedent("""
        import signal, sys, time
        import infi_tracing
        infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

        def slow_filter(frame):
            if frame.f_code.co_name == "victim":
                print("filtering", flush=True)
                time.sleep(10)          # the signal arrives here
            return True

        def victim():
            return 1

        infi_tracing.set_tracing(slow_filter, backend=%r)
        try:
            victim()
            time.sleep(0.5)             # time for a deferred exception to surface
        except KeyboardInterrupt:
            print("KeyboardInterrupt reached the program", flush=True)
            sys.exit(130)
        print("the signal never reached the program", flush=True)
    """) % backend)
    wait_for_line(proc, "filtering")
    code, out, err = finish(proc, getattr(signal, sig))
    expected = 130 if sig == "SIGINT" else 143
    assert code == expected, "exit code %s (expected %d): %s" % (code, expected, out.strip())


def test_blocking_filter_delays_but_does_not_stop_the_program(tmp_path, backend):
    """A filter sleeping 0.2 s per code object: the program completes; other threads run meanwhile."""
    traced = run_traced(tmp_path, """
        import threading
        stop = threading.Event()
        counter = [0]

        def spinner():
            while not stop.is_set():
                tick()
                counter[0] += 1
                time.sleep(0.001)

        def tick():
            pass

        def a(): return b()
        def b(): return c()
        def c(): return 1

        t = threading.Thread(target=spinner)
        t.start()
        before = counter[0]
        for _ in range(3):
            a()
        during = counter[0] - before
        stop.set()
        t.join()
        print("spinner ran", during > 0)
    """, backend=backend, setup="""
        import time

        def slow(frame):
            if frame.f_code.co_name in ("a", "b", "c"):
                time.sleep(0.2)
                return True
            return frame.f_code.co_name == "tick"
    """, tracing_args="filter=slow", timeout=60)
    assert "spinner ran True" in traced.stdout
    assert [n for n in traced.names() if n != "tick"] == ["a", "b", "c"] * 3
    check_nesting(traced.events())


def test_filter_yielding_to_the_gevent_hub_loses_no_greenlet_silently(tmp_path, backend):
    """A filter yielding to the gevent hub: greenlets run meanwhile are traced, or counted as lost."""
    traced = run_traced(tmp_path, """
        def leaf(i):
            gevent.sleep(0)
            return i

        def middle(i):
            return leaf(i) + leaf(i)

        def job(i):
            return middle(i)

        jobs = [gevent.spawn(job, i) for i in range(20)]
        gevent.joinall(jobs)
        assert [j.value for j in jobs] == [2 * i for i in range(20)]
    """, backend=backend, setup="""
        from gevent import monkey
        monkey.patch_all()
        import time, gevent

        def slow_main_only(frame):
            if frame.f_globals.get("__name__") != "__main__":
                return False
            time.sleep(0.02)           # patched: yields to the hub from inside the hook
            return True
    """, tracing_args="filter=slow_main_only", timeout=60)
    records = [r for r in traced.events() if r["qualname"] in ("job", "middle", "leaf")]
    pairs = check_nesting(records)
    lost = sum(r["count"] for r in traced.events("lost"))
    assert len(pairs) + lost >= 20, \
        "only %d of 20 greenlets traced, none reported lost" % len(pairs)


def test_filter_calling_unset_tracing_stops_cleanly(tmp_path, backend):
    """A filter calling unset_tracing(): no deadlock; the triggering call is the last record."""
    traced = run_traced(tmp_path, """
        before(1)
        stopper(1)
        after(1)
        print("active", infi_tracing.tracing_stats()["active"])
        infi_tracing.set_tracing(stopping_filter, backend=%r)
        again(1)
    """ % backend, backend=backend, setup="""
        def stopping_filter(frame):
            if frame.f_code.co_name == "stopper":
                infi_tracing.unset_tracing()
            return frame.f_code.co_name in ("before", "stopper", "after", "again")

        def before(i): return i
        def stopper(i): return i
        def after(i): return i
        def again(i): return i
    """, tracing_args="filter=stopping_filter", timeout=60)
    assert "active False" in traced.stdout
    assert [(r["event"], r["qualname"]) for r in traced.events()] == [
        ("call", "before"), ("return", "before"), ("call", "stopper"),
        ("call", "again"), ("return", "again")]


def test_filter_calling_set_tracing_restarts_with_the_new_settings(tmp_path, backend):
    """A filter calling set_tracing(): no deadlock; from the triggering call on, the new settings hold."""
    traced = run_traced(tmp_path, """
        plain(1)
        restarter(2)
        plain(3)
    """, backend=backend, setup="""
        restarted = []

        def restarting_filter(frame):
            if frame.f_code.co_name == "restarter" and not restarted:
                restarted.append(1)
                infi_tracing.set_tracing(restarting_filter, backend=%r,
                                         level=infi_tracing.TRACE_FUNC_PRIMITIVES)
            return frame.f_code.co_name in ("plain", "restarter")

        def plain(i): return i
        def restarter(i): return i
    """ % backend, tracing_args="filter=restarting_filter", timeout=60)
    assert [(r["event"], r["qualname"], r.get("args")) for r in traced.events()] == [
        ("call", "plain", None), ("return", "plain", None),
        ("call", "restarter", {"i": "2"}), ("return", "restarter", None),
        ("call", "plain", {"i": "3"}), ("return", "plain", None)]
