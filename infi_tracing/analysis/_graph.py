"""``graph FUNC``: the aggregated call tree below a function and its callers
above, with calls and total/self time per node (graph.pyx,
native/it_graph.h)."""

import json

from infi_tracing.analysis._common import draw_tree, open_reader, show_ns
from infi_tracing.analysis._decode import report_errors
from infi_tracing.analysis._reader import graph_trees

__all__ = ["build_graph", "format_graph", "graph_command"]


def build_graph(paths, pattern, depth=None, filters=None):
    """({"pattern", "matched", "callees", "callers"}, reader): the matched
    function names and both trees' nodes (node 0 of each is FUNC, merged
    over every match)."""
    reader = open_reader(paths, filters)
    matched, callees, callers = graph_trees(reader, pattern, depth)
    name = matched[0] if len(matched) == 1 else pattern
    for tree in (callees, callers):
        tree[0]["name"] = name
    return {"pattern": pattern, "matched": matched, "callees": callees,
            "callers": callers}, reader


def format_graph(graph, time="wall"):
    """Text: a header naming the matches, the callee tree (calls, total,
    self per node), then the callers tree (calls and FUNC's total through
    each chain)."""
    matched = graph["matched"]
    if not matched:
        return "# graph: no function matches %r\n" % graph["pattern"]
    key = "total" if time == "wall" else "active"
    lines = []
    if len(matched) > 1:
        lines.append("# %d functions match %r, merged: %s"
                     % (len(matched), graph["pattern"], ", ".join(matched)))
    lines.append("# calls below %s (%s time; self excludes time switched out)"
                 % (graph["callees"][0]["name"], time))
    lines.append("%8s %12s %12s  %s" % ("calls", "total", "self", "function"))
    lines += draw_tree(graph["callees"], lambda node, prefix: "%8d %12s %12s  %s%s" % (
        node["calls"], show_ns(node[key]), show_ns(node["self"]), prefix, node["name"]),
        sort_key=lambda node: -node[key])
    lines.append("")
    lines.append("# callers of %s (calls and its %s time through each)"
                 % (graph["callers"][0]["name"], time))
    lines.append("%8s %12s  %s" % ("calls", "total", "caller"))
    lines += draw_tree(graph["callers"], lambda node, prefix: "%8d %12s  %s%s" % (
        node["calls"], show_ns(node[key]), prefix, node["name"]),
        sort_key=lambda node: -node[key])
    return "\n".join(lines) + "\n"


def graph_command(paths, pattern, out, depth=None, time="wall", as_json=False, filters=None):
    """Run ``graph`` writing to `out`; returns the exit code (1 when nothing
    matches or an input could not be read)."""
    graph, reader = build_graph(paths, pattern, depth, filters)
    out.write(json.dumps(graph, indent=1) + "\n" if as_json else format_graph(graph, time))
    code = report_errors("graph", reader)
    return code or (0 if graph["matched"] else 1)
