"""Command line: ``python -m infi_tracing decode FILE`` (and ``infi-tracing``)."""

import argparse
import sys

from infi_tracing import _format
from infi_tracing._binary import TraceFileError, read_records

__all__ = ["main"]


def _decode(args):
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
        for rec in read_records(args.file):
            write(rec)
    except TraceFileError as exc:
        done()
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    except OSError as exc:
        print("infi_tracing decode: %s" % exc, file=sys.stderr)
        return 1
    done()
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="python -m infi_tracing",
                                     description="infi_tracing command line tools")
    commands = parser.add_subparsers(dest="command", required=True)
    decode = commands.add_parser("decode", help="turn a binary trace file into another format")
    decode.add_argument("file", help="a binary trace file (binary:///path sink)")
    decode.add_argument("--format", choices=("text", "jsonl", "perfetto"), default="text")
    decode.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    decode.set_defaults(run=_decode)
    return parser


def main(argv=None):
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    return args.run(args)
