"""Report side of ``benchmarks/compare.py``: Markdown tables, the bar chart, results/README.md."""

import os
import re
import statistics

TITLES = {"tight": "tight loop", "greenlets": "greenlets", "wsgi": "wsgi"}
NA_WIDTH = 70


def host_line(meta):
    """Where a run was measured: CPU model, cores, kernel, architecture, date."""
    cores = "%s cores" % meta["cores"]
    if meta["cpus"] != meta["cores"]:
        cores += " of %s" % meta["cpus"]
    return "%s (%s), %s %s, %s" % (meta["cpu"], cores, meta["kernel"], meta["machine"],
                                   meta["date"])


def summary(meta, configs, workloads, runs, na, nesting):
    """The figures ``readme_section.py`` shows, as a JSON-able dict: the run's facts and, per
    configuration and workload, the ratio (or why there is none) and the nesting status."""
    rows = []
    for c in configs:
        cells = {}
        for w in workloads:
            if w not in c.workloads:
                continue
            if (c.name, w) in na:
                cells[w] = {"na": str(na[c.name, w])}
            elif runs.get((c.name, w)):
                cells[w] = {"ratio": ratio(runs[c.name, w], runs.get(("baseline", w)), w),
                            "nesting": nesting.get((c.name, w))}
        rows.append({"name": c.name, "cells": cells})
    keep = ("python", "implementation", "cpu", "cores", "cpus", "kernel", "machine", "date",
            "load", "rounds", "quick", "backends", "peers")
    return {"meta": {k: meta.get(k) for k in keep}, "workloads": list(workloads), "rows": rows,
            "host": host_line(meta)}


def _rate(run):
    """What a run measured: seconds, or requests per second for wsgi."""
    return run["rps"] if "rps" in run else run["elapsed_s"]


def ratio(runs, base_runs, workload):
    """Median slowdown to the baseline: time / baseline time, or baseline rps / rps."""
    if not runs or not base_runs:
        return None
    med, base = (statistics.median(_rate(r) for r in rs) for rs in (runs, base_runs))
    if workload == "wsgi":
        return base / med if med else None
    return med / base if base else None


def _cells(workload, runs, base_runs):
    """(median, min-max, ratio) cells for one configuration and workload."""
    values = [_rate(r) for r in runs]
    med = statistics.median(values)
    fmt = "%.0f" if workload == "wsgi" else "%.4f"
    rat = ratio(runs, base_runs, workload)
    return [fmt % med, (fmt + "-" + fmt) % (min(values), max(values)),
            "%.2fx" % rat if rat is not None else "-"]


def _na(reason):
    """A table cell for a configuration that could not run: ``n/a (reason)``, bounded."""
    reason = " ".join(str(reason).split())
    if len(reason) > NA_WIDTH:
        reason = reason[:NA_WIDTH - 3] + "..."
    return "n/a (%s)" % reason.replace("|", "/")


def _nesting_cell(name, workloads, nesting, na, footnotes):
    """The nesting column: one status per gevent workload; failures go to ``footnotes``."""
    parts = []
    for w in workloads:
        if w == "tight":
            continue
        status = nesting.get((name, w))
        if (name, w) in na:
            parts.append("n/a")
        elif status is None:
            parts.append("not checked")
        elif not status.startswith("FAILED"):
            parts.append(status)
        else:
            footnotes.append("%s, %s: %s" % (name, w, status))
            parts.append("FAILED [%d]" % len(footnotes))
    return " / ".join(parts) or "-"


def markdown(meta, configs, workloads, runs, na, nesting, notes):
    """The whole compare.md text for one interpreter."""
    out = []
    add = out.append
    add("## Python %s (%s), %s" % (meta["python"], meta["implementation"], host_line(meta)))
    add("")
    sz = meta["sizes"]
    desc = ["`python benchmarks/compare.py%s` (%d rounds, every (configuration, workload) pair "
            "interleaved in shuffled order, each run in a fresh subprocess after an untimed "
            "warm-up; %.0f s in all; 1-minute load average %s at the end: other work on the "
            "machine skews the figures)." % (" --quick" if meta["quick"] else "",
                                             meta["rounds"], meta["duration_s"],
                                             meta.get("load"))]
    if "tight" in sz and "tight" in workloads:
        desc.append("**tight loop**: %s calls of `f(a, b)`, seconds." % format(
            sz["tight"]["calls"], ","))
    if "greenlets" in workloads:
        g = sz["greenlets"]
        desc.append("**greenlets**: %d greenlets, %d batches each of %d (odd) or %d (even) "
                    "calls of a 3-deep chain, `gevent.sleep(0)` between batches, seconds."
                    % (g["greenlets"], g["batches"], g["per_batch"], 2 * g["per_batch"]))
    if "wsgi" in workloads:
        w = sz["wsgi"]
        desc.append("**wsgi**: gevent `pywsgi` server (traced) answering %s timed requests "
                    "(after %d warm-up requests per connection) from a plain one-thread "
                    "`selectors` HTTP/1.1 client process over %d keep-alive connections on "
                    "127.0.0.1, two requests in flight per connection (pipelined); requests "
                    "per second measured by the client." % (format(w["requests"], ","), w["warmup"],
                                                 w["connections"]))
    desc.append("**ratio** = slowdown against the untraced baseline of the same run: median "
                "time / baseline median time; for wsgi baseline median req/s / median req/s. "
                "Higher is slower; 1.00x is free.")
    desc.append("Versions: %s." % ", ".join("%s %s" % (k, v or "not installed")
                                            for k, v in meta["peers"].items()))
    add(" ".join(desc))
    add("")
    head = ["configuration"]
    align = ["---"]
    for w in workloads:
        unit = "req/s" if w == "wsgi" else "s"
        head += ["%s median %s" % (TITLES[w], unit), "min-max", "slowdown" if w == "wsgi"
                 else "ratio"]
        align += ["---:", "---:", "---:"]
    gevent_wl = [w for w in workloads if w != "tight"]
    if gevent_wl:
        head.append("nesting (%s)" % " / ".join(gevent_wl))
        align.append("---")
    add("| " + " | ".join(head) + " |")
    add("|" + "|".join(align) + "|")
    footnotes = []
    for c in configs:
        row = [c.name]
        for w in workloads:
            if w not in c.workloads:
                row += ["- (gevent workloads only)", "-", "-"]
            elif (c.name, w) in na:
                row += [_na(na[c.name, w]), "-", "-"]
            elif runs.get((c.name, w)):
                row += _cells(w, runs[c.name, w], runs.get(("baseline", w)))
            else:
                row += ["no runs", "-", "-"]
        if gevent_wl:
            row.append("-" if c.tool == "baseline" else
                       _nesting_cell(c.name, workloads, nesting, na, footnotes))
        add("| " + " | ".join(row) + " |")
    add("")
    add("Stopping the tracer and writing its output (infi_tracing: `unset_tracing()`; "
        "viztracer: `stop()` + `save()`; cProfile: `disable()` + `dump_stats()`; yappi: "
        "`stop()` + saving the stats), median seconds; for wsgi, the server's CPU time per "
        "wall-clock second during the timed requests (all its threads, so a tracer's own "
        "thread counts too; near 1 or above means the server, not the client, set the pace); "
        "and what the last run recorded:")
    add("")
    head = ["configuration"]
    for w in workloads:
        head.append("%s flush/save s" % TITLES[w])
        head.append("server CPU/s" if w == "wsgi" else "ratio incl. flush")
    head.append("records / lost (last run: %s)" % ", ".join(TITLES[w] for w in workloads))
    add("| " + " | ".join(head) + " |")
    add("|---|" + "|".join("---:" for _ in head[1:]) + "|")
    for c in configs:
        row, recs = [c.name], []
        for w in workloads:
            rs = runs.get((c.name, w)) or []
            base = runs.get(("baseline", w)) or []
            if not rs:
                row += ["-", "-"]
                recs.append("-")
                continue
            row.append("%.4f" % statistics.median(r["flush_s"] for r in rs))
            if w == "wsgi":
                row.append("%.2f" % statistics.median(r["server_cpu"] for r in rs))
            else:
                total = statistics.median(r["elapsed_s"] + r["flush_s"] for r in rs)
                base_med = statistics.median(r["elapsed_s"] for r in base) if base else None
                row.append("%.2fx" % (total / base_med) if base_med else "-")
            last = rs[-1]
            if "records" in last:
                recs.append("%s / %s" % (format(last["records"], ","), format(last["lost"], ",")))
            elif "overflow" in last:
                recs.append("buffer OVERFLOWED" if last["overflow"] else "no overflow")
            else:
                recs.append("-")
        row.append(", ".join(recs))
        add("| " + " | ".join(row) + " |")
    add("")
    if gevent_wl:
        add("Nesting: a small untimed run of the same workload "
            "before the rounds: the callers the tool saw for `chain_a` (greenlets) or "
            "`wsgi_handle` (wsgi) must be the true ones (even and odd greenlets run different "
            "worker functions and amounts of work, so mixing greenlets up shows), and in "
            "event traces (infi_tracing, viztracer) every greenlet's calls and returns must "
            "nest. cProfile and yappi keep aggregates, so for them only the callers are "
            "checked (`callers ok`); on wsgi every connection runs the same functions, so a "
            "mix-up there is invisible to that check." + (" Failures:" if footnotes else ""))
        add("")
    if footnotes:
        for i, text in enumerate(footnotes, 1):
            add("%d. %s" % (i, text))
        add("")
    long_na = sorted({"%s, %s: %s" % (c, w, r) for (c, w), r in na.items()
                      if len(str(r)) > NA_WIDTH})
    if notes or long_na:
        add("Notes:")
        add("")
        for text in notes + long_na:
            add("- %s" % " ".join(str(text).split()))
        add("")
    return "\n".join(out)


def chart(meta, configs, workloads, runs, nesting, path):
    """Write the bar chart of ratios; return None, or why there is no chart.

    Bars of a configuration whose nesting check failed on that workload are hatched.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    except ImportError as exc:
        return "no chart: %s" % exc
    names = [c.name for c in configs]
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.2 * len(workloads), 0.45 *
                             len(names) + 1.8), sharey=True, squeeze=False)
    for ax, w in zip(axes[0], workloads, strict=True):
        base = runs.get(("baseline", w))
        values = [ratio(runs.get((n, w)), base, w) for n in names]
        ys = range(len(names))
        colors = ["#2a7ab9" if n.startswith("infi") else "#999999" if n == "baseline"
                  else "#e08a2c" for n in names]
        failed = [nesting.get((n, w), "").startswith("FAILED") for n in names]
        bars = ax.barh(list(ys), [v or 0 for v in values], color=colors)
        for bar, bad in zip(bars, failed, strict=True):
            if bad:
                bar.set_hatch("//")
                bar.set_edgecolor("black")
        ax.set_xscale("log")
        top = max([v for v in values if v] or [1])
        ax.set_xlim(0.8, top * 2.5)
        ax.xaxis.set_major_locator(FixedLocator([t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100)
                                                 if t <= top * 2.5]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: "%gx" % v))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axvline(1.0, color="black", linewidth=0.8)
        for y, v, c, bad in zip(ys, values, configs, failed, strict=True):
            text = ("%.2fx" % v + (" (nesting FAILED)" if bad else "")) if v else (
                "not run" if w not in c.workloads else "n/a")
            ax.text(v * 1.04 if v else 0.85, y, text, va="center", fontsize=9)
        label = "slowdown (baseline req/s / req/s)" if w == "wsgi" else "time / baseline time"
        ax.set_title(TITLES[w])
        ax.set_xlabel(label + ", log scale")
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].set_yticks(range(len(names)))
    axes[0][0].set_yticklabels(names)
    axes[0][0].invert_yaxis()
    fig.suptitle("Tracer overhead (median of %d rounds; hatched: the tool got the greenlets' "
                 "call tree wrong)\nPython %s, %s" % (meta["rounds"], meta["python"],
                                                       host_line(meta)))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _version_key(name):
    """Sort "3.10" after "3.9"."""
    return tuple(int(p) for p in re.findall(r"\d+", name))


def collect(results_dir):
    """(Re)write results/README.md from every results/<X.Y>/compare.md."""
    parts = ["# compare.py results", "",
             "Regenerated by `make bench` (`benchmarks/compare.py` under each interpreter; "
             "`make bench BENCH_ARGS=--quick` for a short run). Each section is "
             "`results/<X.Y>/compare.md`; the chart beside it is `compare.png`.", ""]
    for name in sorted(os.listdir(results_dir), key=_version_key):
        md = os.path.join(results_dir, name, "compare.md")
        if not os.path.isfile(md):
            continue
        with open(md, encoding="utf-8") as fh:
            text = fh.read().strip()
        parts += [text, "", "Chart: [%s/compare.png](%s/compare.png)" % (name, name), ""]
    with open(os.path.join(results_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
