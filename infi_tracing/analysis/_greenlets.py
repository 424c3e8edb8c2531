"""``greenlets``: per greenlet its lifetime, running time and switch count,
then every stretch in which a greenlet ran longer than a threshold without
yielding (it blocked the hub) with the call tree that ran in it
(greenlets.pyx, native/it_glets.h)."""

import json

from infi_tracing.analysis._common import draw_tree, open_reader, show_ns, show_time
from infi_tracing.analysis._decode import report_errors
from infi_tracing.analysis._reader import greenlet_stretches

__all__ = ["DEFAULT_THRESHOLD_NS", "build_greenlets", "format_greenlets", "greenlets_command"]

DEFAULT_THRESHOLD_NS = 10_000_000
NO_FUNCTION = "(no traced function: the hub?)"


def build_greenlets(paths, threshold_ns=DEFAULT_THRESHOLD_NS, include_hub=False, filters=None):
    """({"threshold_ns", "greenlets", "stretches", "dropped"}, reader);
    each stretch names its greenlet by index into "greenlets"."""
    reader = open_reader(paths, filters)
    greenlets, stretches, dropped = greenlet_stretches(reader, threshold_ns, include_hub)
    return {"threshold_ns": threshold_ns, "greenlets": greenlets, "stretches": stretches,
            "dropped": dropped}, reader


def _who(g):
    return "g%d (pid %s tid %d, first %s)" % (g["greenlet"], g["pid"], g["tid"],
                                               g["first"] or NO_FUNCTION)


def format_greenlets(result, top=None):
    """Text: a row per greenlet (longest running first), then each long
    stretch (longest first) with its call tree."""
    greenlets = result["greenlets"]
    rows = sorted(greenlets, key=lambda g: (-g["running_ns"], g["pid"] if isinstance(
        g["pid"], int) else 0, g["tid"], g["greenlet"]))
    shown = rows if top is None else rows[:top]
    threshold = show_ns(result["threshold_ns"])
    lines = ["# %d greenlets; %d stretches ran over %s without yielding"
             % (len(greenlets), len(result["stretches"]) + result["dropped"], threshold),
             "%8s %10s %8s %12s %12s %9s %8s  %s" % ("pid", "tid", "greenlet", "lifetime",
                                                    "running", "switches", "blocked",
                                                    "first function")]
    for g in shown:
        lines.append("%8s %10d %8s %12s %12s %9d %8d  %s%s"
                     % (g["pid"], g["tid"], "g%d" % g["greenlet"],
                        show_ns(g["end_ns"] - g["start_ns"]), show_ns(g["running_ns"]),
                        g["switches"], g["blocked"], g["first"] or NO_FUNCTION,
                        "  (hub)" if g["hub"] else ""))
    if len(shown) < len(rows):
        lines.append("# %d more (--top)" % (len(rows) - len(shown)))
    stretches = sorted(result["stretches"], key=lambda s: -s["duration_ns"])
    if stretches:
        lines += ["", "# stretches over %s without yielding (they blocked the hub), longest "
                  "first; calls and time inside the stretch, * still running at its end"
                  % threshold]
    for s in stretches if top is None else stretches[:top]:
        lines.append("%s  %s ran %s" % (show_time(s["start_ns"]),
                                        _who(greenlets[s["greenlet"]]),
                                        show_ns(s["duration_ns"])))
        lines += draw_tree(s["tree"], lambda node, prefix: "    %8d %12s  %s%s%s" % (
            node["calls"], show_ns(node["total"]), prefix, node["name"],
            " *" if node["open"] else ""))
    if result["dropped"]:
        lines.append("# %d more stretches not kept" % result["dropped"])
    return "\n".join(lines) + "\n"


def greenlets_command(paths, out, threshold_ns=DEFAULT_THRESHOLD_NS, include_hub=False,
                      top=None, as_json=False, filters=None):
    """Run ``greenlets`` writing to `out`; returns the exit code."""
    result, reader = build_greenlets(paths, threshold_ns, include_hub, filters)
    out.write(json.dumps(result, indent=1) + "\n" if as_json else format_greenlets(result, top))
    return report_errors("greenlets", reader)
