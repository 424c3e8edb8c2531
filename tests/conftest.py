"""Shared helpers: run a snippet traced in a fresh interpreter, parse its trace."""

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

from infi_tracing.native import _core

BACKENDS = _core.available_backends()


# Two plain greenlets switching in the middle of different call chains.
TWO_GREENLETS = """
import greenlet

def a_leaf(n):
    main.switch()          # hand over in the middle of the chain
    return n

def a_chain():
    return a_leaf(1) + a_leaf(2)

def b_leaf(n):
    main.switch()
    return n * 10

def b_mid(n):
    return b_leaf(n)

def b_chain():
    return b_mid(1) + b_mid(2)

main = greenlet.getcurrent()
ga = greenlet.greenlet(a_chain)
gb = greenlet.greenlet(b_chain)
for _ in range(3):
    ga.switch()
    gb.switch()
"""


# A coroutine called 10,000 times that suspends in each call.
AWAITING_LEAF = """
import asyncio

async def leaf(i):
    await asyncio.sleep(0)  # suspends: the event loop runs, then resumes leaf
    return i

async def main():
    total = 0
    for i in range(10000):
        total += await leaf(i)
    return total

print(asyncio.run(main()))
"""


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each hook backend this interpreter has."""
    return request.param


class Traced:
    """What a traced subprocess left: its trace records, output and exit code."""

    def __init__(self, proc, trace_path):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.text = trace_path.read_text(encoding="utf-8") if trace_path.exists() else ""
        self.records = [json.loads(line) for line in self.text.splitlines()]

    def events(self, *kinds):
        """Records of the given event kinds (all but 'lost' by default)."""
        kinds = kinds or ("call", "return", "exception", "resume", "yield")
        return [r for r in self.records if r["event"] in kinds]

    def names(self, event="call"):
        """Qualified names of the records of one event kind, in order."""
        return [r["qualname"] for r in self.records if r["event"] == event]


def run_python(tmp_path, source, timeout=120, env=None):
    """Run `source` in a fresh interpreter with cwd=tmp_path (not the repo)."""
    script = tmp_path / "traced_program.py"
    script.write_text(source)
    full_env = dict(os.environ, PYTHONWARNINGS="default", **(env or {}))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def cli_env(**extra):
    """The test's environment without INFI_TRACING_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFI_TRACING_")}
    env.update(extra)
    return env


def write(path, source):
    """Write dedented `source` to `path` (making its folder); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def jsonl_sink(tmp_path, name="trace.jsonl"):
    """The URL of a JSON-lines file sink writing tmp_path/name."""
    return "file://%s?format=jsonl" % (tmp_path / name)


def run_cli(tmp_path, *args, env=None, input=None, timeout=120):
    """`python -m infi_tracing ARGS` in tmp_path."""
    return subprocess.run([sys.executable, "-m", "infi_tracing", *map(str, args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout, input=input,
                          env=cli_env(**(env or {})))


def run_traced(tmp_path, body, *, backend="auto", setup="", tracing_args="", timeout=120,
               sinks_configured=False):
    """Trace `body` (module-level code) to a JSON-lines file and parse it.

    `setup` runs before set_tracing; `tracing_args` is extra set_tracing()
    arguments as source text; with `sinks_configured` the setup configures
    the sinks itself (one of them a JSON-lines FileSink on "trace.jsonl").
    Raises if the program failed.
    """
    trace = tmp_path / "trace.jsonl"
    source = "\n".join([
        "import infi_tracing, infi_tracing.sinks",
        "from infi_tracing import *",
        textwrap.dedent(setup),
        "" if sinks_configured else
        "infi_tracing.tracing_output_to_file(%r, format='jsonl')" % str(trace),
        "infi_tracing.set_tracing(backend=%r, %s)" % (backend, tracing_args),
        textwrap.dedent(body),
        "infi_tracing.unset_tracing()",
    ])
    proc = run_python(tmp_path, source, timeout=timeout)
    result = Traced(proc, trace)
    assert proc.returncode == 0, "traced program failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return result


def check_nesting(records):
    """Every return pairs with its own call, per (pid, thread, greenlet), and a
    callee is deeper than its caller; returns completed pairs per stream.
    (`records` may be a filtered subset, so depths may skip levels.)"""
    stacks = defaultdict(list)
    pairs = defaultdict(int)
    for rec in records:
        if rec["event"] == "lost":
            continue
        key = (rec["pid"], rec["tid"], rec["greenlet"])
        stack = stacks[key]
        if rec["event"] in ("call", "resume"):
            assert not stack or rec["depth"] > stack[-1][1], \
                "call not deeper than its caller: %r (stack %r)" % (rec, stack)
            stack.append((rec["qualname"], rec["depth"]))
        else:
            assert stack, "return without call: %r" % (rec,)
            name, depth = stack.pop()
            assert name == rec["qualname"], "return of %s closes %s" % (rec["qualname"], name)
            assert rec["depth"] == depth, "return at another depth than its call: %r" % (rec,)
            pairs[key] += 1
    for key, stack in stacks.items():
        assert not stack, "calls never returned in %r: %r" % (key, stack)
    return pairs
