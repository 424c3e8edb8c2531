"""An example infi_tracing sink plugin, installed as its own package.

Scheme ``callcount:///path/to/counts.json``: counts calls per function and
writes the totals as JSON on every flush.  Option ``top=N`` keeps the N most
called functions only.
"""

import json
import os
from collections import Counter

from infi_tracing.hookspecs import hookimpl

__all__ = ["CallCountSink", "infi_tracing_sink_schemes", "infi_tracing_make_sink"]


class CallCountSink:
    """Counts 'call' records per module.qualname; writes JSON on flush()."""

    def __init__(self, path, top=None):
        self.path = path
        self.top = top
        self.counts = Counter()
        self.batches = 0

    def write(self, batch):
        self.batches += 1
        self.counts.update("%s.%s" % (r["module"], r["qualname"])
                           for r in batch if r["event"] == "call")

    def flush(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"batches": self.batches, "calls": dict(self.counts.most_common(self.top))},
                      f)
        os.replace(tmp, self.path)

    def close(self):
        self.flush()


@hookimpl
def infi_tracing_sink_schemes():
    return ["callcount"]


@hookimpl
def infi_tracing_make_sink(spec):
    if spec.scheme != "callcount":
        return None
    top = spec.option("top", None, int)
    if top is not None and top <= 0:
        raise ValueError("sink %s: top must be positive" % spec.source)
    return CallCountSink(spec.require_path(), top)
