"""What the analysis commands share: opening the reader with the common
filters, showing durations and drawing aggregated call trees."""

from infi_tracing._format import format_time, round_duration
from infi_tracing.analysis._reading import Reader

__all__ = ["open_reader", "show_ns", "show_time", "draw_tree"]


def open_reader(paths, filters):
    """A Reader of `paths` with `filters` (Reader's keyword arguments)."""
    return Reader(paths, **(filters or {}))


def show_ns(ns):
    """A duration for a table (``1.132 ms``: three decimals of its unit)."""
    return round_duration(max(int(ns), 0))


def show_time(wall_ns):
    """A wall time as the text traces show it."""
    return format_time(int(wall_ns))


def draw_tree(nodes, line, sort_key=None):
    """Lines drawing `nodes` (dicts with a "parent" index, -1 for roots)
    as a tree: `line(node, prefix)` makes the text of one node, `prefix`
    the ``+-``/``|`` branches in front of its name (uftrace's graph style).
    Children are ordered by `sort_key` (default: total time, largest first)."""
    sort_key = sort_key or (lambda node: -node["total"])
    children = {}
    for index, node in enumerate(nodes):
        children.setdefault(node["parent"], []).append(index)
    out = []

    def walk(index, prefix, last, top):
        node = nodes[index]
        branch = "" if top else prefix + ("`-" if last else "+-")
        out.append(line(node, branch))
        kids = sorted(children.get(index, ()), key=lambda i: sort_key(nodes[i]))
        below = "" if top else prefix + ("  " if last else "| ")
        for k, kid in enumerate(kids):
            walk(kid, below, k == len(kids) - 1, False)

    for root in sorted(children.get(-1, ()), key=lambda i: sort_key(nodes[i])):
        walk(root, "", True, True)
    return out
