"""ZPAQ level-2 blocks and segments: parsing any block zpaq writes, writing stored and compressed ones.

A block is ``[locator tag] zPQ <level> 1 <hsize:u16> <header> (segment)* FF``; a segment is
``01 name 00 comment 00 00 <data> (FD sha1 | FE)``. In a block with no model components the data is
stored as big-endian length-prefixed chunks ending with a zero length, the first byte being the
post-processor flag (0). Compressed data ends with four zero bytes, which the arithmetic coder never
writes otherwise, so a block's end can be found without decoding it.

Compressed blocks are made and decoded by the ``zpaq`` wheel (libzpaq). That wheel reassembles
journaling archives on its own when a segment name starts with ``jDC``; to get one block's raw data,
the name is masked before the block is handed to it (the name is outside the checksummed data).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import zpaq

from everybit.common.errors import CorruptDataError

TAG = bytes.fromhex("376b5374a03183d38cb228b0d3")
_STORED_HEADER = b"zPQ\x02\x01\x07\x00" + bytes(7)  # level 2, no components, no HCOMP
_CHUNK = 1 << 20  # stored data chunk size (any size is valid)


class BlockError(CorruptDataError):
    """A block that does not parse, decode or verify."""


@dataclass
class Segment:
    name: bytes
    comment: bytes


@dataclass
class Block:
    offset: int  # of the locator tag (or of zPQ when there is none)
    size: int  # bytes from offset to just after the closing FF
    segments: list[Segment]
    raw: bytes  # the block's bytes, kept so its data can be decoded on demand

    def data(self) -> bytes:
        """The concatenated data of the block's segments, checked against their SHA-1s."""
        return decode_block(self.raw, self.offset)


def _segment_header(name: bytes, comment: bytes) -> bytes:
    return b"\x01" + name + b"\x00" + comment + b"\x00\x00"


def stored_block(name: bytes, comment: bytes, data: bytes) -> bytes:
    """A block holding ``data`` uncompressed (what zpaq's -method 0 writes)."""
    payload = b"\x00" + data  # no post-processor
    chunks = [
        struct.pack(">I", len(payload[i : i + _CHUNK])) + payload[i : i + _CHUNK]
        for i in range(0, len(payload), _CHUNK)
    ]
    return b"".join(
        (
            TAG,
            _STORED_HEADER,
            _segment_header(name, comment),
            *chunks,
            bytes(4),
            b"\xfd",
            hashlib.sha1(data).digest(),
            b"\xff",
        )
    )


def compressed_block(name: bytes, comment: bytes, data: bytes, method: str) -> bytes:
    """A block holding ``data`` compressed by libzpaq with ``method``, its segment renamed."""
    if not data:
        return stored_block(name, comment, data)  # libzpaq writes nothing for empty input
    out = zpaq.compress(data, method=method, threads=1, verify=True)
    start = _first_segment(out, 0)
    end = _segment_data_start(out, start)
    return out[:start] + _segment_header(name, comment) + out[end:]


def _header_end(buf: bytes, at: int) -> int:
    """Offset just after the block header that starts at ``at`` (tag optional); BlockError if absent."""
    pos = at + len(TAG) if buf.startswith(TAG, at) else at
    if buf[pos : pos + 3] != b"zPQ" or len(buf) < pos + 7:
        raise BlockError(f"no ZPAQ block at offset {at}")
    if buf[pos + 3] not in (1, 2):
        raise BlockError(f"unsupported ZPAQ block level {buf[pos + 3]} at offset {at}")
    if buf[pos + 4] != 1:
        raise BlockError(f"unsupported ZPAQ block type {buf[pos + 4]} at offset {at}")
    (hsize,) = struct.unpack_from("<H", buf, pos + 5)
    end = pos + 7 + hsize
    if hsize < 7 or end > len(buf):  # 7: hh hm ph pm n, the COMP and HCOMP ends (no component, no program)
        raise BlockError(f"truncated block header at offset {at}")
    return end


# Bytes of one component's description in a block header, by type (ZPAQ level 2 spec): CONST 1, CM 2,
# ICM 3, MATCH 4, AVG 5, MIX2 6, MIX 7, ISSE 8, SSE 9.
_COMPONENT_SIZE = {1: 2, 2: 3, 3: 2, 4: 3, 5: 4, 6: 6, 7: 6, 8: 3, 9: 5}


def _component_memory(kind: int, args: bytes) -> int:
    """Bytes libzpaq allocates for one component (its tables are 2^sizebits entries)."""
    entries = 1 << args[0] if kind not in (1, 5) else 0
    if kind == 2:  # CM: 32-bit counters
        return 4 * entries
    if kind == 3:  # ICM: 64-byte hash buckets + 256 bit-history probabilities
        return 64 * entries + 1024
    if kind == 4:  # MATCH: 32-bit index + history buffer of 2^bufbits bytes
        return 4 * entries + (1 << args[1])
    if kind == 6:  # MIX2: 16-bit weights
        return 2 * entries
    if kind == 7:  # MIX: 32-bit weights, one per input
        return 4 * entries * args[2]
    if kind == 8:  # ISSE: hash buckets + 512 weights
        return 64 * entries + 2048
    if kind == 9:  # SSE: 32 interpolation bins per context
        return 128 * entries
    return 0  # CONST, AVG


def header_memory(buf: bytes, at: int = 0) -> tuple[int, int]:
    """(bytes, components): what decoding the block at ``at`` asks libzpaq to allocate, read from its
    header alone: the H and M arrays of HCOMP and PCOMP (4 x 2^hh + 2^hm + 4 x 2^ph + 2^pm) and every
    component's tables. BlockError for a header that does not parse."""
    end = _header_end(buf, at)
    pos = at + len(TAG) if buf.startswith(TAG, at) else at
    pos += 7  # zPQ, level, type, hsize
    if end - pos < 5:
        raise BlockError(f"block at offset {at}: header too short")
    hh, hm, ph, pm, count = buf[pos : pos + 5]
    if max(hh, hm, ph, pm) > 32:
        raise BlockError(f"block at offset {at}: array sizes over 2^32 in its header")
    total = 4 * (1 << hh) + (1 << hm) + 4 * (1 << ph) + (1 << pm) + (end - pos)
    pos += 5
    for i in range(count):
        kind = buf[pos] if pos < end else 0
        size = _COMPONENT_SIZE.get(kind)
        if size is None or pos + size > end:
            raise BlockError(f"block at offset {at}: component {i} of its header does not parse")
        if kind not in (1, 5) and buf[pos + 1] > 32:
            raise BlockError(f"block at offset {at}: component {i} asks for over 2^32 entries")
        total += _component_memory(kind, buf[pos + 1 : pos + size])
        pos += size
    return total, count


def _first_segment(buf: bytes, at: int) -> int:
    return _header_end(buf, at)


def _segment_data_start(buf: bytes, seg: int) -> int:
    """Offset of the data of the segment starting (with its 01 byte) at ``seg``."""
    name_end = buf.find(b"\x00", seg + 1)
    comment_end = buf.find(b"\x00", name_end + 1) if name_end >= 0 else -1
    if buf[seg : seg + 1] != b"\x01" or comment_end < 0 or comment_end + 1 >= len(buf):
        raise BlockError(f"bad segment header at offset {seg}")
    return comment_end + 2  # the reserved 00 follows the comment


def _stored_end(buf: bytes, pos: int) -> int:
    while True:
        if pos + 4 > len(buf):
            raise BlockError(f"truncated stored data at offset {pos}")
        (n,) = struct.unpack_from(">I", buf, pos)
        pos += 4 + n
        if n == 0:
            return pos


def _coded_end(buf: bytes, pos: int) -> int:
    """End of arithmetic-coded data: after the first run of 4+ zero bytes (the data itself may end in
    zeros, so the terminator is the last four of the run)."""
    end = buf.find(bytes(4), pos)
    if end < 0:
        raise BlockError(f"truncated compressed data at offset {pos}")
    end += 4
    while end < len(buf) and buf[end] == 0:
        end += 1
    return end


def parse_block(buf: bytes, at: int) -> Block:
    """The block starting at ``at`` in ``buf`` (which must hold all of it)."""
    pos = _header_end(buf, at)
    stored = _unmodeled(buf, at)
    segments = []
    while True:
        if pos >= len(buf):
            raise BlockError(f"truncated block at offset {at}")
        marker = buf[pos]
        if marker == 0xFF:
            return Block(at, pos + 1 - at, segments, buf[at : pos + 1])
        if marker != 0x01:
            raise BlockError(f"bad segment marker {marker:#04x} at offset {pos}")
        name_end = buf.find(b"\x00", pos + 1)
        data = _segment_data_start(buf, pos)
        segments.append(Segment(buf[pos + 1 : name_end], buf[name_end + 1 : data - 2]))
        pos = _stored_end(buf, data) if stored else _coded_end(buf, data)
        if pos < len(buf) and buf[pos] == 0xFD:
            pos += 21
        elif pos < len(buf) and buf[pos] == 0xFE:
            pos += 1
        else:
            raise BlockError(f"bad segment end at offset {pos}")


def _unmodeled(buf: bytes, at: int) -> bool:
    """True when the block has no model components: its data is then in length-prefixed chunks (which
    may hold zero runs), even when an HCOMP/PCOMP program is present (zpaq's -method 1 and 2 LZ77)."""
    pos = at + len(TAG) if buf.startswith(TAG, at) else at
    return buf[pos + 11] == 0


def is_stored(buf: bytes, at: int = 0) -> bool:
    """True for a block with no components and no programs: plain stored data decoded here."""
    pos = at + len(TAG) if buf.startswith(TAG, at) else at
    return buf[pos + 5 : pos + 7] == b"\x07\x00" and buf[pos + 7 : pos + 12] == bytes(5)


def decode_block(raw: bytes, offset: int = 0) -> bytes:
    """The data of every segment of one block, each checked against its SHA-1 when it has one."""
    if is_stored(raw, 0):
        return _decode_stored(raw, offset)
    pos = _first_segment(raw, 0)
    if raw[pos + 1 : pos + 4] == b"jDC":  # journaling blocks have one segment
        masked = bytearray(raw)
        masked[pos + 1] = ord("x")  # keep the wheel from treating it as a journaling archive
        raw = masked
    try:
        return zpaq.decompress(raw, verify=True, threads=1)  # callers run blocks in parallel
    except zpaq.Error as exc:
        raise BlockError(f"block at offset {offset}: {exc}") from None


def _decode_stored(raw: bytes, offset: int) -> bytes:
    out, pos = [], _first_segment(raw, 0)
    while raw[pos] == 0x01:
        pos = _segment_data_start(raw, pos)
        parts = []
        while True:
            (n,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            if n == 0:
                break
            parts.append(raw[pos : pos + n])
            pos += n
        data = b"".join(parts)
        if data[:1] != b"\x00":
            raise BlockError(f"block at offset {offset}: stored data with a post-processor")
        data = data[1:]
        if raw[pos] == 0xFD:
            if hashlib.sha1(data).digest() != raw[pos + 1 : pos + 21]:
                raise BlockError(f"block at offset {offset}: SHA-1 mismatch")
            pos += 21
        else:
            pos += 1
        out.append(data)
    return b"".join(out)


def read_block(fp: BinaryIO, at: int, size: int | None = None) -> Block:
    """The block at file offset ``at``, reading only as much of the file as it takes."""
    want = size or 1 << 16
    while True:
        fp.seek(at)
        buf = fp.read(want)
        try:
            block = parse_block(buf, 0)
        except BlockError:
            if len(buf) < want:  # the file ends inside the block
                raise BlockError(f"truncated or damaged block at offset {at}") from None
            want *= 4
            continue
        block.offset = at
        return block


def iter_blocks(fp: BinaryIO, start: int = 0) -> Iterator[Block]:
    """Every block of a file from ``start``; a trailing partial block raises BlockError."""
    end = fp.seek(0, 2)
    at = start
    while at < end:
        block = read_block(fp, at)
        yield block
        at += block.size
