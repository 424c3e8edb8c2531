"""Perfetto protobuf from trace files: ``decode --format perfetto-proto``."""

import os

from infi_tracing.analysis._reader import write_perfetto_proto
from infi_tracing.analysis._reading import Reader

__all__ = ["decode_perfetto_proto"]


def decode_perfetto_proto(paths, output, **filters):
    """Write the records of `paths` (read by Reader, with its `filters`) to
    `output` (a path, "-" for standard output) as a Perfetto protobuf trace,
    natively (infi_tracing/native/it_pftrace.h).  Returns (records read,
    Reader.errors: (path, byte offset, message) of inputs not read to their
    end).  OSError names the output file when it cannot be written."""
    reader = Reader(paths, **filters)
    if output == "-":
        return write_perfetto_proto(reader, 1, "<stdout>"), reader.errors
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise OSError(exc.errno, "cannot open the Perfetto protobuf output (path=%r): %s"
                      % (output, exc.strerror), output) from None
    try:
        return write_perfetto_proto(reader, fd, output), reader.errors
    finally:
        os.close(fd)
