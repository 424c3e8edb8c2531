# greenlets: per greenlet lifetime, running time and switches, and the
# stretches that ran longer than a threshold without yielding, with their
# call trees; aggregated in C by native/it_glets.h
# (infi_tracing/analysis/_greenlets.py shows them).  Included by _reader.pyx.

from infi_tracing.analysis.native.includes.it_glets cimport (
    it_glet, it_glet_stretch, it_glets, it_glets_add, it_glets_destroy, it_glets_finish,
    it_glets_init)
from infi_tracing.analysis.native.includes.it_rtree cimport it_rtree


def greenlet_stretches(NativeReader reader, threshold_ns, include_hub=False, max_kept=10000):
    """Read every record of `reader`; returns (greenlets, stretches, dropped):
    a dict per greenlet (pid, tid, greenlet, first function, first and last
    wall time, running time, switches, stretches over the threshold, hub);
    a dict per stretch longer than `threshold_ns` (greenlet index, wall
    start, duration, call tree nodes as graph_trees gives them); and the
    number of such stretches beyond `max_kept`."""
    cdef it_glets s
    cdef it_rrec rec
    cdef it_glet *x
    cdef it_glet_stretch *st
    cdef it_rtree view
    if it_glets_init(&s, &reader.r.funcs, threshold_ns, 1 if include_hub else 0, max_kept):
        it_glets_destroy(&s)
        raise MemoryError()
    try:
        while reader.next(&rec):
            it_glets_add(&s, &rec)
        it_glets_finish(&s)
        if s.oom:
            raise MemoryError("greenlets: out of memory while aggregating")
        greenlets = []
        for i in range(1, s.nglets):
            x = &s.glets[i]
            module, qualname = reader.function(x.first_func)[:2] if x.first_func else ("", "")
            greenlets.append({
                "pid": _pid_key(reader, x.pid), "tid": x.tid, "greenlet": x.greenlet,
                "first": ("%s.%s" % (module, qualname) if module else qualname) or None,
                "start_ns": x.first_ts + x.wall_offset, "end_ns": x.last_ts + x.wall_offset,
                "running_ns": x.running_ns, "switches": x.switches,
                "blocked": x.stretches_over, "hub": bool(x.is_hub or not x.first_func)})
        stretches = []
        view.nodes = s.kept_nodes
        for i in range(s.nkept):
            st = &s.kept[i]
            stretches.append({
                "greenlet": st.glet - 1, "start_ns": st.start_ts + st.wall_offset,
                "duration_ns": st.duration_ns,
                "tree": _tree_nodes(reader, &view, st.first_node, st.nnodes)})
        return greenlets, stretches, s.dropped
    finally:
        it_glets_destroy(&s)
