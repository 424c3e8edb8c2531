"""The reference reader of binary trace files (written by native/it_binary.h), in Python, for
the tests only: the native reader (infi_tracing/analysis/native/it_read_binary.h) must read
every file as this does.  Keep the two in step.

``read_records(path)`` yields decoded record dicts with the same keys the drain gives Python
sinks (without the reader's durations).
"""

import struct

from infi_tracing._records import CALL, EVENT_NAMES, LOG, LOST, OMITTED, SWITCH, YIELD, record_dict

__all__ = ["MAGIC", "TraceFileError", "read_records"]

MAGIC = b"INFITRC1"
_CHUNK = struct.Struct("<II")
_CODE = struct.Struct("<qIiII")
_RECORDS = struct.Struct("<qqq")
_RECORD = struct.Struct("<IHHIIQiI")
_CODE_CHUNK, _RECORDS_CHUNK, _PACKED_CHUNK = 1, 2, 3


class TraceFileError(ValueError):
    """The file is not a binary trace, or it is cut short or damaged."""


def _check_magic(head, name):
    if head != MAGIC:
        raise TraceFileError("%s is not an infi_tracing binary trace (it starts with %r, "
                             "expected %r)" % (name, head[:8], MAGIC))


def _strings(blob):
    return [s.decode("utf-8", "replace") for s in blob.rstrip(b"\0").split(b"\0")]


def read_records(source, progress=None):
    """Yield the records of a binary trace, in file order.

    `source` is a path, or a binary file object (a pipe, standard input),
    read once to its end.  Raises TraceFileError on a foreign file, or when
    the file is cut short (after yielding every complete chunk before the
    cut).  `progress(done, total)` is called with byte counts as chunks are
    read.
    """
    if hasattr(source, "read"):
        path, data = getattr(source, "name", "<stream>"), source.read()
    else:
        path = source
        with open(path, "rb") as f:  # opened once: a FIFO or /dev/stdin cannot be read twice
            data = f.read()
    _check_magic(data[:len(MAGIC)], path)
    codes = {}
    total, offset = len(data), len(MAGIC)
    while offset < total:
        if offset + _CHUNK.size > total:
            raise TraceFileError("%s is cut short: a chunk header at byte %d is incomplete"
                                 % (path, offset))
        kind, length = _CHUNK.unpack_from(data, offset)
        start, end = offset + _CHUNK.size, offset + _CHUNK.size + length
        if end > total:
            raise TraceFileError("%s is cut short: the chunk at byte %d needs %d bytes, %d remain"
                                 % (path, offset, length, total - start))
        if kind == _CODE_CHUNK:
            pid, code_id, line, nargs, _ = _CODE.unpack_from(data, start)
            names = _strings(data[start + _CODE.size:end])
            if len(names) < 3 + nargs:
                raise TraceFileError("%s: damaged code entry at byte %d" % (path, offset))
            codes[pid, code_id] = (names[0], names[1], names[2], line, names[3:3 + nargs])
        elif kind == _RECORDS_CHUNK:
            pid, tid, wall_offset = _RECORDS.unpack_from(data, start)
            yield from _decode_records(path, data, start + _RECORDS.size, end, pid, tid,
                                       wall_offset, codes)
        elif kind == _PACKED_CHUNK:
            pid, tid, wall_offset = _RECORDS.unpack_from(data, start)
            yield from _decode_packed(path, data, start + _RECORDS.size, end, pid, tid,
                                      wall_offset, codes)
        else:
            raise TraceFileError("%s: unknown chunk type %d at byte %d" % (path, kind, offset))
        offset = end
        if progress is not None:
            progress(offset, total)


def _decode_records(path, data, pos, end, pid, tid, wall_offset, codes):
    while pos < end:
        size, event, nvalues, code_id, greenlet, ts, depth, _ = _RECORD.unpack_from(data, pos)
        if size < _RECORD.size or pos + size > end or not CALL <= event < len(EVENT_NAMES):
            raise TraceFileError("%s: damaged record at byte %d" % (path, pos))
        if event == LOST:
            yield record_dict(event, ts, wall_offset, pid, tid, count=code_id | greenlet << 32)
        elif event == SWITCH:  # code_id: the greenlet switched from
            yield record_dict(event, ts, wall_offset, pid, tid, greenlet, from_greenlet=code_id)
        elif event == OMITTED:  # calls left out, their wall and active ns (native/it_slow.h)
            if size < _RECORD.size + 24:
                raise TraceFileError("%s: damaged record at byte %d" % (path, pos))
            calls, wall, active = struct.unpack_from("<Qqq", data, pos + _RECORD.size)
            yield record_dict(event, ts, wall_offset, pid, tid, greenlet, depth, count=calls,
                              omitted=(wall, active))
        else:
            payload = data[pos + _RECORD.size:pos + size].split(b"\0")
            values = [v.decode("utf-8", "replace") for v in payload[:3 if event == LOG else
                                                                     nvalues]]
            yield record_dict(event, ts, wall_offset, pid, tid, greenlet, depth,
                              None if event == LOG else _code(path, pos, codes, pid, code_id),
                              values)
        pos += size


def _code(path, pos, codes, pid, code_id):
    """(module, qualname, file, line, argument names) of a code the file defined."""
    try:
        return codes[pid, code_id]
    except KeyError:
        raise TraceFileError("%s: record at byte %d names code %d of pid %d, which the "
                             "file never defined" % (path, pos, code_id, pid)) from None


def _decode_packed(path, data, pos, end, pid, tid, wall_offset, codes):
    """Entries of a PACKED chunk (see native/it_binary.h)."""
    ts = depth = greenlet = 0

    def varint():
        nonlocal pos
        value = shift = 0
        while True:
            if pos >= end:
                raise TraceFileError("%s: damaged packed record before byte %d" % (path, end))
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    while pos < end:
        at, tag = pos, data[pos]
        pos += 1
        if tag == 0:  # the pad
            break
        if tag & 0x10:
            if pos + 4 > end:
                raise TraceFileError("%s: damaged record at byte %d" % (path, at))
            size = _CHUNK.unpack_from(data, pos)[0]
            yield from _decode_records(path, data, pos, min(pos + size, end), pid, tid,
                                       wall_offset, codes)
            pos += size
            continue
        event = tag & 0x07
        if not CALL <= event <= YIELD:  # the events that are packed
            raise TraceFileError("%s: damaged record at byte %d" % (path, at))
        code_id = varint()
        ts += varint()
        zigzag = varint()
        depth += (zigzag >> 1) ^ -(zigzag & 1)
        if tag & 0x08:
            greenlet = varint()
        yield record_dict(event, ts, wall_offset, pid, tid, greenlet, depth,
                          _code(path, at, codes, pid, code_id))
