"""Reading files written by the original ``bpez.py`` (no magic, no checksum of its own), safely.

Layout (docs/bpez-format.md, "Legacy format"): a sequence of records ``[u32 big-endian N][N bytes of a
zlib stream]``; each stream inflates to ``[u32 big-endian block length L][u8 cycle count C][data]``,
where ``data`` starts with the 3-byte header (pair high, pair low, replacement) of the *last* cycle;
undoing a cycle (drop its header, replace each replacement byte by the pair) reveals the header of the
cycle before it at the front, down to the block itself.

The original decoded a damaged record to nothing, silently, and never checked L. Here every record
must be one complete zlib stream (whose Adler-32 zlib verifies) with nothing after it, must inflate to
at most ``L + 3 C`` bytes (more could never undo to L), and must undo to exactly L bytes; no step is
allowed to grow past what could still end at L, so a hostile record can't make memory explode.
"""

from __future__ import annotations

import struct
import zlib

from everybit.bpez.core import BPEZError

__all__ = [
    "MAX_BLOCK",
    "MAX_RECORD",
    "MIN_RECORD",
    "PROBE_SIZE",
    "check_record_length",
    "decode",
    "looks_legacy",
]

MAX_BLOCK = 1 << 26  # the original wrote 1 MB blocks; anything above 64 MiB is not one of its files
MAX_RECORD = MAX_BLOCK + (MAX_BLOCK >> 8) + 64  # a zlib stream of a MAX_BLOCK block, stored, and then some
MIN_RECORD = 8  # the shortest zlib stream: 2 header bytes, an empty final block, Adler-32
PROBE_SIZE = 6  # bytes needed to recognize a legacy file: the first record's length and zlib header


def _zlib_header_ok(cmf: int, flg: int) -> bool:
    """RFC 1950: deflate, window <= 32 KiB, header check, no preset dictionary."""
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0 and not flg & 0x20


def looks_legacy(head: bytes | bytearray | memoryview) -> bool:
    """Whether the first ``PROBE_SIZE`` bytes of an input start a file of the original bpez.py."""
    if len(head) < PROBE_SIZE:
        return False
    (n,) = struct.unpack_from(">I", head, 0)
    return MIN_RECORD <= n <= MAX_RECORD and _zlib_header_ok(head[4], head[5])


def check_record_length(n: int, where: str) -> None:
    """Refuse a record length before any memory is given to it."""
    if not MIN_RECORD <= n <= MAX_RECORD:
        raise BPEZError(f"{where}: record length {n:,} out of range ({MIN_RECORD}..{MAX_RECORD:,})")


def decode(record: bytes | bytearray | memoryview, where: str) -> bytes:
    """The block held by one legacy record (its zlib stream, without the length prefix)."""
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(record, 5)
        if len(head) < 5:
            raise BPEZError(f"{where}: the zlib stream holds {len(head)} bytes, not even a block header")
        size, cycles = struct.unpack(">IB", head)
        if size > MAX_BLOCK:
            raise BPEZError(f"{where}: block length {size:,} over the legacy limit {MAX_BLOCK:,}")
        limit = size + 3 * cycles
        data = inflater.decompress(inflater.unconsumed_tail, limit + 1)
        if len(data) > limit:
            raise BPEZError(f"{where}: inflates to over {limit:,} bytes for a {size:,}-byte block")
        if not inflater.eof:
            data += inflater.flush()  # raises if the stream is incomplete
            if not inflater.eof:
                raise BPEZError(f"{where}: truncated zlib stream")
    except zlib.error as exc:
        raise BPEZError(f"{where}: corrupt zlib data ({exc})") from None
    if inflater.unused_data:
        raise BPEZError(f"{where}: {len(inflater.unused_data):,} bytes after the end of the zlib stream")
    for cycle in range(cycles, 0, -1):
        if len(data) < 3:
            raise BPEZError(f"{where}: no header left for cycle {cycle} of {cycles}")
        high, low, rep = data[0], data[1], data[2]
        # Undoing removes 3 header bytes and adds one per replacement byte; each later undo can remove at
        # most 3 more bytes, so a step past ``size + 3 * (cycle - 1)`` can never end at ``size``.
        grown = len(data) - 3 + data.count(rep, 3)
        if grown > size + 3 * (cycle - 1):
            raise BPEZError(f"{where}: cycle {cycle} undoes to {grown:,} bytes, more than the block holds")
        data = data[3:].replace(bytes((rep,)), bytes((high, low)))
    if len(data) != size:
        raise BPEZError(f"{where}: decodes to {len(data):,} bytes, its header says {size:,}")
    return data
