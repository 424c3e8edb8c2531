"""Child side of ``benchmarks/compare.py``: one workload under one tracer, in a fresh process.

``python _workloads.py run SPEC_JSON`` runs one measurement and prints one JSON line.  SPEC is
``{"tool", "option", "workload", "size", "check", "workdir"}``:

* tool ``baseline`` (untraced), ``infi`` (option ``<backend>-binary`` or ``<backend>-filtered``),
  ``viztracer``, ``cprofile``, ``yappi`` (option ``wall`` or ``greenlet``): ``_tracers.py``;
* workload ``tight`` (``f(a, b)`` called N times), ``greenlets`` (a 3-deep call chain run by
  gevent greenlets that ``gevent.sleep(0)`` between batches) or ``wsgi`` (a gevent ``pywsgi``
  server; the client, ``_http_client.py``, runs in another, plain process):
  ``_workload_code.py``;
* ``check``: after the run, check that the tool's view of the call tree is right
  (``_nesting.py``); such runs are small and untimed in spirit (compare.py does not time them).

The tracer is started before the warm-up and stopped after the timed part; stopping it and
writing its output (``unset_tracing()``'s flush, viztracer's ``save``, cProfile's and yappi's
stats dump) is timed separately as ``flush_s``.  Nothing here asserts on timings.
"""

import collections
import json
import sys
import time
import warnings

from _nesting import check
from _tracers import TOOLS
from _workload_code import run_greenlets, run_wsgi, tight_loop


def measure(tool, workload, size):
    """Start ``tool``, warm up, time ``workload``, stop the tool.

    Returns (timings and client figures, expected callers of the checked function).
    """
    tool.start()
    result, expected = {}, None
    if workload == "tight":
        tight_loop(size["warmup"])
        t0 = time.perf_counter()
        tight_loop(size["calls"])
        t1 = time.perf_counter()
    elif workload == "greenlets":
        w = size["warmup"]
        expected = collections.Counter(run_greenlets(w["greenlets"], w["batches"],
                                                     w["per_batch"]))
        t0 = time.perf_counter()
        expected.update(run_greenlets(size["greenlets"], size["batches"], size["per_batch"]))
        t1 = time.perf_counter()
        expected = dict(expected)
    else:  # the client's warm-up requests come before its timed ones
        t0 = time.perf_counter()
        client_result = run_wsgi(size["connections"], size["requests"], size["warmup"])
        t1 = time.perf_counter()
        result.update(rps=client_result["rps"], client_s=client_result["elapsed_s"],
                      client_cpu=client_result["client_cpu"],
                      server_cpu=client_result["server_cpu"])
        expected = {"wsgi_app": client_result["requests"]
                    + size["warmup"] * size["connections"]}
    tool.stop()
    result.update(elapsed_s=t1 - t0, flush_s=time.perf_counter() - t1)
    return result, expected


def run(spec):
    """Run one measurement described by ``spec``; return the result dict."""
    workload = spec["workload"]
    tool = TOOLS[spec["tool"]](spec.get("option", ""), spec["workdir"], spec)
    if workload == "greenlets":
        import gevent  # (imported before tracing starts, like the others)
    elif workload == "wsgi":
        import gevent.pywsgi
        import gevent.subprocess  # noqa: F401
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        # gevent.subprocess forks the wsgi client from a process with native threads (a
        # tracer's drain, gevent's): harmless here, since the child execs at once
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        result, expected = measure(tool, workload, spec["size"])
    result.update(tool.stats())
    messages = sorted({"%s: %s" % (w.category.__name__, w.message) for w in seen})
    if messages:
        result["warnings"] = messages[:3]
    if spec.get("check") and expected is not None and tool.checkable:
        result["nesting"] = check(tool, workload, expected)
    return result


def main(argv):
    """``run SPEC_JSON``."""
    if argv[:1] != ["run"] or len(argv) != 2:
        raise SystemExit("usage: python _workloads.py run SPEC_JSON")
    spec = json.loads(argv[1])
    try:
        result = run(spec)
    except ImportError as exc:
        result = {"na": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
