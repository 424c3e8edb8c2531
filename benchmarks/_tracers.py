"""The tools ``benchmarks/compare.py`` compares, behind one interface.

Each class takes ``(option, workdir, spec)`` and has ``start()``, ``stop()`` (stop and write the
output: timed as the flush) and ``stats()`` (extra result fields); the tools whose call tree
can be checked also give ``events()`` (event traces) or ``callers_of(name)`` (aggregates), see
``_nesting.py``.  ``TOOLS`` maps the spec's ``tool`` to its class.
"""

import collections
import json
import os
import subprocess
import sys

__all__ = ["Baseline", "Infi", "VizTracerTool", "CProfileTool", "YappiTool", "TOOLS"]


class Baseline:
    """No tracing at all."""

    checkable = False

    def __init__(self, option, workdir, spec):
        self.workdir = workdir

    def start(self):
        """Start tracing (nothing)."""

    def stop(self):
        """Stop tracing and write the output (nothing)."""

    def stats(self):
        """Extra result fields."""
        return {}


class Infi(Baseline):
    """infi_tracing, ``<backend>-binary`` (every call, lossless) or ``<backend>-filtered``."""

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import infi_tracing
        self.it = infi_tracing
        self.backend, _, self.mode = option.partition("-")
        self.path = os.path.join(workdir, "trace.itr")
        self.checkable = self.mode != "filtered"  # records nothing: nothing to check

    def start(self):
        """configure the binary sink and set_tracing()."""
        it = self.it
        it.configure_sinks(["binary://" + self.path])
        flt = (lambda frame: it.NO_TRACE) if self.mode == "filtered" else None
        it.set_tracing(flt, level=it.TRACE_FUNC_NAME, backend=self.backend, overflow="block")

    def stop(self):
        """unset_tracing() stops and flushes everything to the file."""
        self.it.unset_tracing()

    def stats(self):
        """Records delivered and lost, from tracing_stats()."""
        st = self.it.tracing_stats()
        return {"records": st["records"], "lost": st["lost"]}

    def events(self):
        """Decode the trace with the CLI; yield (key, event, name, depth) per record."""
        errors = open(os.path.join(self.workdir, "decode.err"), "w+", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "infi_tracing", "decode", self.path,
                                 "--format", "jsonl"], stdout=subprocess.PIPE, text=True,
                                stderr=errors, cwd=self.workdir)
        for line in proc.stdout:
            rec = json.loads(line)
            if rec["event"] == "lost":
                yield None, "lost", str(rec.get("count")), None
            elif "qualname" in rec:
                yield ((rec["pid"], rec["tid"], rec["greenlet"]), rec["event"],
                       rec["qualname"], rec["depth"])
        if proc.wait() != 0:
            errors.seek(0)
            raise RuntimeError("decode exited with %d: %s"
                               % (proc.returncode, errors.read()[-500:]))
        errors.close()


class VizTracerTool(Baseline):
    """viztracer's Python API, a buffer large enough to keep every call."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        from viztracer import VizTracer
        self.path = os.path.join(workdir, "viztracer.json")
        # dump_raw: the C writer, much faster (and lighter) than building the JSON in Python
        self.tracer = VizTracer(tracer_entries=spec["entries"], output_file=self.path,
                                verbose=0, dump_raw=True)

    def start(self):
        """tracer.start()."""
        self.tracer.start()

    def stop(self):
        """tracer.stop() and tracer.save()."""
        self.tracer.stop()
        self.tracer.save(self.path)

    def stats(self):
        """Whether the circular buffer overflowed (dropping the oldest events)."""
        with open(self.path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(self.path) - 200))
            tail = fh.read().replace(b" ", b"")
        return {"overflow": b'"overflow":true' in tail}


class CProfileTool(Baseline):
    """cProfile (default options, builtins included)."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import cProfile
        self.prof = cProfile.Profile()

    def start(self):
        """prof.enable()."""
        self.prof.enable()

    def stop(self):
        """prof.disable() and dump_stats()."""
        self.prof.disable()
        self.prof.dump_stats(os.path.join(self.workdir, "cprofile.pstat"))

    def callers_of(self, name):
        """{caller function name: calls} of the function ``name`` in __main__."""
        import pstats
        callers = collections.Counter()
        for (_file, _line, func), (*_, who) in pstats.Stats(self.prof).stats.items():
            if func == name:
                for (_f, _l, caller), value in who.items():
                    callers[caller] += value[0] if isinstance(value, tuple) else value
        return callers


class YappiTool(Baseline):
    """yappi, wall clock; option ``greenlet`` uses its greenlet context backend."""

    checkable = True

    def __init__(self, option, workdir, spec):
        super().__init__(option, workdir, spec)
        import yappi
        self.yappi = yappi
        yappi.set_clock_type("wall")
        if option == "greenlet":
            yappi.set_context_backend("greenlet")

    def start(self):
        """yappi.start()."""
        self.yappi.start()

    def stop(self):
        """yappi.stop() and save the function stats."""
        self.yappi.stop()
        self.yappi.get_func_stats().save(os.path.join(self.workdir, "yappi.pstat"),
                                         type="pstat")

    def callers_of(self, name):
        """{caller function name: calls} of the function ``name``."""
        callers = collections.Counter()
        for stat in self.yappi.get_func_stats():
            for child in stat.children:
                if child.name == name:
                    callers[stat.name] += child.ncall
        return callers


TOOLS = {"baseline": Baseline, "infi": Infi, "viztracer": VizTracerTool,
         "cprofile": CProfileTool, "yappi": YappiTool}
