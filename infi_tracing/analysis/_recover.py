"""``python -m infi_tracing recover``: a binary trace from a crash-survival file.

A process traced with ``--flight-recorder-file`` keeps its rings, its flight
recorder's blocks and its code entries in a shared mapping of that file
(the tracer's side: infi_tracing/native/it_flight_file.h, whose header
gives every offset read here).  After the process died -- SIGKILL, the OOM
killer, a segfault -- the file still holds everything it committed:

- the CODE chunks, copied as they are;
- the recorder's blocks (each a PACKED chunk of one thread), in the order
  they were opened;
- each ring's records from its tail to its committed head, less those the
  drain had already copied into a block (a block's ``pub`` word says up to
  where), written as RECORDS chunks; a torn last record (a size out of
  range, or running past the head) is detected and left out;
- for each thread that still had a ring, a "log" record saying where it
  stopped and what was left out.

The file is untrusted input: everything is range-checked, and a damaged or
truncated file gives RecoverError naming the file and what is wrong.  The
file is only read, never written: a live writer is safe (its file is read
as a copy, block by block, and the result says the writer was alive).
"""

import errno
import fcntl
import os
import struct

__all__ = ["RecoverError", "recover", "recover_command"]

MAGIC = b"INFIFLT1"
VERSION = 1
TRACE_MAGIC = b"INFITRC1"
_HEADER = struct.Struct("<8sIIqQQq" + "Q" * 2 + "Q" + "Q" * 4 + "Q" * 3 + "Q" * 4 + "Q" * 4 +
                        "Q" * 2 + "Q" * 3 + "Q" * 5 + "Q" * 2)
_FIELDS = ("magic", "version", "header_size", "pid", "file_size", "clock_tsc", "wall_offset",
           "calib0_ticks", "calib0_ns", "calib_seq", "calib00", "calib01", "calib10", "calib11",
           "code_off", "code_cap", "code_len", "slots_off", "nslots", "slot_stride",
           "slot_meta_off", "ring_head_off", "ring_tail_off", "ring_conv_off", "ring_gid_off",
           "rings_off", "ring_bytes", "blocks_off", "nblocks", "block_stride", "blk_seq_off",
           "blk_pub_off", "blk_serial_off", "blk_data_off", "blk_data_size", "rings_outside",
           "codes_outside")
_META = struct.Struct("<QqQQQ")     # it_ff_slot_meta: state, tid, serial, buf_off, cap
_CHUNK = struct.Struct("<II")       # it_bin_chunk: type, length
_RECORD = struct.Struct("<IHHIIQiI")  # it_record: size, event, nvalues, code, greenlet, ts, depth
_COMPACT = struct.Struct("<IIQ")    # it_compact: word, code id, ts
LEN_BITS = 17                       # a block's pub: (ring end >> 3) << 17 | length
END_MOD = 1 << (64 - LEN_BITS)
BLOCK_HEAD = 32                     # a PACKED chunk's header and fixed part
CODE, RECORDS, PACKED = 1, 2, 3
EV_PAD, EV_LOG, EV_COUNT = 0, 7, 10
MAX_CHUNK = 1 << 20                 # RECORDS chunks written here stay under this


def header_fields(data):
    """The header of a crash-survival file's first bytes `data`, as a dict by field name."""
    return dict(zip(_FIELDS, _HEADER.unpack_from(data), strict=True))


class RecoverError(ValueError):
    """A crash-survival file that cannot be read: the message names it."""


def _fail(path, what):
    raise RecoverError("infi_tracing recover: %s: %s" % (path, what))


class _File:
    """Reads of the file at fixed offsets (pread: a live writer's file is
    read piece by piece, each checked where it is used)."""

    def __init__(self, path):
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            _fail(path, "cannot open it: %s" % exc.strerror)
        self.size = os.fstat(self.fd).st_size

    def read(self, offset, n, what):
        if offset < 0 or n < 0 or offset + n > self.size:
            _fail(self.path, "%s (bytes %d-%d) lies beyond the end of the file (%d bytes): "
                  "truncated, or not a flight-recorder file" % (what, offset, offset + n,
                                                                 self.size))
        data = os.pread(self.fd, n, offset)
        if len(data) != n:
            _fail(self.path, "%s: the file is shorter than it was (cut while read)" % what)
        return data

    def writer_alive(self):
        """True when the writing process holds its lock on the file."""
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return False

    def close(self):
        os.close(self.fd)


def _header(f):
    if f.size < _HEADER.size:
        _fail(f.path, "%d bytes, too short for a flight-recorder file header (%d)"
              % (f.size, _HEADER.size))
    h = header_fields(f.read(0, _HEADER.size, "the header"))
    if h["magic"] != MAGIC:
        _fail(f.path, "not a flight-recorder file (magic %r, expected %r)"
              % (h["magic"], MAGIC))
    if h["version"] != VERSION:
        _fail(f.path, "flight-recorder file version %d, this reader knows %d"
              % (h["version"], VERSION))
    if h["file_size"] != f.size:
        _fail(f.path, "the header says %d bytes, the file has %d (truncated or damaged)"
              % (h["file_size"], f.size))
    checks = (
        ("code area", h["code_off"], h["code_cap"]),
        ("slot table", h["slots_off"], h["nslots"] * h["slot_stride"]),
        ("ring area", h["rings_off"], h["nslots"] * h["ring_bytes"]),
        ("block area", h["blocks_off"], h["nblocks"] * h["block_stride"]),
    )
    for what, off, n in checks:
        if off < h["header_size"] or off + n > f.size:
            _fail(f.path, "damaged header: the %s (bytes %d-%d) is outside the file (%d bytes)"
                  % (what, off, off + n, f.size))
    limits = (
        (h["code_len"] <= h["code_cap"], "code length %d over its area %d"
         % (h["code_len"], h["code_cap"])),
        (h["nslots"] <= 4096 and h["slot_stride"] >= h["slot_meta_off"] + _META.size,
         "slot table of %d slots of %d bytes" % (h["nslots"], h["slot_stride"])),
        (max(h["ring_head_off"], h["ring_tail_off"], h["ring_conv_off"], h["ring_gid_off"]) + 8
         <= h["slot_meta_off"], "ring fields outside the slot"),
        (h["ring_bytes"] >= 64 and h["ring_bytes"] & (h["ring_bytes"] - 1) == 0,
         "ring size %d (expected a power of two)" % h["ring_bytes"]),
        (h["blk_data_size"] < 1 << LEN_BITS and h["blk_data_off"] + h["blk_data_size"] <=
         h["block_stride"] and max(h["blk_seq_off"], h["blk_pub_off"], h["blk_serial_off"]) + 8
         <= h["blk_data_off"], "block layout"),
    )
    for ok, what in limits:
        if not ok:
            _fail(f.path, "damaged header: %s" % what)
    return h


def _codes(f, h):
    """The CODE chunks, whole ones only (a live writer may be appending)."""
    data = f.read(h["code_off"], h["code_len"], "the code area")
    at = 0
    while at + _CHUNK.size <= len(data):
        kind, length = _CHUNK.unpack_from(data, at)
        if kind != CODE or length % 8 or at + _CHUNK.size + length > len(data):
            _fail(f.path, "damaged code area at byte %d (chunk type %d, %d bytes)"
                  % (h["code_off"] + at, kind, length))
        at += _CHUNK.size + length
    return data[:at]


def _u64(data, at):
    return struct.unpack_from("<Q", data, at)[0]


def _blocks(f, h):
    """[(seq, tid, serial, ring end, chunk bytes)] of the blocks in use, in
    opening order; a block a live writer changed while read is left out."""
    out = []
    skipped = 0
    meta_len = h["blk_data_off"]
    for i in range(h["nblocks"]):
        base = h["blocks_off"] + i * h["block_stride"]
        meta = f.read(base, meta_len, "block %d" % i)
        seq = _u64(meta, h["blk_seq_off"])
        if not seq:
            continue
        pub = _u64(meta, h["blk_pub_off"])
        length = pub & ((1 << LEN_BITS) - 1)
        if length <= BLOCK_HEAD:
            continue  # opened, nothing in it yet
        if length > h["blk_data_size"]:
            _fail(f.path, "damaged block %d: %d bytes used of %d" % (i, length,
                                                                      h["blk_data_size"]))
        data = f.read(base + meta_len, length, "block %d" % i)
        if _u64(f.read(base, meta_len, "block %d" % i), h["blk_seq_off"]) != seq:
            skipped += 1  # reused by the live writer meanwhile
            continue
        kind, = struct.unpack_from("<I", data, 0)
        if kind != PACKED:
            _fail(f.path, "damaged block %d: chunk type %d (expected %d)" % (i, kind, PACKED))
        pid, tid = struct.unpack_from("<qq", data, _CHUNK.size)
        padded = length + (-length) % 8
        chunk = bytearray(data) + bytes(padded - length)
        struct.pack_into("<I", chunk, 4, padded - _CHUNK.size)
        out.append((seq, tid, _u64(meta, h["blk_serial_off"]), pub >> LEN_BITS, bytes(chunk)))
    out.sort(key=lambda b: b[0])
    return out, skipped


class _Clock:
    """Ring records' TSC ticks to nanoseconds: the line through the file's
    first clock sample and the drain's latest one."""

    def __init__(self, h):
        self.tsc = h["clock_tsc"]
        seq = h["calib_seq"]
        self.ticks, self.ns = (h["calib10"], h["calib11"]) if seq & 1 else (h["calib00"],
                                                                           h["calib01"])
        dt = self.ticks - h["calib0_ticks"]
        self.rate = (self.ns - h["calib0_ns"]) / dt if dt > 0 and self.ns > h["calib0_ns"] \
            else 1.0

    def ns_of(self, ticks):
        if not self.tsc:
            return ticks
        return max(0, self.ns + int((ticks - self.ticks) * self.rate))


def _ring_end(bits, tail):
    """The ring position a block's pub names (47 bits of pos >> 3), the one nearest `tail`."""
    near = tail >> 3
    value = near - ((near - bits) % END_MOD)
    if near - value > END_MOD // 2:
        value += END_MOD
    return value << 3


def _ring_records(f, h, clock, slot, drained_to):
    """(records as bytes, count, torn, last ns) of one ring slot, from past what
    the blocks hold to its committed head."""
    base = h["slots_off"] + slot * h["slot_stride"]
    ring = f.read(base, h["slot_meta_off"] + _META.size, "ring slot %d" % slot)
    state, tid, serial, buf_off, cap = _META.unpack_from(ring, h["slot_meta_off"])
    head = _u64(ring, h["ring_head_off"])
    tail = _u64(ring, h["ring_tail_off"])
    conv = _u64(ring, h["ring_conv_off"])
    gid, = struct.unpack_from("<I", ring, h["ring_gid_off"])
    if cap != h["ring_bytes"] or buf_off != h["rings_off"] + slot * cap:
        _fail(f.path, "damaged ring slot %d: buffer at %d, %d bytes" % (slot, buf_off, cap))
    if tail > head or head - tail > cap:
        _fail(f.path, "damaged ring slot %d: tail %d, head %d for %d bytes"
              % (slot, tail, head, cap))
    start = tail
    if drained_to.get(serial) is not None:
        start = min(max(tail, _ring_end(drained_to[serial], tail)), head)
    buf = f.read(buf_off, cap, "ring %d" % slot)
    conv_pos, converting = conv >> 1, conv & 1
    out = bytearray()
    count = torn = 0
    last_ns = 0
    pos = tail
    while pos < head:
        off = pos & (cap - 1)
        if off + 8 > cap:
            torn += 1
            break
        word, = struct.unpack_from("<I", buf, off)
        if word & 1:  # compact: a name-level call, return, resume or yield
            if off + _COMPACT.size > cap or pos + _COMPACT.size > head:
                torn += 1
                break
            word, code, ts = _COMPACT.unpack_from(buf, off)
            pos += _COMPACT.size
            if pos <= start:
                continue
            event, depth = (word >> 1) & 7, word >> 4
            if not 1 <= event <= 5:
                torn += 1
                break
            last_ns = max(last_ns, clock.ns_of(ts))
            out += _RECORD.pack(_RECORD.size, event, 0, code, gid, last_ns, depth, 0)
            count += 1
            continue
        size = word
        if size < 8 or size % 8 or off + size > cap or pos + size > head:
            torn += 1  # a size out of range, or running past the committed head
            break
        event, = struct.unpack_from("<H", buf, off + 4)
        if event == EV_PAD:
            pos += size
            continue
        if size < _RECORD.size or event >= EV_COUNT:
            torn += 1
            break
        rec = bytearray(buf[off:off + size])
        at = pos
        pos += size
        record_gid = _RECORD.unpack_from(rec)[4]
        if event != 6:  # "lost" records carry a count there
            gid = record_gid
        if pos <= start:
            continue
        if at == conv_pos and converting:
            torn += 1  # its time was being converted in place: which clock it holds is unknown
            continue
        ts = _u64(rec, 16)
        last_ns = max(last_ns, ts if at < conv_pos else clock.ns_of(ts))
        struct.pack_into("<Q", rec, 16, last_ns)
        out += rec
        count += 1
    return tid, bytes(out), count, torn, last_ns


def _records_chunks(pid, tid, wall_offset, records):
    """RECORDS chunks holding `records` (whole records, each under MAX_CHUNK)."""
    chunks = []
    at = 0
    while at < len(records):
        end = at
        while end < len(records) and end - at < MAX_CHUNK:
            end += struct.unpack_from("<I", records, end)[0]
        body = struct.pack("<qqq", pid, tid, wall_offset) + records[at:end]
        chunks.append(_CHUNK.pack(RECORDS, len(body)) + body)
        at = end
    return chunks


def _stop_marker(pid, tid, wall_offset, ts, message):
    payload = b"WARNING\0infi_tracing.recover\0" + message.encode() + b"\0"
    payload += bytes((-(_RECORD.size + len(payload))) % 8)
    rec = _RECORD.pack(_RECORD.size + len(payload), EV_LOG, 3, 0, 0, ts, 0, 0) + payload
    return _records_chunks(pid, tid, wall_offset, rec)


def recover(path, output):
    """Write the trace held by crash-survival file `path` to `output` (a
    binary trace).  Returns a summary dict (records, blocks, threads, torn,
    alive, ...); RecoverError naming the file when it cannot be read."""
    f = _File(os.fsdecode(path))
    try:
        alive = f.writer_alive()
        h = _header(f)
        codes = _codes(f, h)
        blocks, skipped = _blocks(f, h)
        clock = _Clock(h)
        drained_to = {}
        for _seq, _tid, serial, end_bits, _chunk in blocks:
            if serial and end_bits:
                drained_to[serial] = end_bits  # opening order: the newest block's wins
        pid, wall = h["pid"], h["wall_offset"]
        rings = []
        for slot in range(h["nslots"]):
            meta = f.read(h["slots_off"] + slot * h["slot_stride"] + h["slot_meta_off"],
                          _META.size, "ring slot %d" % slot)
            if _META.unpack(meta)[0] == 1:
                rings.append(_ring_records(f, h, clock, slot, drained_to))
    finally:
        f.close()
    latest = clock.ns_of(clock.ticks) if clock.tsc else clock.ns
    summary = {"pid": pid, "alive": alive, "blocks": len(blocks), "blocks_changed": skipped,
               "threads": len(rings), "ring_records": 0, "torn": 0,
               "rings_outside": h["rings_outside"], "codes_outside": h["codes_outside"]}
    try:
        out = os.open(os.fsdecode(output), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                      0o600)
    except OSError as exc:
        raise OSError(exc.errno, "infi_tracing recover: cannot write %r: %s"
                      % (os.fsdecode(output), exc.strerror)) from None
    with os.fdopen(out, "wb") as w:
        w.write(TRACE_MAGIC)
        w.write(codes)
        for block in blocks:
            w.write(block[4])
        for tid, records, count, torn, last_ns in rings:
            for chunk in _records_chunks(pid, tid, wall, records):
                w.write(chunk)
            summary["ring_records"] += count
            summary["torn"] += torn
            why = ("the process was still running when recovered" if alive else
                   "the process (pid %d) ended here" % pid)
            note = "infi_tracing recover: thread %d stopped here: %s" % (tid, why)
            if torn:
                note += "; %d torn record(s) at the end of its ring left out" % torn
            for chunk in _stop_marker(pid, tid, wall, max(last_ns, latest), note):
                w.write(chunk)
    return summary


def recover_command(path, output, quiet=False, err=None):
    """The ``recover`` command: exit status 0, or 2 with the reason on stderr."""
    import sys
    err = sys.stderr if err is None else err
    try:
        summary = recover(path, output)
    except (RecoverError, OSError) as exc:
        print(str(exc) if isinstance(exc, RecoverError) else
              "infi_tracing recover: %s" % (exc.strerror or exc), file=err)
        return 2
    if summary["alive"]:
        print("infi_tracing recover: note: the process writing %s (pid %d) is alive: this is "
              "a copy of the moment; its last records may be missing" % (path, summary["pid"]),
              file=err)
    if not quiet:
        print("infi_tracing recover: %s -> %s: %d blocks, %d thread ring(s) with %d record(s), "
              "%d torn record(s) left out" % (path, output, summary["blocks"],
                                              summary["threads"], summary["ring_records"],
                                              summary["torn"]), file=err)
        if summary["rings_outside"] or summary["codes_outside"]:
            print("infi_tracing recover: %d thread ring(s) and %d code entr(ies) did not fit "
                  "in the file: their records are not in it"
                  % (summary["rings_outside"], summary["codes_outside"]), file=err)
    return 0
