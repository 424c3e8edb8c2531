"""Excluding code from traces: context manager, decorator, suspend/resume."""

import pytest

from helpers import check_nesting, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

SETUP = """
def leaf():
    return 1

def noisy():
    return leaf() + leaf()
"""


def test_context_manager_hides_everything_inside(tmp_path, backend):
    """Nothing is recorded inside exclude_from_traces_context(), however deep."""
    traced = run_traced(tmp_path, """
        def top():
            with exclude_from_traces_context():
                noisy()
            return leaf()
        top()
    """, backend=backend, setup=SETUP)
    assert [n for n in traced.names() if n in ("top", "noisy", "leaf")] == ["top", "leaf"]
    check_nesting(traced.events())


def test_decorator_hides_the_function_and_its_callees(tmp_path, backend):
    """@exclude_from_traces_recursive hides the function's whole subtree, and keeps it callable."""
    traced = run_traced(tmp_path, """
        @exclude_from_traces_recursive
        def hidden():
            return noisy()
        assert hidden.__name__ == "hidden"
        hidden()
        leaf()
    """, backend=backend, setup=SETUP)
    assert [n for n in traced.names() if n in ("hidden", "noisy", "leaf")] == ["leaf"]


def test_decorator_applied_after_tracing_started(tmp_path, backend):
    """Decorating a function that was already traced takes effect from then on."""
    traced = run_traced(tmp_path, """
        def sometimes():
            return noisy()
        sometimes()
        exclude_from_traces_recursive(sometimes)
        sometimes()
    """, backend=backend, setup=SETUP)
    assert traced.names().count("sometimes") == 1
    assert traced.names().count("leaf") == 2


def test_decorator_on_methods(tmp_path, backend):
    """The decorator works on methods, static and class methods."""
    traced = run_traced(tmp_path, """
        class K:
            @exclude_from_traces_recursive
            def method(self):
                return noisy()
            @staticmethod
            @exclude_from_traces_recursive
            def static():
                return noisy()
            @exclude_from_traces_recursive
            @classmethod
            def klass(cls):
                return noisy()
        K().method(); K.static(); K.klass()
    """, backend=backend, setup=SETUP)
    assert not {"method", "static", "klass", "noisy", "leaf"} & {
        n.rsplit(".", 1)[-1] for n in traced.names()}


def test_decorator_wraps_callables_without_code(tmp_path, backend):
    """Builtins and other code-less callables are wrapped, and the exclusion holds."""
    traced = run_traced(tmp_path, """
        quiet_sorted = exclude_from_traces_recursive(sorted)
        assert quiet_sorted([3, 1, 2], key=lambda x: -x) == [3, 2, 1]
        leaf()
    """, backend=backend, setup=SETUP)
    assert [r["qualname"] for r in traced.events("call") if r["module"] == "__main__"] == ["leaf"]


def test_suspend_and_resume_nest(tmp_path, backend):
    """suspend_tracing() twice needs resume_tracing() twice."""
    traced = run_traced(tmp_path, """
        suspend_tracing()
        suspend_tracing()
        leaf()
        resume_tracing()
        leaf()
        resume_tracing()
        noisy()
    """, backend=backend, setup=SETUP)
    assert traced.names() == ["noisy", "leaf", "leaf"]


def test_seed_aliases_work(tmp_path, backend):
    """no_tracing_context_recursive / no_tracing_recursive behave like the new names."""
    traced = run_traced(tmp_path, """
        from infi.tracing import no_tracing_context_recursive, no_tracing_recursive
        with no_tracing_context_recursive():
            noisy()
        no_tracing_recursive(noisy)()
        leaf()
    """, backend=backend, setup=SETUP)
    assert [r["qualname"] for r in traced.events("call") if r["module"] == "__main__"] == ["leaf"]
