"""Helpers shared by the tests (fixtures live in conftest.py): run programs, traced or not,
in fresh interpreters and through the CLI, read their traces and check them."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from infi_tracing.native import _core

BACKENDS = _core.available_backends()

EXAMPLE_SERVER = Path(__file__).resolve().parent.parent / "examples" / "gevent_server" / "app.py"


def shown_qualname(qualname):
    """The name a trace shows for a function of this qualified name: 3.10's code
    objects have no qualified name, only the last part of it."""
    return qualname if sys.version_info >= (3, 11) else qualname.rsplit(".", 1)[-1]


# --- snippets of traced programs --------------------------------------------------------

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


# Calls in_child() in a forked child, which stops tracing and exits; the parent waits for
# it: the child's pid is then in `pid`, its wait status in `status`.
FORKED_CHILD = """
import os
import re
pid = os.fork()
if pid == 0:
    in_child()
    infi_tracing.unset_tracing()
    os._exit(0)
_, status = os.waitpid(pid, 0)
"""


# Python sinks for traced programs: Collect keeps every record it gets; Slow takes 20 ms a
# batch, so that a small ring overflows behind it.
SINK_CLASSES = """
import time

class Collect:
    def __init__(self):
        self.records = []
    def write(self, batch):
        self.records.extend(batch)
    def flush(self):
        pass
    def close(self):
        pass

class Slow:
    def write(self, batch):
        time.sleep(0.02)
    def flush(self):
        pass
    def close(self):
        pass
"""


# N calls of f(i), as CALLS_OF_F % N; 50,000 overflow a 64 KiB ring behind a Slow sink.
CALLS_OF_F = """
def f(i):
    return i
for i in range(%d):
    f(i)
"""


# A filter for traced programs: only the program's own functions, not the libraries'.
ONLY_MAIN = """
def only_main(frame):
    return frame.f_globals.get("__name__") == "__main__"
"""


# --- running programs -------------------------------------------------------------------

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


def run_interpreter(cwd, *args, env=None, input=None, timeout=120, text=True):
    """`python ARGS` in `cwd` (not the repo: its infi_tracing/ has no built core), with
    only the INFI_TRACING_* variables of `env`; bytes in and out unless `text`."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
                          text=text, timeout=timeout, input=input, env=cli_env(**(env or {})))


def run_cli(cwd, *args, **kwargs):
    """`python -m infi_tracing ARGS` in `cwd`; keywords as for run_interpreter."""
    return run_interpreter(cwd, "-m", "infi_tracing", *args, **kwargs)


def decode_binary(path, cwd):
    """The records of a binary trace file, through `python -m infi_tracing decode`."""
    proc = run_cli(cwd, "decode", path, "--format", "jsonl")
    assert proc.returncode == 0, "decode failed:\n%s" % proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def write(path, source):
    """Write dedented `source` to `path` (making its folder); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def jsonl_sink(tmp_path, name="trace.jsonl"):
    """The URL of a JSON-lines file sink writing tmp_path/name."""
    return "file://%s?format=jsonl" % (tmp_path / name)


def tool_unavailable(reason):
    """Skip the test for a missing tool (compiler, sanitizer runtime, daemon), or fail it under
    CI=true, where the machine is expected to have every tool."""
    if os.environ.get("CI") == "true":
        pytest.fail("%s (CI=true: the tool must be there)" % reason)
    pytest.skip(reason)


# --- traced programs ----------------------------------------------------------------------

def traced_source(body, *, backend="auto", setup="", sinks="", tracing_args="", end=""):
    """A program that runs `setup`, then `sinks` (source configuring the sinks; none: the
    default), traces `body` (module-level code) with set_tracing(backend, TRACING_ARGS)
    and after unset_tracing() runs `end`. Everything of infi_tracing is imported."""
    return "\n".join([
        "import infi_tracing, infi_tracing.sinks",
        "from infi_tracing import *",
        textwrap.dedent(setup),
        textwrap.dedent(sinks),
        "infi_tracing.set_tracing(backend=%r, %s)" % (backend, tracing_args),
        textwrap.dedent(body),
        "infi_tracing.unset_tracing()",
        textwrap.dedent(end),
    ])


def run_traced_program(tmp_path, body, *, check=True, env=None, timeout=120, **source):
    """Run traced_source(body, **source) in tmp_path; with `check`, raise if it failed."""
    proc = run_python(tmp_path, traced_source(body, **source), timeout=timeout, env=env)
    if check:
        assert proc.returncode == 0, "traced program failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return proc


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

    def first(self, event, qualname):
        """The first record of one event kind for the function `qualname`."""
        return next(r for r in self.events(event) if r["qualname"] == qualname)


def run_traced(tmp_path, body, *, sinks_configured=False, **source):
    """Trace `body` to a JSON-lines file and parse it; keywords as for run_traced_program.

    With `sinks_configured` the setup configures the sinks itself (one of them a
    JSON-lines FileSink on "trace.jsonl"). Raises if the program failed.
    """
    trace = tmp_path / "trace.jsonl"
    if not sinks_configured:
        source["sinks"] = "infi_tracing.tracing_output_to_file(%r, format='jsonl')" % str(trace)
    return Traced(run_traced_program(tmp_path, body, **source), trace)


# --- reading traces -------------------------------------------------------------------------

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


def read_jsonl(path, torn_tail=False, missing_ok=False):
    """Every record of a JSON-lines trace file; raises if any line does not parse.

    With `missing_ok`, a file that does not exist has no records.

    With `torn_tail`, a last line without its newline is left out: a process
    dying (os._exit, SIGKILL) in the middle of the drain's write() leaves one,
    as the kernel stops a dying process's write at a page boundary."""
    records = []
    if missing_ok and not os.path.exists(path):
        return records
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if torn_tail and not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError("line %d of %s is not JSON (%s): %.200r"
                                     % (number, path, exc, line)) from None
    return records


# A call's duration on a text line: " [1.132456 ms]" (see _format.format_duration).
DURATION_TEXT = re.compile(r" \[\d+(?:\.\d{3}|\.\d{6}|\.\d{9})? (?:ns|us|ms|s)\]")


def summary_table(stderr, by):
    """The rows of one table of run's exit summary ("calls", "total time" or "self
    time"), as printed: the lines after its title, up to the next table."""
    lines = stderr.splitlines()
    start = lines.index("  top functions by %s:" % by) + 1
    end = start
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return lines[start:end]


def summary_sinks(stderr):
    """run's exit summary per sink: {name: (records written, lost, the whole line)}."""
    sinks = {}
    for line in stderr.splitlines():
        m = re.match(r"  sink (.*?): ([\d,]+) records written, ([\d,]+) lost", line)
        if m:
            sinks[m.group(1)] = (int(m.group(2).replace(",", "")),
                                 int(m.group(3).replace(",", "")), line)
    return sinks


def count_by(records, *keys, event=None, qualnames=None):
    """Counter of records by the given keys, optionally for one event kind and some names."""
    return Counter(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]
                   for r in records
                   if (event is None or r["event"] == event)
                   and (qualnames is None or r.get("qualname") in qualnames))


def lost_by_tid(records):
    """Records reported lost in the stream, per thread id."""
    lost = defaultdict(int)
    for r in records:
        if r["event"] == "lost":
            lost[r["tid"]] += r["count"]
    return dict(lost)


# --- programs that must not hang ------------------------------------------------------------

def run_for_fields(tmp_path, program, timeout):
    """Run `program` (which prints "name value..." lines) to a clean exit; its lines by name."""
    proc = run_python(tmp_path, program, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def start_program(tmp_path, source, env=None, run_args=None, preexec_fn=None):
    """Start `source` in a fresh interpreter (cwd=tmp_path), pipes for stdout/stderr;
    with `run_args` (a list) under ``python -m infi_tracing run RUN_ARGS``."""
    script = tmp_path / "traced_program.py"
    script.write_text(source)
    full_env = dict(os.environ, PYTHONWARNINGS="default", **(env or {}))
    launcher = [] if run_args is None else ["-m", "infi_tracing", "run", *run_args]
    return subprocess.Popen([sys.executable, *launcher, str(script)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                            preexec_fn=preexec_fn)


def wait_for_line(proc, expected, timeout=30):
    """Read the program's stdout until a line starting with `expected`; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(expected):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError("no %r line from the program:\n%s\n%s" % (expected, out, err))


def finish(proc, sig=None, timeout=60):
    """Send `sig` (if any), wait at most `timeout` s; returns (returncode, stdout, stderr)."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("the program hung:\n%s\n%s" % (out, err)) from None
    return proc.returncode, out, err


def wait_for(condition, what, timeout=20.0):
    """Poll `condition` every 20 ms until true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail("timed out waiting for %s" % what)


# --- the example gevent server ------------------------------------------------------------

class ExampleServer:
    """examples/gevent_server/app.py under `python -m infi_tracing run`, on 127.0.0.1
    with an ephemeral port, stderr in a file; always killed at the end."""

    def __init__(self, tmp_path, env, signals=True):
        self.tmp_path = tmp_path
        self.port_file = tmp_path / "port.txt"
        self.stderr_path = tmp_path / "server.err"
        self.trace = tmp_path / "trace.jsonl"
        self.stats_file = tmp_path / "stats.jsonl"
        settings = {"INFI_TRACING_SINKS": "file://%s?format=jsonl" % self.trace,
                    "INFI_TRACING_INCLUDE": "__main__", "INFI_TRACING_LEVEL": "primitives"}
        if signals:
            settings.update(INFI_TRACING_SIGNALS="yes",
                            INFI_TRACING_STATS_FILE=str(self.stats_file))
        settings.update(env)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infi_tracing", "run", str(EXAMPLE_SERVER), "--port", "0",
                 "--port-file", str(self.port_file)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                stderr=err, env=cli_env(**settings))

    def __enter__(self):
        wait_for(lambda: self.port_file.exists() or self.proc.poll() is not None,
                 "the server's port file")
        assert self.proc.poll() is None, self.stderr()
        self.port = int(self.port_file.read_text())
        return self

    def __exit__(self, *exc_info):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                return response.read()
        except urllib.error.HTTPError as exc:  # 404 for an unknown user is an answer too
            return exc.read()

    def toggle(self, expect):
        """SIGUSR2, then wait until the server says tracing is `expect` ("on"/"off")."""
        note = "infi_tracing: tracing %s (signal %d" % (expect, signal.SIGUSR2)
        before = self.stderr().count(note)
        self.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: self.stderr().count(note) > before, "tracing %s" % expect)

    def stats(self):
        """SIGUSR1, then wait for the new line in the stats file; returns it parsed."""
        lines = self.stats_lines()
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: len(self.stats_lines()) > len(lines), "a stats line")
        return json.loads(self.stats_lines()[-1])

    def stats_lines(self):
        return self.stats_file.read_text().splitlines() if self.stats_file.exists() else []

    def stop(self):
        """SIGTERM: the server stops serving and the process exits normally."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.stderr()

    def records(self):
        return read_jsonl(self.trace, missing_ok=True)


# --- analysis commands (report, graph, diff, greenlets) ------------------------------------

# Timing helpers for traced programs: busy(ms) spins without sleeping or calling Python code;
# timed(f) runs f and appends how long it took (ns, measured around the call) to TIMES.
TIMING = """
import time
TIMES = []
def busy(ms):
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
def timed(f, *args):
    start = time.perf_counter_ns()
    f(*args)
    TIMES.append(time.perf_counter_ns() - start)
"""


def record_trace(tmp_path, body, *, backend="auto", formats=("binary",),
                 tracing_args="overflow='block'", **source):
    """Trace `body` (only __main__'s functions) to tmp_path/trace.itr, and with "jsonl" or
    "text" in `formats` also to trace.jsonl / trace.txt; returns (paths by format, the
    program's stdout).  `tracing_args`: set_tracing()'s other arguments."""
    paths = {"binary": tmp_path / "trace.itr", "jsonl": tmp_path / "trace.jsonl",
             "text": tmp_path / "trace.txt"}
    urls = {"binary": "binary://%s" % paths["binary"], "jsonl": jsonl_sink(tmp_path),
            "text": "file://%s" % paths["text"]}
    source.setdefault("setup", "")
    source["setup"] = ONLY_MAIN + textwrap.dedent(source["setup"])
    proc = run_traced_program(
        tmp_path, body, backend=backend,
        sinks="infi_tracing.configure_sinks(%r)" % [urls[f] for f in formats],
        tracing_args="filter=only_main, " + tracing_args, **source)
    return {f: paths[f] for f in formats}, proc.stdout


def analysis_json(cwd, *args):
    """`python -m infi_tracing ARGS --json` in `cwd`, its JSON output (exit code 0 asserted)."""
    proc = run_cli(cwd, *args, "--json")
    assert proc.returncode == 0, "%s failed (%d):\n%s" % (args[0], proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def report_rows_by_name(cwd, *args):
    """`report --json ARGS`: its rows by name."""
    return {row["name"]: row for row in analysis_json(cwd, "report", *args)["rows"]}
