"""Command line: ``python -m infi_tracing run|decode|stats`` (and ``infi-tracing``)."""

import argparse
import json
import os
import stat
import sys
import time

from infi_tracing import _format
from infi_tracing._binary import TraceFileError, read_records

__all__ = ["main"]

PROGRESS_MIN_BYTES = 1 << 20   # files at least this big show decoding progress
PROGRESS_INTERVAL = 0.5        # seconds between progress updates


class _Progress:
    """'decoding: NN% (N records)' on stderr, rewritten in place with \\r at
    most every PROGRESS_INTERVAL seconds, then a final line."""

    def __init__(self, stream):
        self.stream = stream
        self.records = 0
        self.shown = False
        self.last = time.monotonic()

    def update(self, done, total):
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self._show(done, total, "\r")

    def _show(self, done, total, end):
        percent = 100 * done // total if total else 100
        self.stream.write("\rdecoding: %d%% (%d records)%s"
                          % (percent, self.records, "\n" if end == "\n" else ""))
        self.stream.flush()
        self.shown = True

    def finish(self, total):
        self._show(total, total, "\n")


def _decode_perfetto_proto(args):
    """decode --format perfetto-proto: natively, through infi_tracing.analysis's Reader."""
    from infi_tracing.analysis._perfetto import decode_perfetto_proto
    try:
        _, errors = decode_perfetto_proto([args.file], args.output)
    except OSError as exc:
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    for path, offset, message in errors:
        print("infi_tracing decode: %s: at byte %d: %s" % (path, offset, message),
              file=sys.stderr)
    return 1 if errors else 0


def _decode(args):
    if args.format == "perfetto-proto":
        return _decode_perfetto_proto(args)
    if args.format == "perfetto":
        from infi_tracing.sinks.perfetto import PerfettoSink
        sink = PerfettoSink("/dev/stdout" if args.output == "-" else args.output)
        write, done = (lambda rec: sink.write([rec])), sink.close
    else:
        render = _format.format_jsonl if args.format == "jsonl" else _format.format_text
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
        write = lambda rec: out.write(render(rec))  # noqa: E731
        done = out.flush if out is sys.stdout else out.close
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        done()
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    try:
        return _decode_from(source, write, done, args.quiet)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _input_size(source):
    """Bytes in a regular file; 0 for a pipe, FIFO or terminal (size unknown)."""
    try:
        info = os.fstat(source.fileno())
    except (OSError, ValueError):
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _decode_from(source, write, done, quiet):
    """Decode `source` (read once: it may be a pipe) through `write`."""
    size = _input_size(source)
    progress = _Progress(sys.stderr) if not quiet and size >= PROGRESS_MIN_BYTES else None
    try:
        if progress is None:
            for rec in read_records(source):
                write(rec)
        else:
            for rec in read_records(source, progress=progress.update):
                write(rec)
                progress.records += 1
    except TraceFileError as exc:
        done()
        if progress is not None and progress.shown:
            sys.stderr.write("\n")
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    done()
    if progress is not None:
        progress.finish(size)
    return 0


def _stats(args):
    from infi_tracing._summary import format_stats, read_stats_file
    try:
        snapshots = read_stats_file(args.file)
    except (OSError, TraceFileError) as exc:
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
    decode = commands.add_parser("decode", help="turn a binary trace file into another format")
    decode.add_argument("file", help="a binary trace file (binary:///path sink), a FIFO, or - "
                                     "for standard input (a stream is read once)")
    decode.add_argument("--format", choices=("text", "jsonl", "perfetto", "perfetto-proto"),
                        default="text", help="perfetto: Chrome/Perfetto JSON; perfetto-proto: "
                        "Perfetto protobuf (.pftrace, about 1/8 the size), for ui.perfetto.dev")
    decode.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    decode.add_argument("-q", "--quiet", action="store_true",
                        help="no progress line on stderr (shown for files over 1 MiB)")
    decode.set_defaults(run=_decode)
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
