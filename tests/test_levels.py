"""Argument and return-value rendering at TRACE_FUNC_PRIMITIVES and TRACE_FUNC_REPR."""

import json

import pytest

from helpers import run_traced

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
    return traced.first("call", name)["args"]


def test_primitives_render_natively(tmp_path, backend):
    """PRIMITIVES renders built-in values like repr() does, bounded."""
    traced = run_traced(tmp_path, VALUES, backend=backend,
                        tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args = _call_args(traced, "take")
    assert args["i"] == "-7" and args["f"] == "2.5" and args["b"] == "True"
    assert args["n"] == "None"
    assert args["s"] == "\"a'b\\nc\""
    assert args["by"] == "b'\\x00ok'"
    assert args["lst"] == "[1, [2, [3, [...]]]]"
    assert args["tup"] == "(1,)" and args["dct"] == "{'k': 1.0}"
    assert args["big"] == str(10**30)
    assert args["*rest"] == "(1, 2)" and args["**kw"] == "{'x': 'y'}"
    ret = traced.first("return", "take")
    assert ret["retval"] == "(-7, \"a'b\\nc\")"


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
    call = traced.first("call", "f")
    ret = traced.first("return", "f")
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
    assert "args" not in traced.first("call", "named")
    assert _call_args(traced, "valued") == {"x": "2"}


LIKE_REPR = """
import abc, json

class Plain:
    class Inner:
        pass

class Abstract(abc.ABC):
    pass

VALUES = {
    "cls": int, "user_cls": Plain, "nested_cls": Plain.Inner, "abc_cls": Abstract,
    "set": {3}, "empty_set": set(), "frozenset": frozenset({1}), "empty_frozenset": frozenset(),
    "bytearray": bytearray(b"a'\\tb"), "complex": 1 - 2.5j, "range": range(10),
    "stepped_range": range(0, 10, 2), "single_quote": "a'b", "both_quotes": "a'\\"b",
    "unprintable": "\\u2028\\x85\\x1b\\x7f\\xa0", "astral": "\\U0001f600\\U000e0001",
    "bytes_quote": b"a'b\\r\\n", "nested": [{1: (b"", "x")}],
}

def take(x):
    return x

for value in VALUES.values():
    take(value)
print(json.dumps({name: repr(value) for name, value in VALUES.items()}))
"""


def _shown(traced):
    """The rendered argument of each take() call, by the name of its value."""
    expected = json.loads(traced.stdout.splitlines()[-1])
    args = [r["args"]["x"] for r in traced.events("call") if r["qualname"] == "take"]
    return dict(zip(expected, args, strict=True)), expected


@pytest.mark.parametrize("level", ["TRACE_FUNC_PRIMITIVES", "TRACE_FUNC_REPR"])
def test_built_in_values_render_exactly_like_repr(tmp_path, backend, level):
    """Classes, sets, frozensets, bytearrays, complex, ranges and str quoting render as repr()."""
    shown, expected = _shown(run_traced(tmp_path, LIKE_REPR, backend=backend,
                                        tracing_args="level=" + level))
    assert shown == expected


def test_primitives_show_a_class_by_its_qualified_name_whatever_its_metaclass(tmp_path, backend):
    """A class whose metaclass has its own __repr__ still shows as <class 'module.qualname'>."""
    traced = run_traced(tmp_path, """
        import enum
        class Color(enum.Enum):
            RED = 1
        def take(x):
            return x
        take(Color)
    """, backend=backend, tracing_args="level=TRACE_FUNC_PRIMITIVES")
    assert _call_args(traced, "take") == {"x": "<class '__main__.Color'>"}


def test_long_sets_and_bytearrays_are_cut_with_their_length(tmp_path, backend):
    """Sets, frozensets and bytearrays are bounded like lists and bytes."""
    traced = run_traced(tmp_path, """
        def take(s, f, ba):
            return s
        take(set(range(100)), frozenset(range(100)), bytearray(b"y" * 500))
    """, backend=backend, tracing_args="level=TRACE_FUNC_PRIMITIVES")
    args = _call_args(traced, "take")
    assert args["s"] == "{0, 1, 2, 3, 4, 5, 6, 7, ... <len=100>}"
    assert args["f"] == "frozenset({0, 1, 2, 3, 4, 5, 6, 7, ... <len=100>})"
    assert args["ba"] == "bytearray(b'%s'... <len=500>)" % ("y" * 64)


def test_repr_level_calls_user_repr_inside_built_in_containers(tmp_path, backend):
    """REPR renders a built-in container natively and each user object in it by its repr()."""
    traced = run_traced(tmp_path, """
        class Nice:
            def __repr__(self):
                return "Nice()"
        def take(x):
            return x
        take([Nice(), {"k": (Nice(), 1)}])
    """, backend=backend, tracing_args="level=TRACE_FUNC_REPR")
    assert _call_args(traced, "take") == {"x": "[Nice(), {'k': (Nice(), 1)}]"}


def test_repr_that_empties_its_own_container_is_harmless(tmp_path, backend):
    """A __repr__ that clears the list or dict being rendered neither crashes nor misleads."""
    traced = run_traced(tmp_path, """
        class Clears:
            def __init__(self, box):
                self.box = box
            def __repr__(self):
                self.box.clear()
                return "Clears()"
        def take(lst, dct):
            return 1
        lst, dct = [], {}
        lst.extend([Clears(lst), object(), object()])
        dct.update({"a": Clears(dct), "b": object()})
        take(lst, dct)
        print("survived", len(lst), len(dct))
    """, backend=backend, tracing_args="level=TRACE_FUNC_REPR")
    assert "survived 0 0" in traced.stdout
    assert _call_args(traced, "take") == {"lst": "[Clears()]", "dct": "{'a': Clears()}"}


BIG_VALUES = """
import json, resource

def take(x):
    return 1

values = {"str": "x" * 50_000_000, "bytes": b"y" * 50_000_000,
          "list": [123456789] * 5_000_000, "subclass_str": type("S", (str,), {})("z" * 50_000_000)}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for value in values.values():
    take(value)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"names": list(values), "grown_kib": grown}))
"""


def test_repr_level_renders_huge_built_in_values_without_building_their_repr(tmp_path, backend):
    """50 MB str, bytes, list (and a str subclass keeping str's repr): bounded output and memory."""
    traced = run_traced(tmp_path, BIG_VALUES, backend=backend, tracing_args="level=TRACE_FUNC_REPR")
    report = json.loads(traced.stdout.splitlines()[-1])
    args = [r["args"]["x"] for r in traced.events("call") if r["qualname"] == "take"]
    shown = dict(zip(report["names"], args, strict=True))
    assert shown == {
        "str": "'%s'... <len=50000000>" % ("x" * 160),
        "bytes": "b'%s'... <len=50000000>" % ("y" * 160),
        "list": "[%s, ... <len=5000000>]" % ", ".join(["123456789"] * 8),
        "subclass_str": "'%s'... <len=50000000>" % ("z" * 160)}
    assert report["grown_kib"] < 10_000  # a repr of any of them would take 50 MB or more
