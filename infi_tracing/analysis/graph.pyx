# graph FUNC: the call tree below the matching functions and their callers,
# aggregated in C by native/it_graph.h; Python gets the nodes
# (infi_tracing/analysis/_graph.py draws them).  Included by _reader.pyx.

from infi_tracing.analysis.native.includes.it_graph cimport (
    it_graph, it_graph_add, it_graph_destroy, it_graph_init)
from infi_tracing.analysis.native.includes.it_rtree cimport it_rtree, it_rtree_node


cdef list _tree_nodes(NativeReader reader, it_rtree *t, uint32_t first, uint32_t count):
    """Nodes [first, first + count) of a tree (or of a copy of one made at
    `first`) as dicts; "parent" is an index into the returned list (-1 for a
    root): tree node i (from 1) is list index i - 1."""
    cdef it_rtree_node *x
    nodes = []
    for i in range(first, first + count):
        x = &t.nodes[i]
        module, qualname = reader.function(x.func)[:2] if x.func else ("", "")
        nodes.append({"name": "%s.%s" % (module, qualname) if module else qualname,
                      "parent": <int64_t>x.parent - 1 if x.parent else -1,
                      "calls": x.calls, "total": x.total, "active": x.total_active,
                      "self": x.self_active, "open": bool(x.open)})
    return nodes


def graph_trees(NativeReader reader, pattern, depth=None):
    """Read every record of `reader`; returns (matched names, callee nodes,
    caller nodes): node 0 of both lists is the matched functions merged,
    each node a dict (name, parent index, calls, total, active, self in
    ns).  `depth`: levels kept below and above (None: all)."""
    cdef it_graph g
    cdef it_rrec rec
    cdef bytes pat = str(pattern).encode("utf-8")
    if it_graph_init(&g, &reader.r.funcs, pat, -1 if depth is None else depth):
        it_graph_destroy(&g)
        raise MemoryError()
    try:
        while reader.next(&rec):
            it_graph_add(&g, &rec)
        if g.oom or g.callees.oom or g.callers.oom:
            raise MemoryError("graph: out of memory while aggregating")
        matched = []
        for i in range(g.nmatched):
            module, qualname = reader.function(g.matched[i])[:2]
            matched.append("%s.%s" % (module, qualname) if module else qualname)
        return (matched, _tree_nodes(reader, &g.callees, 1, g.callees.n - 1),
                _tree_nodes(reader, &g.callers, 1, g.callers.n - 1))
    finally:
        it_graph_destroy(&g)
