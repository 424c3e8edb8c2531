"""Hostile arguments, names, recursion, generators and coroutines, greenlet throws,
and arbitrary values (hypothesis): the traced program never notices, and the trace stays
well-formed."""

import json

import pytest

from helpers import ONLY_MAIN, check_nesting, decode_binary, read_jsonl, run_python, run_traced

pytestmark = pytest.mark.native  # make test-asan runs these


# ---- arguments ----------------------------------------------------------------

HOSTILE_VALUES = """
class Raises:
    def __repr__(self):
        raise KeyError("no repr")

class Recurses:
    def __repr__(self):
        return repr(self)

class NotStr:
    def __repr__(self):
        return 42

deep = []
node = deep
for _ in range(1000):
    node.append([])
    node = node[0]
self_list = [1]
self_list.append(self_list)
self_dict = {"a": 1}
self_dict["me"] = self_dict
VALUES = {
    "huge_str": "x" * 10_000_000,
    "huge_list": list(range(1_000_000)),
    "deep": deep,
    "self_list": self_list,
    "self_dict": self_dict,
    "raises": Raises(),
    "recurses": Recurses(),
    "not_str": NotStr(),
}

def take(x):
    return x

def depth_reached():
    n = [0]
    def dive():
        n[0] += 1
        dive()
    try:
        dive()
    except RecursionError:
        return n[0]

limit_before = depth_reached()
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "take", backend=%(backend)r,
                         level=%(level)s)
for name, value in VALUES.items():
    assert take(value) is value
infi_tracing.unset_tracing()
assert depth_reached() == limit_before, "a failing __repr__ left the recursion depth off"
assert self_list[1] is self_list and len(VALUES["huge_list"]) == 1_000_000
print("order", *VALUES)
"""


@pytest.mark.parametrize("level", ["TRACE_FUNC_PRIMITIVES", "TRACE_FUNC_REPR"])
def test_hostile_arguments_render_bounded_and_harmless(tmp_path, backend, level):
    """Huge, 1000-deep, self-referencing values and hostile __repr__s: bounded, program unaffected."""
    proc = run_python(tmp_path, "import infi_tracing\n"
                      "infi_tracing.tracing_output_to_file('trace.jsonl', format='jsonl')\n"
                      + HOSTILE_VALUES % {"backend": backend, "level": "infi_tracing." + level},
                      timeout=90)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()[1:]
    text = (tmp_path / "trace.jsonl").read_text()
    assert max(len(line) for line in text.splitlines()) < 1500
    records = read_jsonl(tmp_path / "trace.jsonl")
    check_nesting(records)
    shown = dict(zip(names, [r["args"]["x"] for r in records if r["event"] == "call"],
                     strict=True))
    assert [r["retval"] for r in records if r["event"] == "return"] == list(shown.values())
    assert shown["huge_str"].endswith("... <len=10000000>")
    # Built-in values render natively, bounded, at both levels (never a whole repr).
    assert shown["huge_list"] == "[0, 1, 2, 3, 4, 5, 6, 7, ... <len=1000000>]"
    assert shown["deep"] == "[[[[...]]]]"
    assert shown["self_list"] == "[1, [1, [1, [...]]]]"
    assert shown["self_dict"] == "{'a': 1, 'me': {'a': 1, 'me': {'a': 1, 'me': {...}}}}"
    if level == "TRACE_FUNC_PRIMITIVES":
        for name in ("raises", "recurses", "not_str"):
            assert shown[name].startswith("<%s 0x" % {"raises": "Raises", "recurses": "Recurses",
                                                        "not_str": "NotStr"}[name])
    else:
        assert shown["raises"] == "<repr failed: KeyError>"
        assert shown["recurses"] == "<repr failed: RecursionError>"
        assert shown["not_str"] == "<repr failed: TypeError>"


# ---- names ----------------------------------------------------------------------

SURROGATE_NAMES = """
import sys, types
import infi_tracing, infi_tracing.sinks
from infi_tracing.sinks.binary import BinaryFileSink
infi_tracing.set_sinks([infi_tracing.sinks.FileSink("trace.jsonl", "jsonl"),
                        infi_tracing.sinks.FileSink("trace.txt", "text"),
                        BinaryFileSink("trace.itr")])
infi_tracing.set_tracing(lambda frame: frame.f_globals.get("__name__", "").startswith("mod"),
                         backend=%r, level=infi_tracing.TRACE_FUNC_PRIMITIVES)
namespace = {"__name__": "mod\\udcff_ü"}
exec("def naïve_Ω(ärg):\\n    return ärg\\n", namespace)
fn = namespace["naïve_Ω"]
changes = dict(co_name="bad\\ud800name", co_filename="/no/such/\\udc80file.py",
               co_varnames=("arg\\udfff",))
if sys.version_info >= (3, 11):
    changes["co_qualname"] = "Bad\\ud800.qual"
bad = types.FunctionType(fn.__code__.replace(**changes), namespace, "bad")
assert fn("ok") == "ok" and bad("val\\ud800ue") == "val\\ud800ue"
infi_tracing.unset_tracing()
"""


def test_non_ascii_and_lone_surrogate_names_stay_well_formed(tmp_path, backend):
    """Names with non-ASCII text and lone surrogates: valid UTF-8 in every sink, surrogates escaped."""
    proc = run_python(tmp_path, SURROGATE_NAMES % backend)
    assert proc.returncode == 0, proc.stderr
    records = read_jsonl(tmp_path / "trace.jsonl")
    calls = [r for r in records if r["event"] == "call" and r["qualname"] != "<module>"]
    assert [(r["module"], r["qualname"], r["args"]) for r in calls] == [
        ("mod\\udcff_ü", "naïve_Ω", {"ärg": "'ok'"}),
        ("mod\\udcff_ü", calls[1]["qualname"], {"arg\\udfff": "'val\\ud800ue'"})]
    assert calls[1]["qualname"] in ("bad\\ud800name", "Bad\\ud800.qual")
    assert calls[1]["file"] == "/no/such/\\udc80file.py"
    text = (tmp_path / "trace.txt").read_bytes().decode("utf-8")   # strict: valid UTF-8
    assert "naïve_Ω" in text and "\\ud800" in text
    decoded = decode_binary(tmp_path / "trace.itr", tmp_path)
    assert [(r["module"], r["qualname"]) for r in decoded if r["event"] == "call"] == \
        [(r["module"], r["qualname"]) for r in records if r["event"] == "call"]


# ---- recursion -------------------------------------------------------------


@pytest.mark.parametrize("level", ["TRACE_FUNC_NAME", "TRACE_FUNC_PRIMITIVES",
                                   "TRACE_FUNC_REPR"])
def test_recursion_error_is_raised_exactly_as_without_tracing(tmp_path, backend, level):
    """RecursionError at the same depth as untraced; one call and one exception per frame that ran."""
    traced = run_traced(tmp_path, """
        traced_depth = measure()
        infi_tracing.unset_tracing()
        after_depth = measure()
        print(untraced_depth, traced_depth, after_depth)
    """, backend=backend, setup="""
        import sys
        reached = [0]

        class Payload:
            def __repr__(self):
                return "Payload()"     # a Python __repr__ run in the hook, near the limit

        def dive(n, payload):
            reached[0] = n
            dive(n + 1, payload)

        def measure():
            try:
                dive(0, Payload())
            except RecursionError as exc:
                assert "maximum recursion depth exceeded" in str(exc)
                return reached[0]

        def only_dive(frame):
            return frame.f_code.co_name == "dive"

        untraced_depth = measure()
    """, tracing_args="filter=only_dive, level=%s" % level)
    untraced, traced_depth, after = map(int, traced.stdout.split())
    assert traced_depth == untraced == after
    check_nesting(traced.events())
    events = [r["event"] for r in traced.events()]
    assert events.count("call") == events.count("exception") == traced_depth + 1, \
        "%d call records for %d frames that ran (deepest call recorded at depth %d)" % (
            events.count("call"), traced_depth + 1, traced.events("call")[-1]["depth"])
    assert max(r["depth"] for r in traced.events()) == traced_depth


# ---- generators, coroutines, asyncio --------------------------------------------

ASYNC_PROGRAM = """
import asyncio

def numbers(n):
    for i in range(n):
        got = yield i
        if got:
            yield got

def resilient():
    while True:
        try:
            yield "ready"
        except ValueError:
            yield "survived"

def use_generators():
    g = numbers(3)
    out = [next(g), g.send(10), next(g), next(g)]
    out += list(numbers(2))
    r = resilient()
    out += [next(r), r.throw(ValueError), next(r)]
    r.close()
    return out

async def leaf(i):
    await asyncio.sleep(0)
    return i

async def middle(i):
    return await leaf(i) + await leaf(i + 1)

async def ticks(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i

async def consume():
    out = []
    async for x in ticks(3):
        out.append(x)
    return out

async def main():
    tasks = [asyncio.create_task(middle(i)) for i in range(5)]
    return await asyncio.gather(*tasks), await consume()

result = (use_generators(), asyncio.run(main()))
print(repr(result))
"""


@pytest.mark.parametrize("generators", [False, True])
def test_generators_coroutines_and_asyncio_nest(tmp_path, backend, generators):
    """Generators, coroutines, an async generator and asyncio tasks: results as untraced, nested."""
    plain = run_python(tmp_path, ASYNC_PROGRAM)
    traced = run_traced(tmp_path, ASYNC_PROGRAM, backend=backend, setup=ONLY_MAIN,
                        tracing_args="filter=only_main, generators=%s" % generators)
    assert traced.stdout == plain.stdout != ""
    records = [r for r in traced.events() if r["module"] == "__main__"
               and r["qualname"] != "<module>"]
    check_nesting(records)
    events = {r["event"] for r in records}
    assert events >= ({"call", "return", "resume", "yield"} if generators else
                      {"call", "return"})
    if not generators:
        assert not events & {"resume", "yield"}
    names = {r["qualname"] for r in records}
    assert names >= {"numbers", "resilient", "use_generators", "leaf", "middle", "ticks",
                     "consume", "main"}


# ---- greenlet.throw and GreenletExit ------------------------------------------------


def test_greenlet_throw_and_greenlet_exit(tmp_path, backend):
    """GreenletExit thrown mid-chain, a caught throw, a throw into an unstarted greenlet: all nest."""
    traced = run_traced(tmp_path, """
        import greenlet

        def parked():
            main.switch("parked")

        def exit_chain():
            parked()
            return "unreachable"

        def catcher():
            try:
                parked()
            except KeyError:
                main.switch("caught")
            return "finished"

        def never_started():
            return "never"

        main = greenlet.getcurrent()
        g1 = greenlet.greenlet(exit_chain)
        assert g1.switch() == "parked"
        exited = g1.throw()                   # GreenletExit: the greenlet ends normally
        assert isinstance(exited, greenlet.GreenletExit) and g1.dead
        g2 = greenlet.greenlet(catcher)
        assert g2.switch() == "parked"
        assert g2.throw(KeyError) == "caught"
        assert g2.switch() == "finished"
        g3 = greenlet.greenlet(never_started)
        try:
            g3.throw(ValueError)
        except ValueError:
            pass
        assert g3.dead
        print("done")
    """, backend=backend, setup=ONLY_MAIN, tracing_args="filter=only_main")
    assert "done" in traced.stdout
    records = [r for r in traced.events() if r["qualname"] in
               ("parked", "exit_chain", "catcher", "never_started")]
    pairs = check_nesting(records)
    assert len(pairs) == 2
    assert [(r["event"], r["qualname"]) for r in records if r["event"] == "exception"] == [
        ("exception", "parked"), ("exception", "exit_chain"), ("exception", "parked")]
    assert "never_started" not in {r["qualname"] for r in records}


# ---- arbitrary values (hypothesis) -------------------------------------------------

HYPOTHESIS_PROGRAM = """
import json, sys
from hypothesis import given, settings, HealthCheck, strategies as st
import infi_tracing

any_char = st.characters(exclude_categories=())        # lone surrogates included
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**300, max_value=2**300)
           | st.floats() | st.complex_numbers() | st.text(any_char) | st.binary()
           | st.text(any_char, min_size=100, max_size=300) | st.just(sys.maxsize)
           | st.just(float("nan")) | st.just(float("-inf")))
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner) | st.tuples(inner, inner) | st.frozensets(st.integers())
                   | st.dictionaries(st.text() | st.integers(), inner) | st.sets(st.text())),
    max_leaves=30)

calls = []

def target(value, *rest, key=None, **more):
    return value

infi_tracing.tracing_output_to_file("trace.jsonl", format="jsonl")
infi_tracing.set_tracing(lambda frame: frame.f_code.co_name == "target", backend=%r,
                         level=infi_tracing.TRACE_FUNC_PRIMITIVES, overflow="block")

@settings(max_examples=%d, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(values, st.lists(values, max_size=3), values)
def check(value, rest, key):
    assert target(value, *rest, key=key, extra=value) is value
    calls.append(value)

check()
infi_tracing.unset_tracing()
scalar_expectations = []
for v in calls:
    if (v is None or type(v) in (bool, int, float)) and len(repr(v)) <= 64:
        scalar_expectations.append(repr(v))
    else:
        scalar_expectations.append(None)
print(json.dumps({"calls": len(calls), "scalars": scalar_expectations}))
"""


def test_arbitrary_values_never_disturb_the_traced_program(tmp_path, backend):
    """Hypothesis-generated arguments at TRACE_FUNC_PRIMITIVES: no crash, well-formed, scalars as repr()."""
    proc = run_python(tmp_path, HYPOTHESIS_PROGRAM % (backend, 200), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    records = read_jsonl(tmp_path / "trace.jsonl")
    check_nesting(records)
    calls = [r for r in records if r["event"] == "call"]
    assert len(calls) == out["calls"] >= 100
    assert len(records) == 2 * len(calls)
    assert all(set(r["args"]) == {"value", "*rest", "key", "**more"} for r in calls)
    assert all(len(json.dumps(r)) < 8192 for r in records)
    for rec, expected in zip(calls, out["scalars"], strict=True):
        if expected is not None:
            assert rec["args"]["value"] == expected
