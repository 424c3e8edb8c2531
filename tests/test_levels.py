"""Argument and return-value rendering at TRACE_FUNC_PRIMITIVES and TRACE_FUNC_REPR."""

import pytest

from conftest import run_traced

pytestmark = pytest.mark.native  # make test-asan runs these

VALUES = """
class Sneaky(int):
    def __repr__(self):
        calls.append("Sneaky")
        return "sneaky"

class Plain:
    def __repr__(self):
        calls.append("Plain")
        return "Plain()"

calls = []

def take(i, f, b, n, s, by, lst, tup, dct, obj, sub, big, *rest, **kw):
    return (i, s)

take(-7, 2.5, True, None, "a'b\\nc", b"\\x00ok", [1, [2, [3, [4]]]], (1,), {"k": 1.0},
     Plain(), Sneaky(3), 10**30, 1, 2, x="y")
print("user reprs called:", calls)
"""


def _call_args(traced, name):
    return next(r for r in traced.events("call") if r["qualname"] == name)["args"]


def test_primitives_render_natively(tmp_path, backend):
    """PRIMITIVES renders built-in values like repr() does, bounded."""
    traced = run_traced(tmp_path, VALUES, backend=backend,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args = _call_args(traced, "take")
    assert args["i"] == "-7" and args["f"] == "2.5" and args["b"] == "True"
    assert args["n"] == "None"
    assert args["s"] == "'a\\'b\\nc'"
    assert args["by"] == "b'\\x00ok'"
    assert args["lst"] == "[1, [2, [3, [...]]]]"
    assert args["tup"] == "(1,)" and args["dct"] == "{'k': 1.0}"
    assert args["big"] == str(10**30)
    assert args["*rest"] == "(1, 2)" and args["**kw"] == "{'x': 'y'}"
    ret = next(r for r in traced.events("return") if r["qualname"] == "take")
    assert ret["retval"] == "(-7, 'a\\'b\\nc')"


def test_primitives_never_call_user_repr(tmp_path, backend):
    """PRIMITIVES shows other objects, int subclasses included, as <Type 0xaddr>."""
    traced = run_traced(tmp_path, VALUES, backend=backend,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args = _call_args(traced, "take")
    assert args["obj"].startswith("<Plain 0x") and args["sub"].startswith("<Sneaky 0x")
    assert "user reprs called: []" in traced.stdout


def test_long_values_are_cut_with_their_length(tmp_path, backend):
    """Long strings and containers end in '... <len=N>'."""
    traced = run_traced(tmp_path, """
        def take(s, lst, by):
            return s
        take("x" * 1000, list(range(100)), b"y" * 500)
    """, backend=backend, tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args = _call_args(traced, "take")
    assert args["s"].endswith("... <len=1000>") and len(args["s"]) < 100
    assert args["lst"].endswith("... <len=100>]")
    assert args["by"].endswith("... <len=500>")


def test_non_ascii_and_lone_surrogates(tmp_path, backend):
    """Non-ASCII text stays readable; lone surrogates are escaped, never crash."""
    traced = run_traced(tmp_path, """
        def naïve_函数(s, t):
            return s
        naïve_函数("héllo wörld ✓", "bad\\udc80end")
    """, backend=backend, tracing_args="level=TRACE_FUNC_PRIMITIVES")
    call = next(r for r in traced.events("call") if r["qualname"].startswith("na"))
    assert call["qualname"] == "naïve_函数"
    assert call["args"] == {"s": "'héllo wörld ✓'", "t": "'bad\\udc80end'"}


def test_repr_level_calls_repr_bounded(tmp_path, backend):
    """REPR uses the object's repr(), cut to a bounded length."""
    traced = run_traced(tmp_path, """
        class Big:
            def __repr__(self):
                return "B" * 5000
        class Nice:
            def __repr__(self):
                return "Nice(1)"
        def take(a, b):
            return a
        take(Nice(), Big())
    """, backend=backend, tracing_args="level=TRACE_FUNC_REPR")
    args = _call_args(traced, "take")
    assert args["a"] == "Nice(1)"
    assert args["b"].endswith("... <len=5000>") and len(args["b"]) < 300


def test_failing_repr_is_reported_and_the_program_is_undisturbed(tmp_path, backend):
    """A __repr__ that raises yields <repr failed: Type>; the traced exception survives."""
    traced = run_traced(tmp_path, """
        class Bad:
            def __repr__(self):
                raise KeyError("no repr")
        class NotStr:
            def __repr__(self):
                return 42
        def take(a, b):
            raise ValueError("original")
        try:
            take(Bad(), NotStr())
        except ValueError as exc:
            print("caught", exc)
    """, backend=backend, tracing_args="level=TRACE_FUNC_REPR")
    args = _call_args(traced, "take")
    assert args == {"a": "<repr failed: KeyError>", "b": "<repr failed: TypeError>"}
    assert "caught original" in traced.stdout


def test_name_level_records_no_values(tmp_path, backend):
    """TRACE_FUNC_NAME records calls and returns without arguments or values."""
    traced = run_traced(tmp_path, """
        def f(x):
            return x
        f(1)
    """, backend=backend)
    call = next(r for r in traced.events("call") if r["qualname"] == "f")
    ret = next(r for r in traced.events("return") if r["qualname"] == "f")
    assert "args" not in call and "retval" not in ret


def test_per_function_levels_from_the_filter(tmp_path, backend):
    """Each code object gets the level its filter answer named."""
    traced = run_traced(tmp_path, """
        def named(x):
            return x
        def valued(x):
            return x
        named(1); valued(2)
    """, backend=backend, setup="""
        def flt(frame):
            return TRACE_FUNC_PRIMITIVES if frame.f_code.co_name == "valued" else True
    """, tracing_args="filter=flt")
    assert "args" not in next(r for r in traced.events("call") if r["qualname"] == "named")
    assert _call_args(traced, "valued") == {"x": "2"}
