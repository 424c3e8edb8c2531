"""The filter: called once per code object, cached safely, hostile answers survive."""

import pytest

from helpers import check_nesting, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these


def test_filter_is_called_once_per_code_object(tmp_path, backend):
    """Thousands of calls of one function ask the filter once for it."""
    traced = run_traced(tmp_path, """
        def f():
            return 1
        for _ in range(5000):
            f()
        print("asked", asked.count("f"))
    """, backend=backend, setup="""
        asked = []
        def count_calls(frame):
            asked.append(frame.f_code.co_name)
            return True
    """, tracing_args="filter=count_calls")
    assert "asked 1" in traced.stdout
    assert traced.names().count("f") == 5000


def test_filter_receives_the_called_frame(tmp_path, backend):
    """The filter sees the frame of the first call, with its arguments bound."""
    traced = run_traced(tmp_path, """
        def greet(who):
            return who
        greet("world")
        print("seen", seen)
    """, backend=backend, setup="""
        seen = []
        def look(frame):
            if frame.f_code.co_name == "greet":
                seen.append(frame.f_locals["who"])
            return True
    """, tracing_args="filter=look")
    assert "seen ['world']" in traced.stdout


def test_no_trace_hides_the_function_but_not_its_callees(tmp_path, backend):
    """NO_TRACE skips the function itself; what it calls is still recorded."""
    traced = run_traced(tmp_path, """
        def callee():
            return 1
        def skipped():
            return callee()
        def top():
            return skipped()
        top()
    """, backend=backend, setup="""
        def flt(frame):
            return NO_TRACE if frame.f_code.co_name == "skipped" else TRACE_FUNC_NAME
    """, tracing_args="filter=flt")
    records = [r for r in traced.events() if r["module"] == "__main__"]
    assert [(r["event"], r["qualname"], r["depth"]) for r in records] == [
        ("call", "top", 0), ("call", "callee", 1), ("return", "callee", 1), ("return", "top", 0)]


def test_no_trace_nested_hides_the_whole_subtree(tmp_path, backend):
    """NO_TRACE_NESTED skips the function and everything below it."""
    traced = run_traced(tmp_path, """
        def callee():
            return 1
        def hidden():
            return callee() + callee()
        def top():
            hidden()
            return callee()
        top()
    """, backend=backend, setup="""
        def flt(frame):
            return NO_TRACE_NESTED if frame.f_code.co_name == "hidden" else True
    """, tracing_args="filter=flt")
    names = [r["qualname"] for r in traced.events("call") if r["module"] == "__main__"]
    assert names == ["top", "callee"]
    check_nesting(traced.events())


def test_no_trace_nested_survives_exceptions_and_generators(tmp_path, backend):
    """A hidden subtree left by an exception or a yield re-opens tracing after it."""
    traced = run_traced(tmp_path, """
        def callee():
            return 1
        def hidden_raises():
            callee()
            raise ValueError
        def hidden_gen():
            yield callee()
            yield callee()
        def top():
            try:
                hidden_raises()
            except ValueError:
                pass
            for _ in hidden_gen():
                callee()
        top()
    """, backend=backend, setup="""
        def flt(frame):
            return NO_TRACE_NESTED if frame.f_code.co_name.startswith("hidden") else True
    """, tracing_args="filter=flt")
    names = [r["qualname"] for r in traced.events("call") if r["module"] == "__main__"]
    assert names == ["top", "callee", "callee"]


def test_decision_cache_is_safe_when_code_addresses_are_reused(tmp_path, backend):
    """Thousands of functions compiled and dropped with alternating verdicts:
    each is traced exactly when its own filter answer says so."""
    traced = run_traced(tmp_path, """
        import gc
        addresses = set()
        reused = 0
        for i in range(4000):
            namespace = {}
            exec("def fn_%d():\\n    return %d" % (i, i), namespace)
            fn = namespace["fn_%d" % i]
            code_address = id(fn.__code__)
            reused += code_address in addresses
            addresses.add(code_address)
            fn()
            del fn, namespace
            gc.collect(0)
        print("reused", reused)
    """, backend=backend, setup="""
        def odd_only(frame):
            name = frame.f_code.co_name
            if name.startswith("fn_"):
                return int(name[3:]) % 2 == 1
            return False
    """, tracing_args="filter=odd_only")
    reused = int(traced.stdout.split("reused", 1)[1].split()[0])
    assert reused > 100, "addresses were not reused: the test proves nothing"
    traced_numbers = [int(name[3:]) for name in traced.names() if name.startswith("fn_")]
    assert traced_numbers == list(range(1, 4000, 2))


def test_raising_filter_warns_once_and_the_program_goes_on(tmp_path, backend):
    """A filter that raises: one warning naming the function, no record, no crash."""
    traced = run_traced(tmp_path, """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                assert victim(2) == 4
        messages = [str(w.message) for w in caught if w.category is TracingFilterWarning]
        print(len(messages), messages[0] if messages else "")
    """, backend=backend, setup="""
        def victim(x):
            return x * 2
        def bad(frame):
            if frame.f_code.co_name == "victim":
                raise ZeroDivisionError("boom")
            return False
    """, tracing_args="filter=bad")
    assert traced.stdout.startswith("1 ")
    assert "raised ZeroDivisionError('boom') for victim" in traced.stdout
    assert "victim" not in traced.names()


def test_junk_filter_answer_warns_and_means_no_trace(tmp_path, backend):
    """A filter returning something that is not a level is treated as NO_TRACE, with a warning."""
    traced = run_traced(tmp_path, """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            victim()
            victim()
        print([str(w.message) for w in caught if w.category is TracingFilterWarning])
    """, backend=backend, setup="""
        def victim():
            return 1
        def junk(frame):
            return "yes please" if frame.f_code.co_name == "victim" else False
    """, tracing_args="filter=junk")
    assert traced.stdout.count("returned 'yes please' for victim") == 1
    assert "expected a trace level" in traced.stdout
    assert traced.names() == []


def test_warning_as_error_does_not_reach_the_program(tmp_path, backend):
    """With warnings turned into errors, a bad filter still cannot break the program."""
    traced = run_traced(tmp_path, """
        import warnings
        warnings.simplefilter("error")
        assert victim() == 1
        print("survived")
    """, backend=backend, setup="""
        def victim():
            return 1
        def bad(frame):
            raise RuntimeError("nope")
    """, tracing_args="filter=bad")
    assert "survived" in traced.stdout


def test_default_level_applies_to_true(tmp_path, backend):
    """A filter answering True gets the `level` given to set_tracing()."""
    traced = run_traced(tmp_path, """
        def f(x):
            return x
        f(41)
    """, backend=backend, tracing_args="filter=lambda frame: True, level=TRACE_FUNC_PRIMITIVES")
    call = traced.first("call", "f")
    assert call["args"] == {"x": "41"}


def test_filter_raising_system_exit_in_a_worker_thread_is_a_filter_error(tmp_path, backend):
    """SystemExit from a filter outside the main thread: one warning, NO_TRACE, both threads go on."""
    traced = run_traced(tmp_path, """
        import threading, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = threading.Thread(target=lambda: [victim() for _ in range(3)])
            t.start()
            t.join()
            bystander()
        messages = [str(w.message) for w in caught if w.category is TracingFilterWarning]
        print(len(messages), infi_tracing.tracing_stats()["filter_errors"], messages)
    """, backend=backend, setup="""
        def victim():
            return 1
        def bystander():
            return 2
        def exiting(frame):
            if frame.f_code.co_name == "victim":
                raise SystemExit(3)
            return frame.f_code.co_name == "bystander"
    """, tracing_args="filter=exiting")
    assert traced.stdout.startswith("1 1 "), traced.stdout
    assert "raised SystemExit(3) for victim" in traced.stdout
    assert traced.names() == ["bystander"]
