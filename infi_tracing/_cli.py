"""Command line: ``python -m infi_tracing run|decode|replay|stats`` (and ``infi-tracing``).

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
