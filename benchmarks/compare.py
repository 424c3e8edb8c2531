"""infi_tracing side by side with viztracer, cProfile and yappi, in one run.

Configurations (rows):

* ``baseline``                   - untraced;
* ``infi <backend> binary``      - for each backend ``_core.available_backends()`` lists: every
                                   call and return at TRACE_FUNC_NAME into the binary file sink,
                                   ``overflow="block"`` (lossless);
* ``infi <backend> filtered``    - tracing on, the filter returns NO_TRACE for everything;
* ``viztracer``                  - ``VizTracer(tracer_entries=<enough for every call>,
                                   dump_raw=True)``, ``start()``/``stop()``/``save()``;
* ``cProfile``                   - ``cProfile.Profile()`` (builtins included), ``dump_stats``;
* ``yappi wall``                 - ``yappi.set_clock_type("wall")``, default (thread) context;
* ``yappi greenlet``             - the same with ``yappi.set_context_backend("greenlet")``, on
                                   the two gevent workloads only.

Workloads (columns), see ``_workloads.py``: ``tight`` (``f(a, b)`` called N times in a loop),
``greenlets`` (100 gevent greenlets run a 3-deep call chain in batches, ``gevent.sleep(0)``
between batches) and ``wsgi`` (a gevent ``pywsgi`` server in the traced process; a plain
one-thread ``selectors`` client in another process sends a fixed number of requests over
keep-alive connections, two in flight per connection, then the server exits; the client measures
requests per second).

Every measurement runs in a fresh subprocess (cwd = a temp dir, so the source tree never shadows
the installed package).  The tracer starts before an untimed warm-up; stopping it and writing its
output is timed separately (flush/save).  Rounds run every (configuration, workload) pair in
shuffled order.  Before the rounds, one small untimed run per pair on the gevent workloads checks
that the tool sees the right call tree (``nesting``).  A peer that cannot be imported or fails
is reported as ``n/a (reason)``.  Results: a Markdown table (printed and written to
``results/<X.Y>/compare.md``), a bar chart (``compare.png``, needs matplotlib) and
``results/README.md``, which collects every interpreter's table; ``compare.json`` beside the
table holds the ratios for ``readme_section.py`` (the README's Benchmarks section).

Usage::

    python benchmarks/compare.py [--quick] [--rounds R] [--seed S] [--only WORKLOAD ...]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import _machine
import _report

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "_workloads.py")
RESULTS = os.path.join(HERE, "results")
CHILD_TIMEOUT_S = 600
RETRIES = 3  # infi_tracing may be reinstalled under us by a concurrent build: retry

# Sizes per workload: "default" and "quick" are timed; "check" is the small nesting-check run.
SIZES = {
    "default": {
        "tight": {"calls": 2_500_000, "warmup": 1_000},
        "greenlets": {"greenlets": 100, "batches": 40, "per_batch": 200,
                      "warmup": {"greenlets": 10, "batches": 2, "per_batch": 10}},
        "wsgi": {"connections": 16, "requests": 4_000, "warmup": 10},
    },
    "quick": {
        "tight": {"calls": 250_000, "warmup": 1_000},
        "greenlets": {"greenlets": 100, "batches": 5, "per_batch": 20,
                      "warmup": {"greenlets": 10, "batches": 2, "per_batch": 10}},
        "wsgi": {"connections": 16, "requests": 800, "warmup": 5},
    },
    "check": {
        "greenlets": {"greenlets": 100, "batches": 3, "per_batch": 10,
                      "warmup": {"greenlets": 10, "batches": 2, "per_batch": 5}},
        "wsgi": {"connections": 16, "requests": 160, "warmup": 2},
    },
}
DEFAULT_ROUNDS = 7
QUICK_ROUNDS = 2
WORKLOAD_NAMES = ("tight", "greenlets", "wsgi")
GEVENT_WORKLOADS = ("greenlets", "wsgi")


class Config:
    """One row: a tool with its option, the workloads it runs and the module it needs."""

    def __init__(self, name, tool, option="", workloads=WORKLOAD_NAMES, module=None):
        self.name, self.tool, self.option = name, tool, option
        self.workloads, self.module = workloads, module
        # the baseline and a tracer that records nothing have no call tree to check
        self.checkable = tool != "baseline" and not option.endswith("-filtered")

    def __repr__(self):
        return "Config(%r)" % self.name


def child_env():
    """The environment of the children: no tracing configured from outside."""
    env = dict(os.environ)
    env.pop("INFI_TRACING_SINKS", None)
    return env


def probe():
    """Ask a fresh interpreter for infi_tracing's backends and which peers import.

    Returns ``(backends, missing)`` where missing maps a module to the reason it is n/a.
    """
    code = ("import importlib, json\n"
            "from infi_tracing.native import _core\n"
            "missing = {}\n"
            "for mod in ('viztracer', 'yappi', 'gevent', 'greenlet'):\n"
            "    try:\n"
            "        importlib.import_module(mod)\n"
            "    except Exception as exc:\n"
            "        missing[mod] = 'not installed: %s: %s' % (type(exc).__name__, exc)\n"
            "print(json.dumps([list(_core.available_backends()), missing]))\n")
    for attempt in range(RETRIES):
        with tempfile.TemporaryDirectory(prefix="compare_") as workdir:
            proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=child_env(),
                                  capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            backends, missing = json.loads(proc.stdout.splitlines()[-1])
            return backends, missing
        print("probe failed (attempt %d): %s" % (attempt + 1, proc.stderr[-1000:]),
              file=sys.stderr)
        time.sleep(10)
    raise SystemExit("infi_tracing does not import in %s" % sys.executable)


def configurations(backends):
    """The rows, in display order."""
    configs = [Config("baseline", "baseline")]
    for backend in backends:
        configs.append(Config("infi %s binary" % backend, "infi", backend + "-binary"))
        configs.append(Config("infi %s filtered" % backend, "infi", backend + "-filtered"))
    configs += [
        Config("viztracer", "viztracer", module="viztracer"),
        Config("cProfile", "cprofile"),
        Config("yappi wall", "yappi", "wall", module="yappi"),
        Config("yappi greenlet", "yappi", "greenlet", workloads=GEVENT_WORKLOADS,
               module="yappi"),
    ]
    return configs


def viztracer_entries(workload, size):
    """A viztracer buffer large enough for every call of the run (it is circular)."""
    if workload == "tight":
        return size["calls"] + size["warmup"] + 100_000
    if workload == "greenlets":
        chains = 2 * size["greenlets"] * size["batches"] * size["per_batch"]
        return 4 * chains + 200 * size["greenlets"] * size["batches"] + 200_000
    return 500 * (size["requests"] + size["connections"] * size["warmup"]) + 200_000


def run_child(config, workload, size, check=False):
    """Run one measurement in a fresh interpreter; return its result dict.

    A result with ``"na"`` is a peer that cannot run here; ``"error"`` is a child that failed
    (after retries, for infi_tracing and the baseline, which a concurrent rebuild may break).
    """
    attempts = 1 if config.module else RETRIES
    for attempt in range(attempts):
        with tempfile.TemporaryDirectory(prefix="compare_") as workdir:
            spec = {"tool": config.tool, "option": config.option, "workload": workload,
                    "size": size, "check": check, "workdir": workdir,
                    "entries": viztracer_entries(workload, size)}
            try:
                proc = subprocess.run([sys.executable, WORKLOADS, "run", json.dumps(spec)],
                                      cwd=workdir, env=child_env(), capture_output=True,
                                      text=True, timeout=CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                result = {"error": "timed out after %d s" % CHILD_TIMEOUT_S}
                continue
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode == 0 and lines:
            result = json.loads(lines[-1])
            if "na" not in result or config.module:
                return result
        else:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"error": "exit %d: %s" % (proc.returncode, tail[:300])}
        if attempt + 1 < attempts:
            print("  %s/%s failed (%s), retrying" % (config.name, workload,
                                                     result.get("error") or result.get("na")),
                  file=sys.stderr, flush=True)
            time.sleep(10)
    return result


def describe(res):
    """One progress line for a child result."""
    if "na" in res or "error" in res:
        return "n/a: %s" % (res.get("na") or res.get("error"))
    text = ("%.0f req/s" % res["rps"]) if "rps" in res else ("%.4fs" % res["elapsed_s"])
    text += " flush %.3fs" % res["flush_s"]
    if "records" in res:
        text += " records %d lost %d" % (res["records"], res["lost"])
    if res.get("nesting"):
        text += " nesting " + res["nesting"]
    if res.get("warnings"):
        text += " warnings " + "; ".join(res["warnings"])
    return text


def main(argv=None):
    """Parse the options, run the checks and the rounds, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller workloads, %d rounds (an explicit --rounds wins)"
                        % QUICK_ROUNDS)
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every configuration (default %d)" % DEFAULT_ROUNDS)
    parser.add_argument("--seed", type=int, default=None, help="seed for the shuffling")
    parser.add_argument("--only", nargs="+", choices=WORKLOAD_NAMES, default=WORKLOAD_NAMES,
                        help="run only these workloads")
    parser.add_argument("--no-check", action="store_true", help="skip the nesting checks")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    sizes = SIZES["quick" if args.quick else "default"]
    workloads = [w for w in WORKLOAD_NAMES if w in args.only]

    started = time.time()
    backends, missing = probe()
    configs = configurations(backends)
    pairs = [(c, w) for c in configs for w in workloads if w in c.workloads]
    runs = {(c.name, w): [] for c, w in pairs}
    na = {}  # (config, workload) -> reason
    nesting = {}  # (config, workload) -> "ok" / "FAILED: ..." / "not checked"
    notes = []
    for c, w in pairs:
        gone = [m for m in (c.module, "gevent" if w in GEVENT_WORKLOADS else None) if m]
        if any(m in missing for m in gone):
            na[c.name, w] = missing[next(m for m in gone if m in missing)]

    if not args.no_check:
        for c, w in pairs:
            if w not in GEVENT_WORKLOADS or (c.name, w) in na or not c.checkable:
                continue
            res = run_child(c, w, SIZES["check"][w], check=True)
            print("check %-22s %-9s %s" % (c.name, w, describe(res)), file=sys.stderr,
                  flush=True)
            if "na" in res or "error" in res:
                na[c.name, w] = res.get("na") or res["error"]
                continue
            nesting[c.name, w] = res.get("nesting", "not checked")
            for msg in res.get("warnings", ()):
                notes.append("%s, %s (check run): %s" % (c.name, w, msg))

    rng = random.Random(args.seed)
    for round_no in range(1, args.rounds + 1):
        order = [(c, w) for c, w in pairs if (c.name, w) not in na]
        rng.shuffle(order)
        for c, w in order:
            res = run_child(c, w, sizes[w])
            print("round %d/%d %-22s %-9s %s" % (round_no, args.rounds, c.name, w,
                                                 describe(res)), file=sys.stderr, flush=True)
            if "na" in res or "error" in res:
                na[c.name, w] = res.get("na") or res["error"]
                continue
            runs[c.name, w].append(res)
            for msg in res.get("warnings", ()):
                note = "%s, %s: %s" % (c.name, w, msg)
                if note not in notes:
                    notes.append(note)

    meta = dict(_machine.facts(), rounds=args.rounds, quick=args.quick, sizes=sizes,
                backends=backends, duration_s=time.time() - started, peers=peer_versions())
    outdir = os.path.join(RESULTS, "%d.%d" % sys.version_info[:2])
    os.makedirs(outdir, exist_ok=True)
    text = _report.markdown(meta, configs, workloads, runs, na, nesting, notes)
    print(text)
    with open(os.path.join(outdir, "compare.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
    with open(os.path.join(outdir, "compare.json"), "w", encoding="utf-8") as fh:
        json.dump(_report.summary(meta, configs, workloads, runs, na, nesting), fh, indent=1)
        fh.write("\n")
    png = os.path.join(outdir, "compare.png")
    problem = _report.chart(meta, configs, workloads, runs, nesting, png)
    print(problem or "chart: %s" % png, file=sys.stderr)
    _report.collect(RESULTS)


def peer_versions():
    """Versions of the peers and gevent installed for this interpreter."""
    from importlib import metadata
    versions = {}
    for dist in ("infi_tracing", "viztracer", "yappi", "gevent", "greenlet"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


if __name__ == "__main__":
    main()
