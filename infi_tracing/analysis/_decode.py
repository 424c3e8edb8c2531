"""decode and replay: a trace's records as text, JSON lines, Perfetto JSON or
Perfetto protobuf.

Text and JSON lines are formatted and written natively (analysis/write.pyx
over native/it_rwrite.h), Perfetto protobuf too (analysis/pftrace.pyx over
native/it_pftrace.h, the live perfetto+proto:// sink's encoder), Perfetto
JSON through the Python Perfetto sink.
Errors of an input are reported on stderr after everything readable in it
was written; the exit status is then 1.
"""

import errno
import os
import stat
import sys
import time

from infi_tracing.analysis._reader import write_lines, write_perfetto_proto
from infi_tracing.analysis._reading import Reader
from infi_tracing.sinks.files import open_trace_file

__all__ = ["decode", "replay", "report_errors"]

PROGRESS_MIN_BYTES = 1 << 20   # inputs at least this big show progress
PROGRESS_INTERVAL = 0.5        # seconds between progress updates


class _Progress:
    """'decoding: NN% (N records)' on stderr, rewritten in place with \\r at
    most every PROGRESS_INTERVAL seconds, then a final line."""

    def __init__(self, stream, reader, sizes):
        self.stream, self.reader, self.sizes = stream, reader, sizes
        self.total = sum(sizes)
        self.shown = False
        self.last = time.monotonic()

    def update(self, records, offset):
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            current = self.reader.current
            self._show(sum(self.sizes[:current]) + min(offset, self.sizes[current]), records,
                       "")

    def _show(self, done, records, end):
        percent = 100 * done // self.total if self.total else 100
        self.stream.write("\rdecoding: %d%% (%d records)%s" % (percent, records, end))
        self.stream.flush()
        self.shown = True

    def finish(self, records, complete):
        if complete:
            self._show(self.total, records, "\n")
        elif self.shown:
            self.stream.write("\n")


def _input_sizes(paths):
    """Bytes of each regular file; 0 for a pipe, FIFO, terminal or standard input."""
    sizes = []
    for path in paths:
        try:
            info = os.stat(path) if path != "-" else os.fstat(0)
        except OSError:
            info = None
        sizes.append(info.st_size if info is not None and stat.S_ISREG(info.st_mode) else 0)
    return sizes


def report_errors(command, reader, stream=None):
    """Each input error of `reader` as 'infi_tracing COMMAND: PATH: MESSAGE' on
    stderr, after the count of lines a text input skipped (not trace records:
    not an error); returns 1 if there was an error, else 0."""
    stream = stream or sys.stderr
    for path, lines, offset in reader.skipped:
        stream.write("infi_tracing %s: %s: %d line%s skipped (not trace records; the first at "
                     "byte %d)\n" % (command, path, lines, "" if lines == 1 else "s", offset))
    for path, _, message in reader.errors:  # the message says where (byte N) if it matters
        stream.write("infi_tracing %s: %s: %s\n" % (command, path, message))
    return 1 if reader.errors else 0


def _open_output(output):
    """(fd, close) for `output`: "-" is standard output (flushed first)."""
    if output == "-":
        sys.stdout.flush()
        return sys.stdout.fileno(), lambda: None
    # A decoded trace holds what the trace held: created 0600, never through a
    # link another user planted (the rule of every trace file: sinks/files.py).
    fd = open_trace_file(output, os.O_WRONLY | os.O_TRUNC, "output file")[1]
    return fd, lambda: os.close(fd)


def _run(command, paths, output, fmt, min_duration_ns, quiet, filters):
    try:
        reader = Reader(paths, **filters)
    except ValueError as exc:
        sys.stderr.write("infi_tracing %s: %s\n" % (command, exc))
        return 2
    sizes = _input_sizes(reader.paths)
    progress = None
    if not quiet and sum(sizes) >= PROGRESS_MIN_BYTES:
        progress = _Progress(sys.stderr, reader, sizes)
    try:
        if fmt == "perfetto":
            records, err = _perfetto(reader, output), 0
        elif fmt == "perfetto-proto":
            fd, close = _open_output(output)
            try:
                records, err = write_perfetto_proto(reader, fd, output), 0
            finally:
                close()
        else:
            fd, close = _open_output(output)
            try:
                records, err = write_lines(reader, fd, fmt, min_duration_ns,
                                           progress.update if progress else None)
            finally:
                close()
    except OSError as exc:
        sys.stderr.write("infi_tracing %s: -o %s: %s\n" % (command, output, exc.strerror))
        return 1
    if progress is not None:
        progress.finish(records, not reader.errors and not err)
    if err and err != errno.EPIPE:  # the reader of our output went away (| head): quietly
        sys.stderr.write("infi_tracing %s: writing %s: %s\n"
                         % (command, "standard output" if output == "-" else output,
                            os.strerror(err)))
        return 1
    return report_errors(command, reader)



def _perfetto(reader, output):
    from infi_tracing.sinks.perfetto import PerfettoSink
    sink = PerfettoSink("/dev/stdout" if output == "-" else output)
    records = 0
    try:
        batch = []
        for rec in reader.records():
            if rec["event"] == "switch":
                continue  # kept in binary files for the pairing; the JSON shows slices only
            records += 1
            batch.append(rec)
            if len(batch) == 4096:
                sink.write(batch)
                batch = []
        sink.write(batch)
    finally:
        sink.close()
    return records


def decode(paths, output="-", format="text", quiet=False, **filters):
    """Write the records of the traces `paths` to `output` ("-": standard
    output) as `format` ("text", "jsonl", "perfetto" or "perfetto-proto"),
    with durations on exits (the protobuf has slices instead); `filters` as Reader takes them.  A progress line on stderr for
    inputs over 1 MiB unless `quiet`.  Returns the exit status: 0, or 1 when
    an input could not be read to its end (reported on stderr) or the output
    failed, 2 for a bad filter."""
    return _run("decode", paths, output, format, -1, quiet, filters)


def replay(paths, output="-", min_duration_ns=None, quiet=True, **filters):
    """The nested text view of the traces `paths` with durations; with
    `min_duration_ns`, only the calls that took at least that long, each
    with its ancestors (written once, before the first kept descendant).
    Returns the exit status as decode() does."""
    return _run("replay", paths, output, "text",
                -1 if min_duration_ns is None else min_duration_ns, quiet, filters)
