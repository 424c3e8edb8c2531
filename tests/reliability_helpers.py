"""Helpers shared by the reliability tests (fork, load, shutdown, hostile input,
overflow accounting, transparency): reading traces and running programs that
must not hang."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict

from conftest import run_python


def run_for_fields(tmp_path, program, timeout):
    """Run `program` (which prints "name value..." lines) to a clean exit; its lines by name."""
    proc = run_python(tmp_path, program, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def read_jsonl(path, torn_tail=False):
    """Every record of a JSON-lines trace file; raises if any line does not parse.

    With `torn_tail`, a last line without its newline is left out: a process
    dying (os._exit, SIGKILL) in the middle of the drain's write() leaves one,
    as the kernel stops a dying process's write at a page boundary."""
    records = []
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


def decode_binary(path, cwd):
    """The records of a binary trace file, through `python -m infi_tracing decode`.

    `cwd` must not be the repository (its infi_tracing/ has no built core)."""
    proc = subprocess.run([sys.executable, "-m", "infi_tracing", "decode", str(path),
                           "--format", "jsonl"], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, "decode failed:\n%s" % proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


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
