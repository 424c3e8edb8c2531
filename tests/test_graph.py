"""graph FUNC: the aggregated call tree below a function and its callers above."""

from helpers import TIMING, analysis_json, record_trace, run_cli

# a() calls b() twice and c() once; b() calls c(); main() calls a() and b().
KNOWN = TIMING + """
def c():
    busy(1)
def b():
    c()
def a():
    b(); b(); c()
def main():
    a()
    b()
main()
"""


def _tree(nodes):
    """{path: (calls, total)} of graph nodes, a path being the names from the root."""
    paths = {}
    for node in nodes:
        path, parent = [node["name"]], node["parent"]
        while parent >= 0:
            path.insert(0, nodes[parent]["name"])
            parent = nodes[parent]["parent"]
        paths["/".join(p.rpartition(".")[2] for p in path)] = (node["calls"], node["total"])
    return paths


def test_callees_are_aggregated_per_path(tmp_path):
    """Below a(): b twice (with c under it twice), c once; each node's total holds its
    children's."""
    paths, _ = record_trace(tmp_path, KNOWN)
    graph = analysis_json(tmp_path, "graph", "a", paths["binary"])
    tree = _tree(graph["callees"])
    assert {p: calls for p, (calls, _) in tree.items()} == {
        "a": 1, "a/b": 2, "a/b/c": 2, "a/c": 1, "a/b/c/busy": 2, "a/c/busy": 1}
    assert tree["a"][1] >= tree["a/b"][1] + tree["a/c"][1]
    assert tree["a/b"][1] >= tree["a/b/c"][1]


def test_callers_are_the_chains_above(tmp_path):
    """Above c(): called from b (3 times: twice under a, once under main) and from a."""
    paths, _ = record_trace(tmp_path, KNOWN)
    graph = analysis_json(tmp_path, "graph", "__main__.c", paths["binary"])
    assert graph["matched"] == ["__main__.c"]
    calls = {p: c for p, (c, _) in _tree(graph["callers"]).items()}
    assert calls == {"c": 4, "c/b": 3, "c/b/a": 2, "c/b/a/main": 2, "c/b/main": 1,
                     "c/a": 1, "c/a/main": 1}


def test_levels_limit_both_trees(tmp_path):
    """--levels 1 keeps the root and one level below and above."""
    paths, _ = record_trace(tmp_path, KNOWN)
    graph = analysis_json(tmp_path, "graph", "b", "--levels", "1", paths["binary"])
    assert sorted(_tree(graph["callees"])) == ["b", "b/c"]
    assert sorted(_tree(graph["callers"])) == ["b", "b/a", "b/main"]


def test_several_matches_merge_and_are_named(tmp_path):
    """A glob matching b and c merges them into one root; c under b stays in b's tree, so
    the root's total is not counted twice; the header names both."""
    paths, _ = record_trace(tmp_path, KNOWN)
    graph = analysis_json(tmp_path, "graph", "__main__.[bc]", paths["binary"])
    assert sorted(graph["matched"]) == ["__main__.b", "__main__.c"]
    root = graph["callees"][0]
    assert root["calls"] == 3 + 1  # b three times, c once outside b
    proc = run_cli(tmp_path, "graph", "__main__.[bc]", paths["binary"])
    assert "2 functions match '__main__.[bc]', merged: " in proc.stdout


def test_text_tree_is_drawn(tmp_path):
    """The text output draws the callee tree with branches, largest total first."""
    body = TIMING + """
def slow():
    busy(20)
def fast():
    busy(1)
def top():
    fast(); slow()
top()
"""
    paths, _ = record_trace(tmp_path, body)
    proc = run_cli(tmp_path, "graph", "top", paths["binary"])
    assert proc.returncode == 0, proc.stderr
    names = [line[36:] for line in proc.stdout.splitlines()[2:7]]  # after calls, total, self
    assert names == ["__main__.top", "+-__main__.slow", "| `-__main__.busy",
                     "`-__main__.fast", "  `-__main__.busy"]


def test_no_match_exits_1(tmp_path):
    """A FUNC that matches nothing says so and exits 1."""
    paths, _ = record_trace(tmp_path, KNOWN)
    proc = run_cli(tmp_path, "graph", "nosuch", paths["binary"])
    assert proc.returncode == 1
    assert "no function matches 'nosuch'" in proc.stdout
