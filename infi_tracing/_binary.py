"""Reading binary trace files (written by native/it_binary.h).

``read_records(path)`` yields decoded record dicts with the same keys the
drain gives Python sinks, so every text, JSON-lines or Perfetto writer works
on them unchanged.
"""

import struct

__all__ = ["MAGIC", "TraceFileError", "read_records", "check_trace_file"]

MAGIC = b"INFITRC1"
_CHUNK = struct.Struct("<II")
_CODE = struct.Struct("<qIiII")
_RECORDS = struct.Struct("<qqq")
_RECORD = struct.Struct("<IHHIIQiI")
_EVENTS = {1: "call", 2: "return", 3: "exception", 4: "resume", 5: "yield", 6: "lost",
           7: "log"}
_CODE_CHUNK, _RECORDS_CHUNK, _PACKED_CHUNK = 1, 2, 3


class TraceFileError(ValueError):
    """The file is not a binary trace, or it is cut short or damaged."""


def _check_magic(head, name):
    if head != MAGIC:
        raise TraceFileError("%s is not an infi_tracing binary trace (it starts with %r, "
                             "expected %r)" % (name, head[:8], MAGIC))


def check_trace_file(path):
    """Raise TraceFileError unless `path` starts like a binary trace file."""
    with open(path, "rb") as f:
        _check_magic(f.read(len(MAGIC)), path)


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
        if size < _RECORD.size or pos + size > end or event not in _EVENTS:
            raise TraceFileError("%s: damaged record at byte %d" % (path, pos))
        rec = {"mono_ns": ts, "time_ns": ts + wall_offset, "pid": pid, "tid": tid,
               "event": _EVENTS[event]}
        if event == 6:
            rec["count"] = code_id | greenlet << 32
        elif event == 7:
            level, logger, message = (data[pos + _RECORD.size:pos + size].split(b"\0") +
                                      [b"", b"", b""])[:3]
            rec.update(greenlet=greenlet, depth=depth, level=level.decode("utf-8", "replace"),
                       logger=logger.decode("utf-8", "replace"),
                       message=message.decode("utf-8", "replace"))
        else:
            argnames = _add_code(rec, path, pos, codes, pid, code_id, greenlet, depth)
            payload = data[pos + _RECORD.size:pos + size].split(b"\0")[:nvalues]
            values = [v.decode("utf-8", "replace") for v in payload]
            if event == 1 and values:
                rec["args"] = dict(zip(argnames, values, strict=False))
            elif event == 3:
                rec["exception"] = values[0] if values else "?"
            elif values:
                rec["retval"] = values[0]
        yield rec
        pos += size


def _add_code(rec, path, pos, codes, pid, code_id, greenlet, depth):
    """Add the function's fields to `rec`; returns its argument names."""
    try:
        module, qualname, filename, line, argnames = codes[pid, code_id]
    except KeyError:
        raise TraceFileError("%s: record at byte %d names code %d of pid %d, which the "
                             "file never defined" % (path, pos, code_id, pid)) from None
    rec.update(greenlet=greenlet, depth=depth, module=module, qualname=qualname,
               file=filename, line=line)
    return argnames


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
        if not 1 <= event <= 5:  # call .. yield: the events that are packed
            raise TraceFileError("%s: damaged record at byte %d" % (path, at))
        code_id = varint()
        ts += varint()
        zigzag = varint()
        depth += (zigzag >> 1) ^ -(zigzag & 1)
        if tag & 0x08:
            greenlet = varint()
        rec = {"mono_ns": ts, "time_ns": ts + wall_offset, "pid": pid, "tid": tid,
               "event": _EVENTS[event]}
        _add_code(rec, path, at, codes, pid, code_id, greenlet, depth)
        yield rec
