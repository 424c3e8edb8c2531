"""Deep recursion: whatever runs untraced runs traced, and the trace accounts for every call.

The eval-frame backend (3.10, 3.11) makes each Python frame cost C stack; its
guard hands deep frames elsewhere (README: "Deep recursion").  Each program
runs in a subprocess: without the guard it dies with SIGSEGV."""

import json
import sys

import pytest

from helpers import check_nesting, jsonl_sink, run_cli, run_python, run_traced, write

pytestmark = pytest.mark.native  # make test-asan runs these

# 40,000 frames fit the 8 MiB main stack untraced from 3.11 on; 3.10 nests C
# frames even untraced (~420 bytes each), so it gets a depth that fits there.
MAIN_DEPTH = 40000 if sys.version_info >= (3, 11) else 12000
THREAD_DEPTH = 900  # in a thread with a 512 KiB stack

# The main thread's stack is its RLIMIT_STACK: make it 8 MiB whatever the
# environment says (unlimited, say), as most systems have it.
MAIN_STACK_8M = """
import resource, sys
_, hard = resource.getrlimit(resource.RLIMIT_STACK)
limit = 8 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_STACK,
                   (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
sys.setrecursionlimit(1000000)

def down(n):
    return 0 if n == 0 else down(n - 1) + 1
"""

SMALL_THREAD = """
import threading, sys

def down(n):
    return 0 if n == 0 else down(n - 1) + 1

def in_small_thread(depth):
    threading.stack_size(512 * 1024)
    result = []
    t = threading.Thread(target=lambda: result.append(down(depth)))
    t.start()
    t.join()
    threading.stack_size(0)
    return result[0]
"""

PRINT_STATS = "print(json.dumps(infi_tracing.tracing_stats()))"


def stats_of(traced):
    """The tracing_stats() the traced program printed last."""
    return json.loads(traced.stdout.strip().splitlines()[-1])


def check_accounted(traced, name, expected_calls):
    """Every call of `name` is in the trace or counted lost, and the trace nests."""
    stats = stats_of(traced)
    calls = len([r for r in traced.records if r["event"] == "call" and r["qualname"] == name])
    lost = sum(r["count"] for r in traced.records if r["event"] == "lost")
    untraced = stats["stack_low_untraced_calls"]
    assert lost == stats["lost"] == 2 * untraced, (lost, stats)
    assert calls + untraced == expected_calls, (calls, untraced)
    check_nesting(traced.events())
    return stats


def test_untraced_programs_fit_their_stacks(tmp_path):
    """The reproductions themselves run untraced (else the tests below prove nothing)."""
    proc = run_python(tmp_path, MAIN_STACK_8M + SMALL_THREAD + """
print(down(%d), in_small_thread(%d))
""" % (MAIN_DEPTH, THREAD_DEPTH))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(MAIN_DEPTH), str(THREAD_DEPTH)]


def run_recursion(tmp_path, backend, function, depth, setup, tracing_args=""):
    """Trace `function(depth)` (defined by `setup`), losslessly; it must return depth."""
    return run_traced(tmp_path, "import json\nassert %s(%d) == %d\n%s"
                      % (function, depth, depth, PRINT_STATS), backend=backend, setup=setup,
                      tracing_args="overflow='block'" + tracing_args)


def test_deep_recursion_in_the_main_thread(tmp_path, backend):
    """A recursion that fits the 8 MiB main stack untraced completes traced, every call accounted."""
    traced = run_recursion(tmp_path, backend, "down", MAIN_DEPTH, MAIN_STACK_8M)
    check_accounted(traced, "down", MAIN_DEPTH + 1)


def test_deep_recursion_in_the_main_thread_with_everything_filtered(tmp_path, backend):
    """Filtered out (run --include nomatch), a deep recursion completes and records nothing."""
    traced = run_recursion(tmp_path, backend, "down", MAIN_DEPTH, MAIN_STACK_8M,
                           ", filter=lambda frame: NO_TRACE")
    stats = check_accounted(traced, "down", 0)
    assert stats["records"] == 0


def test_recursion_in_a_thread_with_a_small_stack(tmp_path, backend):
    """900 frames in a thread with a 512 KiB stack complete traced, every call accounted."""
    traced = run_recursion(tmp_path, backend, "in_small_thread", THREAD_DEPTH, SMALL_THREAD)
    check_accounted(traced, "down", THREAD_DEPTH + 1)


def test_deep_recursion_in_a_greenlet_while_others_are_mid_call(tmp_path, backend):
    """A greenlet recursing deep while two others are switched out mid-chain: all nest."""
    traced = run_traced(tmp_path, """
        import json, greenlet

        def leaf(n):
            main.switch()
            return n

        def chain(n):
            return leaf(n) + leaf(n + 1)

        main = greenlet.getcurrent()
        waiting = [greenlet.greenlet(chain) for _ in range(2)]
        for g in waiting:
            g.switch(1)                       # each stops inside leaf(1)
        deep = greenlet.greenlet(down)
        assert deep.switch(%d) == %d
        for _ in range(2):
            for g in waiting:
                g.switch()
        assert all(g.dead for g in waiting)
        %s
    """ % (MAIN_DEPTH, MAIN_DEPTH, PRINT_STATS), backend=backend, setup=MAIN_STACK_8M,
        tracing_args="overflow='block'")
    check_accounted(traced, "down", MAIN_DEPTH + 1)
    assert len([r for r in traced.events("return") if r["qualname"] == "leaf"]) == 4
    assert len({r["greenlet"] for r in traced.events() if r["qualname"] == "chain"}) == 2


def test_backend_change_is_reported_in_stats(tmp_path, backend):
    """When the guard hands tracing to the profile backend, tracing_stats() says why."""
    traced = run_traced(tmp_path, "import json\nassert down(%d) == %d\n%s"
                        % (MAIN_DEPTH, MAIN_DEPTH, PRINT_STATS),
                        backend=backend, setup=MAIN_STACK_8M, tracing_args="overflow='block'")
    stats = stats_of(traced)
    switched = backend == "evalframe" and sys.version_info >= (3, 11)
    assert stats["stack_low_fallbacks"] == (1 if switched else 0)
    assert stats["backend"] == ("profile" if switched else backend)
    assert ("C stack" in stats["backend_note"]) == switched


def test_run_summary_says_what_the_guard_did(tmp_path, backend):
    """The run command's exit summary names a backend change or the calls left untraced."""
    write(tmp_path / "prog.py", MAIN_STACK_8M + "down(%d)\n" % MAIN_DEPTH)
    proc = run_cli(tmp_path, "run", "--backend", backend, "--overflow", "block",
                   "--sink", jsonl_sink(tmp_path), "prog.py")
    assert proc.returncode == 0, proc.stderr
    guarded = backend == "evalframe"
    switched = guarded and sys.version_info >= (3, 11)
    assert ("backend: evalframe until the C stack of thread" in proc.stderr) == switched
    assert (" calls not traced (" in proc.stderr) == (guarded and not switched)
    assert "a ring was full" not in proc.stderr
