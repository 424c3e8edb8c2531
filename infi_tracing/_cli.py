"""Command line: ``python -m infi_tracing run|decode|replay|stats|report|graph|diff|greenlets``
(and ``infi-tracing``).

Arguments are parsed here; the commands that read traces run in infi_tracing.analysis."""

import argparse
import json
import sys

__all__ = ["main", "add_filter_arguments", "reader_filters"]

def add_filter_arguments(parser):
    """The filters every command reading traces takes (infi_tracing.analysis.Reader's)."""
    group = parser.add_argument_group("filters")
    group.add_argument("--from", dest="start", metavar="TIME",
                       help="records from this wall time (2026-11-25T22:10:01.5Z, UTC unless "
                            "a zone is given) or this many seconds into the trace")
    group.add_argument("--to", dest="end", metavar="TIME", help="records up to this time (as --from)")
    group.add_argument("--pid", type=int, action="append", default=[], help="this process only "
                                                                          "(repeatable)")
    group.add_argument("--tid", type=int, action="append", default=[], help="this thread only "
                                                                          "(repeatable)")
    group.add_argument("--greenlet", type=int, action="append", default=[],
                       help="this greenlet only (repeatable)")
    group.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="functions of these modules or files only, as run --include takes "
                            "them (repeatable)")
    group.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="not the functions of these modules or files (repeatable)")
    group.add_argument("--depth", type=int, metavar="N",
                       help="records at call depth N or less (0: the outermost calls)")


def reader_filters(args):
    """The Reader keywords of the filter arguments; ValueError naming the
    argument for a bad value."""
    from infi_tracing.analysis import parse_time
    for name, value in (("--from", args.start), ("--to", args.end)):
        if value is not None:
            parse_time(value, name)
    if args.depth is not None and args.depth < 0:
        raise ValueError("--depth: expected a depth >= 0, got %d" % args.depth)
    return {"start": args.start, "end": args.end, "pids": args.pid, "tids": args.tid,
            "greenlets": args.greenlet, "include": args.include, "exclude": args.exclude,
            "depth": args.depth}


def _decode(args):
    from infi_tracing.analysis import decode
    try:
        filters = reader_filters(args)
    except ValueError as exc:
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 2
    return decode(args.files, args.output, args.format, args.quiet, **filters)


def _recover(args):
    from infi_tracing.analysis import recover_command
    return recover_command(args.file, args.output, args.quiet)


def _replay(args):
    from infi_tracing.analysis import parse_duration, replay
    try:
        filters = reader_filters(args)
        min_duration = None if args.min_duration is None else parse_duration(args.min_duration)
    except ValueError as exc:
        print("infi_tracing replay: %s" % exc, file=sys.stderr)
        return 2
    return replay(args.files, args.output, min_duration, **filters)


def _stats(args):
    from infi_tracing._summary import format_stats, read_stats_file
    try:
        snapshots = read_stats_file(args.file)
    except (OSError, ValueError) as exc:
        print("infi_tracing stats: %s" % exc, file=sys.stderr)
        return 1
    if not snapshots:
        print("infi_tracing stats: no stats in %s (expected JSON lines written by the stats "
              "signal, or a trace with infi_tracing.stats log records)" % args.file,
              file=sys.stderr)
        return 1
    if not args.all:
        latest = {}
        for snapshot in snapshots:
            latest.pop(snapshot.get("pid"), None)
            latest[snapshot.get("pid")] = snapshot  # keeps the order of last appearance
        snapshots = list(latest.values())
    for snapshot in snapshots:
        if args.json:
            sys.stdout.write(json.dumps(snapshot, indent=2) + "\n")
        else:
            sys.stdout.write(format_stats(snapshot))
    return 0


def _analysis(run):
    """A command's runner: ValueError (bad arguments, found when reading
    starts) and OSError become a message naming the command, exit code 2/1."""
    def runner(args):
        try:
            return run(args)
        except ValueError as exc:
            print("infi_tracing %s: %s" % (args.command, exc), file=sys.stderr)
            return 2
        except OSError as exc:
            print("infi_tracing %s: %s" % (args.command, exc), file=sys.stderr)
            return 1
    return runner


def _report(args):
    from infi_tracing.analysis import report_command
    return report_command(args.files, sys.stdout, by=args.by, sort=args.sort, top=args.top,
                          time=args.time, as_json=args.json, filters=reader_filters(args))


def _graph(args):
    from infi_tracing.analysis import graph_command
    return graph_command(args.files, args.function, sys.stdout, depth=args.graph_depth,
                         time=args.time, as_json=args.json, filters=reader_filters(args))


def _diff(args):
    from infi_tracing.analysis import diff_command, parse_duration
    return diff_command(args.a, args.b, sys.stdout, sys.stderr, by=args.by, time=args.time,
                        top=args.top, fail_if_slower=args.fail_if_slower,
                        min_total_ns=parse_duration(args.min_total, "--min-total"),
                        as_json=args.json, filters=reader_filters(args))


def _greenlets(args):
    from infi_tracing.analysis import greenlets_command, parse_duration
    return greenlets_command(args.files, sys.stdout,
                             threshold_ns=parse_duration(args.threshold, "--threshold"),
                             include_hub=args.include_hub, top=args.top, as_json=args.json,
                             filters=reader_filters(args))


def _top(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number >= 1, got %s" % text)
    return value


_TRACES = ("trace files: binary, jsonl or text (also text collected by rsyslogd or syslog-ng, "
           "syslog header in front); several are read as one")


def _add_analysis_parsers(commands):
    fmt = argparse.RawDescriptionHelpFormatter
    times = dict(choices=("wall", "active"), default="wall",
                 help="wall: call to return; active: less the time its greenlet was switched "
                      "out (default wall; --json gives both)")
    report = commands.add_parser(
        "report", help="calls and total/self time per function", formatter_class=fmt,
        description="One row per function (or module, greenlet, thread, pid): calls, total, "
                    "self (the function itself ran: callees and time its greenlet was "
                    "switched out excluded), mean, p50, p95, max.  A recursive function's "
                    "total counts its outermost calls only.  Percentiles come from a "
                    "log-linear histogram (128 buckets per power of two): within 0.4%.",
        epilog="examples:\n  python -m infi_tracing report app.itr\n"
               "  python -m infi_tracing report --by greenlet --sort self --top 20 app.itr\n"
               "  python -m infi_tracing report --include myapp --json app.itr > base.json\n"
               "  python -m infi_tracing report /var/log/remote/*.log")
    report.add_argument("files", nargs="+", metavar="FILE", help=_TRACES)
    report.add_argument("--by", choices=("function", "module", "greenlet", "thread", "pid"),
                        default="function", help="one row per what (default function)")
    report.add_argument("--sort", default="total",
                        choices=("calls", "total", "self", "mean", "p50", "p95", "max", "name"),
                        help="column to sort by, largest first (default total)")
    report.add_argument("--top", type=_top, metavar="N", help="only the first N rows")
    report.add_argument("--time", **times)
    report.add_argument("--json", action="store_true", help="JSON with wall and active times")
    add_filter_arguments(report)
    report.set_defaults(run=_analysis(_report))

    graph = commands.add_parser(
        "graph", help="the call tree below a function and its callers", formatter_class=fmt,
        description="The aggregated call tree below FUNC (calls, total and self per node) and "
                    "the tree of its callers above it (calls and FUNC's total through each "
                    "chain).  FUNC is a glob matched against qualname and module.qualname; "
                    "several matches merge into one root (the header names them).",
        epilog="examples:\n  python -m infi_tracing graph handle app.itr\n"
               "  python -m infi_tracing graph 'myapp.views.*' --levels 3 app.itr")
    graph.add_argument("function", metavar="FUNC", help="qualname or module.qualname glob")
    graph.add_argument("files", nargs="+", metavar="FILE", help=_TRACES)
    graph.add_argument("--levels", dest="graph_depth", type=int, metavar="N",
                       help="levels shown below FUNC and above it (default all)")
    graph.add_argument("--time", **times)
    graph.add_argument("--json", action="store_true", help="JSON nodes")
    add_filter_arguments(graph)
    graph.set_defaults(run=_analysis(_graph))

    diff = commands.add_parser(
        "diff", help="two reports side by side; --fail-if-slower for CI", formatter_class=fmt,
        description="Calls and total/self time per function of A and B with their changes, "
                    "biggest change of total first.  A and B are traces (FILE[,FILE...]) or "
                    "a saved report --json (a baseline).  The first row, (all), is the time "
                    "spent in traced code (the sum of self times).",
        epilog="examples:\n  python -m infi_tracing diff before.itr after.itr\n"
               "  python -m infi_tracing diff --fail-if-slower 10 --min-total 5ms base.json "
               "new.itr")
    diff.add_argument("a", metavar="A", help="baseline: traces or a report --json file")
    diff.add_argument("b", metavar="B", help="new: traces or a report --json file")
    diff.add_argument("--by", choices=("function", "module", "greenlet", "thread", "pid"),
                      default="function", help="compare per what (default function)")
    diff.add_argument("--time", **times)
    diff.add_argument("--top", type=_top, metavar="N", help="only the first N rows")
    diff.add_argument("--fail-if-slower", type=float, metavar="PCT",
                      help="exit 1 when a function's total time (or the (all) row's) grew by "
                           "more than PCT percent")
    diff.add_argument("--min-total", default="1ms", metavar="DURATION",
                      help="--fail-if-slower ignores rows whose total is below this on both "
                           "sides (default 1ms: noise)")
    diff.add_argument("--json", action="store_true", help="JSON rows")
    add_filter_arguments(diff)
    diff.set_defaults(run=_analysis(_diff))

    greenlets = commands.add_parser(
        "greenlets", help="greenlets' running times, and stretches that blocked the hub",
        formatter_class=fmt,
        description="Per greenlet: pid, tid, id, first function, lifetime (first to last "
                    "record), running time and switches.  Then every stretch in which a "
                    "greenlet ran without yielding for longer than --threshold (it blocked "
                    "the hub), with the call tree that ran in it.  Switch records (binary "
                    "traces) give exact stretches; without them a stretch runs from the "
                    "greenlet's first to its last record before another greenlet's.  gevent's "
                    "hub (first function Hub.run, or no traced function at all) waits for "
                    "events: its stretches are only shown with --include-hub.",
        epilog="examples:\n  python -m infi_tracing greenlets app.itr\n"
               "  python -m infi_tracing greenlets --threshold 50ms --top 5 app.itr")
    greenlets.add_argument("files", nargs="+", metavar="FILE", help=_TRACES)
    greenlets.add_argument("--threshold", default="10ms", metavar="DURATION",
                           help="report stretches longer than this (default 10ms)")
    greenlets.add_argument("--include-hub", action="store_true",
                           help="report the hub's stretches too")
    greenlets.add_argument("--top", type=_top, metavar="N",
                           help="only the first N greenlets and stretches")
    greenlets.add_argument("--json", action="store_true", help="JSON")
    add_filter_arguments(greenlets)
    greenlets.set_defaults(run=_analysis(_greenlets))


def _parser():
    from infi_tracing._run import add_run_parser
    parser = argparse.ArgumentParser(prog="python -m infi_tracing",
                                     description="infi_tracing command line tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.run_parser = add_run_parser(commands)
    decode = commands.add_parser(
        "decode", help="turn trace files into text, JSON lines or Perfetto JSON",
        description="Write the records of trace files (several are read one after another) as "
                    "text lines, JSON lines or Perfetto JSON, with the duration of each call on "
                    "its return. An input that is damaged or cut short is reported with the "
                    "byte offset after everything readable in it was written (exit status 1).")
    decode.add_argument("files", nargs="+", metavar="FILE",
                        help="a binary trace file (binary:///path sink), a FIFO, or - for "
                             "standard input (a stream is read once)")
    decode.add_argument("--format", choices=("text", "jsonl", "perfetto", "perfetto-proto"),
                        default="text", help="perfetto: Chrome/Perfetto JSON; perfetto-proto: "
                        "Perfetto protobuf (.pftrace, about 1/8 the size), for ui.perfetto.dev")
    decode.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    decode.add_argument("-q", "--quiet", action="store_true",
                        help="no progress line on stderr (shown for inputs over 1 MiB)")
    add_filter_arguments(decode)
    decode.set_defaults(run=_decode)
    replay = commands.add_parser(
        "replay", help="the nested call view of trace files, with durations",
        description="The records of trace files as nested text lines (the text format), with "
                    "the duration of each call on its return. --min-duration keeps only the "
                    "calls that took at least that long, each with its ancestors as context "
                    "(an ancestor is shown once, before its first kept descendant; log records "
                    "are left out, lost records always shown).")
    replay.add_argument("files", nargs="+", metavar="FILE", help="trace files (- for standard "
                                                                "input)")
    replay.add_argument("--min-duration", metavar="DURATION",
                        help="only calls that took at least this long: 800ns, 250us, 1ms, 2s")
    replay.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    add_filter_arguments(replay)
    replay.set_defaults(run=_replay)
    recover = commands.add_parser(
        "recover", help="turn a crash-survival file into a binary trace",
        description="Read the file a process traced with --flight-recorder-file left behind "
                    "(after SIGKILL, the OOM killer or a segfault) and write a binary trace: "
                    "the flight recorder's blocks, then every record still in a thread's ring "
                    "(a torn last record left out), then a log record per thread saying where "
                    "it stopped. The file is only read: a live writer's file is safe to recover "
                    "(a copy of the moment). Exit status 2 on a damaged or truncated file.")
    recover.add_argument("file", metavar="PATH", help="the --flight-recorder-file of the process")
    recover.add_argument("-o", "--output", required=True, help="the binary trace to write")
    recover.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    recover.set_defaults(run=_recover)
    stats = commands.add_parser(
        "stats", help="print tracing statistics written by the stats signal",
        description="Print the tracing statistics a process wrote on its stats signal "
                    "(infi_tracing.install_signal_handlers): a stats file "
                    "(INFI_TRACING_STATS_FILE, one JSON object per line) or a trace file "
                    "(text, jsonl or binary) holding infi_tracing.stats log records. "
                    "By default the latest snapshot of each process.")
    stats.add_argument("file", help="stats file or trace file")
    stats.add_argument("--all", action="store_true", help="every snapshot, not the latest")
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.set_defaults(run=_stats)
    _add_analysis_parsers(commands)
    return parser


def main(argv=None):
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] == "run":
        from infi_tracing._run import split_run_argv
        options, module, target, program_args = split_run_argv(argv[1:], parser.run_parser)
        args = parser.parse_args(["run"] + options)
        args.module = module if module is not None else args.module
        args.target = target[0] if target else None
        args.args = program_args
        return args.run(args, parser.run_parser)
    args = parser.parse_args(argv)
    return args.run(args)
