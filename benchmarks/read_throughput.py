"""How fast a trace is read back, against how fast it was recorded (issue 11's targets).

    python benchmarks/read_throughput.py [--records N] [--keep DIR] [--only NAME ...]
                                         [--baseline DIR] [--rounds N]

A three-deep call loop (``a(i)`` calls ``b(i)`` calls ``c(i)``, the filter traces those three:
six records an iteration) is recorded to a binary file with ``overflow="block"`` (lossless), at
the default level; the time from ``set_tracing()`` to the end of ``flush_tracing()`` is the
recording time.  Then, each in a fresh subprocess, the same file is read:

* ``iterate`` - ``Reader([file]).count()``: the reader's C loop (read, pair, no filter), no
  output; timed inside the child, around ``count()``;
* ``report`` - ``python -m infi_tracing report FILE --json`` (when the build has it);
* ``text``, ``jsonl`` - ``decode FILE [--format jsonl] -o /dev/null -q``;
* ``perfetto-proto`` - ``decode --format perfetto-proto`` to a file (when the build has it);
  its size is compared with the Perfetto JSON of the same records, measured on a trace of
  ``--json-records`` (the JSON path is some 50x slower, see ``perfetto-json``), bytes per record
  alike whatever the length.

The command rows are timed from outside (the command as a user runs it, interpreter start
included: ~0.1 s).  Each row gives records/s of wall time and of the child's CPU time (user +
system: on a machine shared with other work the wall clock also counts the time the reader
waited for a core; reading is one thread, so on an idle machine the two agree), the ratio of its time to the recording time
(target: reading <= 3x recording), and the child's peak RSS (``wait4``'s ru_maxrss; target
< 200 MiB whatever the length).  Targets: iterate >= 20M records/s, report >= 10M, text >= 4M,
jsonl >= 3M, perfetto-proto >= 5M and <= 1/8 of the JSON's size.

Prints a table and writes ``benchmarks/results/<python>/read_throughput.json``.  The default
is 50M records (a ~200 MB file in a temporary directory, removed after; ``--keep DIR`` keeps
it); ``--records 2000000`` is a quick run.

``--baseline DIR`` compares two builds on the same recording: each read is also run with DIR
(an in-place build of another commit, ``setup.py build_ext --inplace``) first on PYTHONPATH,
alternately with this build, ``--rounds`` times each; rows give the median round.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _machine

DEFAULT_RECORDS = 50_000_000
JSON_RECORDS = 600_000
RECORDS_PER_ITERATION = 6
CHILD_TIMEOUT_S = 3600
RSS_TARGET_MIB = 200
RATIO_TARGET = 3.0
PROTO_SIZE_TARGET = 1 / 8
HERE = os.path.dirname(os.path.abspath(__file__))

RECORD = """
import json, sys, time
import infi_tracing

def c(i):
    return i

def b(i):
    return c(i)

def a(i):
    return b(i)

path, iterations = sys.argv[1], int(sys.argv[2])
infi_tracing.configure_sinks(["binary://" + path])
t0 = time.perf_counter()
infi_tracing.set_tracing(filter=lambda frame: frame.f_code.co_name in ("a", "b", "c"),
                         overflow="block")
for i in range(iterations):
    a(i)
infi_tracing.flush_tracing()
t1 = time.perf_counter()
stats = infi_tracing.tracing_stats()
infi_tracing.unset_tracing()
print(json.dumps({"seconds": t1 - t0, "records": stats["sinks"][0]["records"],
                  "lost": stats["lost"] + stats["sinks"][0]["lost"],
                  "backend": stats["backend"]}))
"""

ITERATE = """
import json, sys, time
from infi_tracing.analysis import Reader
reader = Reader([sys.argv[1]])
t0, c0 = time.perf_counter(), time.process_time()
n = reader.count()
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"seconds": t1 - t0, "cpu": c1 - c0, "records": n, "errors": reader.errors}))
"""

# name: (CLI arguments, FILE and OUT standing for the trace and an output file; target records/s)
COMMANDS = {
    "report": (["report", "FILE", "--json"], 10e6),
    "text": (["decode", "FILE", "-o", "/dev/null", "-q"], 4e6),
    "jsonl": (["decode", "FILE", "--format", "jsonl", "-o", "/dev/null", "-q"], 3e6),
    "perfetto-proto": (["decode", "FILE", "--format", "perfetto-proto", "-o", "OUT", "-q"], 5e6),
}
ROWS = ("iterate",) + tuple(COMMANDS)


def run_child(argv, cwd, env=None):
    """Run argv (with `env`: these variables added); (stdout, stderr, status, wall seconds, peak
    RSS in MiB, CPU seconds) of that process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, **env) if env else None)
    # communicate() reaps the child itself, so wait4 would find nothing: read then wait4.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), proc.returncode,
            seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def python(*args):
    return [sys.executable, *args]


def record(workdir, path, records):
    """Record about `records` records into `path`; the child's JSON line, with its RSS."""
    out, err, status, _, rss, _ = run_child(
        python("-c", RECORD, path, str(records // RECORDS_PER_ITERATION)), workdir)
    if status:
        raise SystemExit("recording failed (status %d):\n%s" % (status, err))
    result = json.loads(out)
    result["rss_mib"] = rss
    result["bytes"] = os.path.getsize(path)
    return result


def available(workdir, name):
    """Whether this build has the command (report, perfetto-proto came with later branches)."""
    if name == "report":
        status = run_child(python("-m", "infi_tracing", "report", "--help"), workdir)[2]
        return status == 0
    if name == "perfetto-proto":
        return "perfetto-proto" in run_child(python("-m", "infi_tracing", "decode", "--help"),
                                             workdir)[0]
    return True


def measure(workdir, name, path, records, env=None):
    """One row: seconds, records/s, peak RSS; or why it was not measured."""
    if name == "iterate":
        out, err, status, _, rss, _ = run_child(python("-c", ITERATE, path), workdir, env)
        if status:
            return {"error": err.strip()[-500:]}
        result = json.loads(out)
        if result["errors"]:
            return {"error": str(result["errors"])}
        return {"seconds": result["seconds"], "cpu": result["cpu"], "records": result["records"],
                "rate": result["records"] / result["seconds"],
                "cpu_rate": result["records"] / result["cpu"], "rss_mib": rss}
    if not available(workdir, name):
        return {"skipped": "not in this build"}
    out_path = os.path.join(workdir, "out." + name)
    argv = [out_path if a == "OUT" else path if a == "FILE" else a for a in COMMANDS[name][0]]
    _, err, status, seconds, rss, cpu = run_child(python("-m", "infi_tracing", *argv), workdir,
                                                  env)
    if status:
        return {"error": err.strip()[-500:]}
    row = {"seconds": seconds, "cpu": cpu, "records": records, "rate": records / seconds,
           "cpu_rate": records / cpu, "rss_mib": rss}
    if os.path.exists(out_path):
        row["bytes"] = os.path.getsize(out_path)
        os.unlink(out_path)
    return row


def json_size(workdir, records):
    """Perfetto JSON and protobuf bytes per record, on a trace of `records` records."""
    path = os.path.join(workdir, "small.itr")
    rec = record(workdir, path, records)
    sizes = {"records": rec["records"]}
    for fmt in ("perfetto", "perfetto-proto"):
        if fmt == "perfetto-proto" and not available(workdir, fmt):
            continue
        out = os.path.join(workdir, "small." + fmt)
        _, err, status, seconds, _, _ = run_child(
            python("-m", "infi_tracing", "decode", path, "--format", fmt, "-o", out, "-q"),
            workdir)
        if status:
            sizes[fmt] = {"error": err.strip()[-500:]}
            continue
        sizes[fmt] = {"bytes_per_record": os.path.getsize(out) / rec["records"],
                      "rate": rec["records"] / seconds}
        os.unlink(out)
    os.unlink(path)
    return sizes


def median_row(rows):
    """The round whose wall time is the median (an error, if a round failed)."""
    timed = [r for r in rows if "seconds" in r]
    if len(timed) < len(rows):
        return next(r for r in rows if "seconds" not in r)
    wall = statistics.median_low(r["seconds"] for r in timed)
    row = dict(next(r for r in timed if r["seconds"] == wall))
    row["rounds_seconds"] = [r["seconds"] for r in timed]
    row["rounds_cpu"] = [r["cpu"] for r in timed]
    return row


def verdict(row, target):
    """'met', 'met in CPU time' (the wall clock also counted waits for a core taken by other
    work on the machine), or 'NOT met' (the rate in CPU time, or the RSS)."""
    if row["rss_mib"] >= RSS_TARGET_MIB or row["cpu_rate"] < target:
        return "NOT met"
    return "met" if row["rate"] >= target else "met in CPU time"


def table(result):
    rec = result["recording"]
    lines = [
        "read throughput, %s" % _machine.describe(result["machine"]),
        "recorded %d records (%s backend, %d lost) in %.2f s: %.1fM records/s, %.1f MB "
        "(%.2f bytes/record), peak RSS %.0f MiB" % (
            rec["records"], rec["backend"], rec["lost"], rec["seconds"],
            rec["records"] / rec["seconds"] / 1e6, rec["bytes"] / 1e6,
            rec["bytes"] / rec["records"], rec["rss_mib"]),
        "",
        "| read | seconds | M records/s | CPU s | M records/s of CPU | target | x recording "
        "(<= %g) | peak RSS MiB (< %d) | |" % (RATIO_TARGET, RSS_TARGET_MIB),
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = [n for name in ROWS for n in (name, name + " (baseline)")
             if n in result["rows"]]
    for name in names:
        row = result["rows"][name]
        target = 20e6 if name.startswith("iterate") else COMMANDS[name.split()[0]][1]
        if "rate" not in row:
            lines.append("| %s | | | | | %.0fM | | | %s |" % (
                name, target / 1e6, row.get("skipped") or row["error"]))
            continue
        lines.append("| %s | %.2f | %.1f | %.2f | %.1f | %.0fM | %.2fx | %.0f | %s |" % (
            name, row["seconds"], row["rate"] / 1e6, row["cpu"], row["cpu_rate"] / 1e6,
            target / 1e6, row["ratio"], row["rss_mib"], verdict(row, target)))
    sizes = result.get("perfetto_sizes")
    if sizes:
        json_row = sizes.get("perfetto", {})
        proto_row = sizes.get("perfetto-proto")
        if "bytes_per_record" in json_row:
            line = "Perfetto JSON: %.1f bytes/record (%.2fM records/s, on %d records)" % (
                json_row["bytes_per_record"], json_row["rate"] / 1e6, sizes["records"])
            if proto_row and "bytes_per_record" in proto_row:
                share = proto_row["bytes_per_record"] / json_row["bytes_per_record"]
                line += "; protobuf: %.1f bytes/record, 1/%.1f of the JSON (target <= 1/8): %s" % (
                    proto_row["bytes_per_record"], 1 / share,
                    "met" if share <= PROTO_SIZE_TARGET else "NOT met")
            lines.append("")
            lines.append(line)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS,
                        help="records to record (default %d)" % DEFAULT_RECORDS)
    parser.add_argument("--json-records", type=int, default=JSON_RECORDS,
                        help="records of the trace the Perfetto JSON size is measured on")
    parser.add_argument("--only", nargs="+", choices=ROWS, help="only these reads")
    parser.add_argument("--keep", metavar="DIR", help="keep the trace in DIR")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also read with the in-place build in DIR (put first on PYTHONPATH)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure each read this many times (the median is shown)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"),
                        help="results folder (a subfolder per Python version)")
    args = parser.parse_args()
    if args.records < RECORDS_PER_ITERATION:
        parser.error("--records: expected at least %d" % RECORDS_PER_ITERATION)
    workdir = tempfile.mkdtemp(prefix="read_throughput-")
    try:
        path = os.path.join(workdir, "trace.itr")
        result = {"machine": _machine.facts(), "recording": record(workdir, path, args.records),
                  "rows": {}}
        records = result["recording"]["records"]
        builds = {"": None}
        if args.baseline:
            builds[" (baseline)"] = {"PYTHONPATH": os.path.abspath(args.baseline)}
        for name in args.only or ROWS:
            rounds = {label: [] for label in builds}
            for _ in range(args.rounds):  # the builds alternate: both see the same load
                for label, env in builds.items():
                    rounds[label].append(measure(workdir, name, path, records, env))
                    print("%s%s: %s" % (name, label, rounds[label][-1]), file=sys.stderr)
            for label in builds:
                row = median_row(rounds[label])
                if "seconds" in row:
                    row["ratio"] = row["seconds"] / result["recording"]["seconds"]
                result["rows"][name + label] = row
        for name in ROWS:
            result["rows"].setdefault(name, {"skipped": "not asked (--only)"})
        if not args.only or "perfetto-proto" in args.only:
            result["perfetto_sizes"] = json_size(workdir, min(args.json_records, args.records))
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            shutil.move(path, os.path.join(args.keep, "trace.itr"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["command"] = " ".join(["python", "benchmarks/read_throughput.py", *sys.argv[1:]])
    print(table(result))
    folder = os.path.join(args.out, "%d.%d" % sys.version_info[:2])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "read_throughput.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
