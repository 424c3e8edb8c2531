"""The machine a benchmark ran on, in one line: CPU model, cores, kernel, Python, date.

Every benchmark prints it (and compare.py writes it into its table) so a published figure always
says where it was measured.
"""

import datetime
import os
import platform

__all__ = ["cpu_model", "describe", "facts", "load_average"]


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor() or "?"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or "?"


def facts():
    """A dict: cpu, cores (usable by this process), cpus (online), kernel, machine, python,
    implementation, date (UTC, minutes), load (1-minute load average)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": usable,
        "cpus": os.cpu_count(),
        "kernel": "%s %s" % (platform.system(), platform.release()),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load_average(),
    }


def load_average():
    """The 1-minute load average now (other work on the machine skews timings), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def describe(info=None):
    """One line, e.g. ``AMD EPYC (2 cores), Linux 6.1.0 x86_64, CPython 3.11.7, 2026-11-26
    02:00 UTC, load 0.52``."""
    f = info or facts()
    cores = "%s cores" % f["cores"]
    if f["cpus"] != f["cores"]:
        cores += " of %s" % f["cpus"]
    return "%s (%s), %s %s, %s %s, %s, load %s" % (
        f["cpu"], cores, f["kernel"], f["machine"], f["implementation"], f["python"], f["date"],
        f.get("load"))
