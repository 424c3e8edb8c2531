"""Binary trace files built byte by byte (the format of infi_tracing/native/it_binary.h), for
tests of the reader on what no traced program writes on demand: lost and switch records at
chosen times, damage of every kind."""

import struct

MAGIC = b"INFITRC1"
CODE, RECORDS, PACKED = 1, 2, 3
CALL, RETURN, EXCEPTION, RESUME, YIELD, LOST, LOG, SWITCH, OMITTED = range(1, 10)
WALL_OFFSET = 1_790_000_000 * 10**9  # the records' wall time: ts + this


def varint(value):
    """LEB128 bytes of `value` (>= 0)."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def chunk(kind, payload):
    """A chunk: u32 type, u32 length, payload padded to 8 bytes."""
    payload = bytes(payload) + b"\0" * (-len(payload) % 8)
    return struct.pack("<II", kind, len(payload)) + payload


def code_chunk(code_id, qualname, *, pid=100, module="mod", file="/src/mod.py", line=1,
               argnames=()):
    """The CODE chunk defining `code_id` of process `pid`."""
    names = [module, qualname, file, *argnames]
    return chunk(CODE, struct.pack("<qIiII", pid, code_id, line, len(argnames), 0)
                 + b"".join(n.encode() + b"\0" for n in names))


def raw(event, *, code_id=0, greenlet=1, ts=0, depth=0, values=(), count=None):
    """A record as it sits in the ring (u32 size first): `count` for a lost record,
    `code_id` the greenlet switched from for a switch record."""
    payload = b"".join(v.encode() + b"\0" for v in values)
    payload += b"\0" * (-len(payload) % 8)
    if count is not None:
        code_id, greenlet = count & 0xFFFFFFFF, count >> 32
    return struct.pack("<IHHIIQiI", 32 + len(payload), event, len(values), code_id, greenlet,
                       ts, depth, 0) + payload


def omitted(calls, wall_ns, active_ns, *, greenlet=1, ts=0, depth=0, size=56):
    """An "omitted" record (native/it_slow_state.h): `calls` children of the call at
    `depth` left out, their wall and active ns; `size` < 56 makes a damaged one."""
    payload = struct.pack("<Qqq", calls, wall_ns, active_ns)[:size - 32]
    return struct.pack("<IHHIIQiI", size, OMITTED, 0, 0, greenlet, ts, depth, 0) + payload


def records_chunk(records, *, pid=100, tid=101, wall_offset=WALL_OFFSET):
    """A RECORDS chunk of raw() records."""
    return chunk(RECORDS, struct.pack("<qqq", pid, tid, wall_offset) + b"".join(records))


def packed_chunk(entries, *, pid=100, tid=101, wall_offset=WALL_OFFSET):
    """A PACKED chunk: each entry (event, code_id, ts, depth, greenlet) packed against the
    running state, or bytes of a raw() record written raw."""
    out = bytearray(struct.pack("<qqq", pid, tid, wall_offset))
    ts = depth = greenlet = 0
    for entry in entries:
        if isinstance(entry, bytes):
            event = struct.unpack_from("<H", entry, 4)[0]
            out += bytes([event | 0x10]) + entry
            continue
        event, code_id, e_ts, e_depth, e_greenlet = entry
        change = e_greenlet != greenlet
        out.append(event | (0x08 if change else 0))
        dd = e_depth - depth
        out += varint(code_id) + varint(e_ts - ts) + varint(dd * 2 if dd >= 0 else -dd * 2 - 1)
        if change:
            out += varint(e_greenlet)
        ts, depth, greenlet = e_ts, e_depth, e_greenlet
    return chunk(PACKED, out)


def trace(*chunks):
    """A whole file: the magic, then `chunks`."""
    return MAGIC + b"".join(chunks)
