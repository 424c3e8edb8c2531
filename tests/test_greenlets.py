"""Per-greenlet state: depth, ids and exclusion follow greenlet switches."""

from collections import defaultdict

import pytest

from helpers import ONLY_MAIN, TWO_GREENLETS, check_nesting, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these


def test_interleaved_greenlets_nest_separately(tmp_path, backend):
    """Two greenlets switching mid-chain: each return pairs with its own call."""
    traced = run_traced(tmp_path, TWO_GREENLETS, backend=backend)
    records = [r for r in traced.events() if r["module"] == "__main__"]
    pairs = check_nesting(records)
    by_greenlet = defaultdict(list)
    for r in records:
        by_greenlet[r["greenlet"]].append((r["event"], r["qualname"], r["depth"]))
    chains = {seq[0][1]: seq for seq in by_greenlet.values()}
    assert chains["a_chain"][:3] == [("call", "a_chain", 0), ("call", "a_leaf", 1),
                                     ("return", "a_leaf", 1)]
    assert chains["b_chain"][:3] == [("call", "b_chain", 0), ("call", "b_mid", 1),
                                     ("call", "b_leaf", 2)]
    assert len(chains["a_chain"]) == 6 and len(chains["b_chain"]) == 10
    assert sum(pairs.values()) == 8


def test_greenlet_ids_are_small_increasing_integers(tmp_path, backend):
    """Greenlet ids are small integers assigned on first sight, never id()."""
    traced = run_traced(tmp_path, TWO_GREENLETS, backend=backend)
    first_seen = list(dict.fromkeys(r["greenlet"] for r in traced.events()))
    assert first_seen == sorted(first_seen) and len(first_seen) == 2  # ga, gb (main: none)
    assert max(first_seen) < 10


def test_thousand_gevent_greenlets_each_nest(tmp_path, backend):
    """1,000 gevent greenlets sleeping mid-chain: every greenlet's sequence nests."""
    traced = run_traced(tmp_path, """
        import gevent

        def leaf(i):
            gevent.sleep(0)
            return i

        def middle(i):
            return leaf(i) + leaf(i + 1)

        def job(i):
            return middle(i)

        jobs = [gevent.spawn(job, i) for i in range(1000)]
        gevent.joinall(jobs)
        assert [j.value for j in jobs] == [2 * i + 1 for i in range(1000)]
    """, backend=backend, setup=ONLY_MAIN, tracing_args="filter=only_main, overflow='block'")
    records = [r for r in traced.events() if r["qualname"] in ("job", "middle", "leaf")]
    pairs = check_nesting(records)
    assert len(pairs) == 1000
    assert set(pairs.values()) == {4}


def test_gevent_kill_and_greenlet_exit_leave_no_dangling_state(tmp_path, backend):
    """A gevent greenlet killed mid-chain unwinds; the others still nest."""
    traced = run_traced(tmp_path, """
        import gevent

        def blocked():
            gevent.sleep(10)

        def victim():
            return blocked()

        def survivor():
            gevent.sleep(0.01)
            return 1

        v = gevent.spawn(victim)
        s = gevent.spawn(survivor)
        gevent.sleep(0)
        v.kill()          # throws GreenletExit into victim
        s.join()
        never = gevent.spawn(victim)
        never.kill()      # killed before it ever ran
        assert s.value == 1
    """, backend=backend, setup=ONLY_MAIN, tracing_args="filter=only_main")
    records = [r for r in traced.events() if r["qualname"] in ("victim", "blocked", "survivor")]
    check_nesting(records)
    exits = [r for r in records if r["event"] == "exception"]
    assert [r["qualname"] for r in exits] == ["blocked", "victim"]
    assert traced.names("call").count("victim") == 1


def test_greenlet_throw_unwinds_the_target_chain(tmp_path, backend):
    """greenlet.throw() into a suspended chain records its unwinding in that greenlet."""
    traced = run_traced(tmp_path, """
        import greenlet

        def inner():
            main.switch()

        def outer():
            try:
                inner()
            except ValueError:
                return "handled"

        main = greenlet.getcurrent()
        g = greenlet.greenlet(outer)
        g.switch()
        assert g.throw(ValueError) == "handled"
    """, backend=backend)
    records = [r for r in traced.events() if r["qualname"] in ("inner", "outer")]
    check_nesting(records)
    assert [(r["event"], r["qualname"]) for r in records] == [
        ("call", "outer"), ("call", "inner"), ("exception", "inner"), ("return", "outer")]


# main switches into a greenlet that switches back, then lets it end
SWITCH_TWICE = """
def work():
    main.switch()
main = greenlet.getcurrent()
g = greenlet.greenlet(work)
g.switch()
g.switch()
"""


def test_previous_greenlet_tracer_is_chained(tmp_path, backend):
    """A greenlet tracer installed before tracing still sees every switch."""
    traced = run_traced(tmp_path, SWITCH_TWICE + 'print("seen", len(seen))', backend=backend,
                        setup="""
        import greenlet
        seen = []
        greenlet.settrace(lambda event, args: seen.append(event))
    """)
    assert "seen 4" in traced.stdout  # main->g, g->main, main->g, g ends->main
    assert traced.names() == ["work"]


def test_exclusion_is_per_greenlet(tmp_path, backend):
    """exclude_from_traces_context in one greenlet does not hide another's calls."""
    traced = run_traced(tmp_path, """
        import greenlet

        def hidden():
            return 1

        def visible():
            return 2

        def quiet():
            with exclude_from_traces_context():
                hidden()
                main.switch()
                hidden()

        def loud():
            visible()
            main.switch()
            visible()

        main = greenlet.getcurrent()
        q, l = greenlet.greenlet(quiet), greenlet.greenlet(loud)
        q.switch(); l.switch(); q.switch(); l.switch()
    """, backend=backend)
    names = traced.names()
    assert "hidden" not in names
    assert names.count("visible") == 2 and names.count("loud") == 1


def test_importing_greenlet_while_tracing_keeps_every_record(tmp_path, backend):
    """greenlet first imported under tracing: no record lost, nesting intact."""
    traced = run_traced(tmp_path, "import greenlet" + SWITCH_TWICE, backend=backend)
    check_nesting(traced.events())
    assert traced.names().count("work") == 1


def test_each_record_names_its_greenlet_when_records_are_dropped(tmp_path, backend):
    """Compact records (greenlet implied) keep their greenlet across switches and drops."""
    traced = run_traced(tmp_path, """
        import greenlet

        def make(i):
            ns = {}
            exec("def work_%d(x):\\n    return x" % i, ns)
            work = ns["work_%d" % i]

            def run():
                for _ in range(3000):
                    for x in range(20):
                        work(x)
                    main.switch()
            return greenlet.greenlet(run)

        main = greenlet.getcurrent()
        workers = [make(i) for i in range(8)]
        for _ in range(3001):
            for w in workers:
                if not w.dead:
                    w.switch()
    """, backend=backend, tracing_args="overflow='drop', buffer_size=65536")
    greenlets = defaultdict(set)
    lost = 0
    for r in traced.records:
        if r["event"] == "lost":
            lost += r["count"]
        elif r["qualname"].startswith("work_"):
            greenlets[r["qualname"]].add(r["greenlet"])
    print("records lost in a 64 KiB ring: %d" % lost)
    assert lost > 0  # the case under test: records dropped around switches
    assert len(greenlets) >= 2  # (a worker whose every record was dropped is absent)
    assert all(len(ids) == 1 for ids in greenlets.values()), greenlets
    assert len(set.union(*greenlets.values())) == len(greenlets)
