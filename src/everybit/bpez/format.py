"""The ``.bpez`` format: what bpez adds to the shared frame engine.

Byte layout: docs/bpez-format.md. The engine (``everybit.common.frame``) cuts the data into blocks, runs
them on threads and reads and writes the frame outline; this module says how one block is stored (a record
of its length, method, BPE cycle table and payload, from ``core.encode``), that checksums are CRC-32 and how
they chain, and how the files of the original ``bpez.py`` are read (no magic; see ``legacy``): an input
whose first bytes are not the bpez magic but start a legacy record is read as legacy records to its end.
Every defect raises ``BPEZError`` naming the block and offset.
"""

from __future__ import annotations

import struct
import zlib

from everybit.bpez import core, legacy
from everybit.bpez.core import BPE_DEFLATE, DEFLATE, STORED, BPEZError
from everybit.common import frame
from everybit.common.frame import Block, FrameState

__all__ = ["BPEZ", "BPEZFile", "Compressor", "Decompressor"]

_METHODS = ("stored", "deflate", "bpe+deflate")
_U32 = struct.Struct("<I")


def _encode_block(raw: frame.Buffer, level: int, last: bool) -> tuple[bytes, int]:
    check = core.crc32(raw)
    method, table, payload = core.encode(raw, level)
    size = len(raw)
    if method == BPE_DEFLATE and not table:
        method = DEFLATE
    if method not in (STORED, DEFLATE, BPE_DEFLATE) or len(table) % 3 or len(table) > 3 * core.MAX_CYCLES:
        raise RuntimeError(f"core.encode returned method {method} with a {len(table)}-byte table")
    if method == DEFLATE and table:
        raise RuntimeError("core.encode returned a cycle table for a plain deflate block")
    if method != STORED and len(table) + len(payload) >= size:
        method, table, payload = STORED, b"", raw  # never grow a block by more than its framing
    head = struct.pack("<IBB", size, method, len(table) // 3)
    return b"".join((head, table, _U32.pack(len(payload)), payload, _U32.pack(check))), check


def _decode_block(
    payload: frame.Buffer, method: int, table: bytes, size: int, check: int, where: str
) -> tuple[frame.Buffer, int]:
    try:
        raw = core.decode(method, table, payload, size)
    except BPEZError as exc:
        raise BPEZError(f"{where}: corrupt block data ({exc})") from None
    if len(raw) != size:
        raise BPEZError(f"{where}: decodes to {len(raw):,} bytes, not {size:,}")
    crc = core.crc32(raw)
    if crc != check:
        raise BPEZError(f"{where}: checksum mismatch")
    return raw, crc


def _decode_legacy(record: frame.Buffer, where: str) -> tuple[bytes, None]:
    return legacy.decode(record, where), None


class BPEZFrame(frame.FrameSpec):
    """The .bpez frame: CRC-32 checksums, the total length repeated at the end, legacy files read too."""

    name, suffix, magic = "bpez", ".bpez", b"\x89BPZ"
    error, not_magic = BPEZError, "neither a bpez file nor one of the original bpez.py"
    max_block_size, max_level, default_level = 1 << 24, core.MAX_LEVEL, 9
    end_total, digest = True, _U32  # the total length, then the CRC-32 chain
    # Blocks take tens of milliseconds, far longer than reading and writing one: a single queued block per
    # thread keeps every thread busy, and each block in flight costs its input in memory.
    depth = 1

    def header_check(self, descriptor: frame.Buffer) -> int:
        return zlib.crc32(descriptor) & 0xFF

    @staticmethod
    def chain(state: int, digest: int) -> int:
        # The content check: CRC-32 of the blocks' CRC-32s (u32 little-endian) in order.
        return zlib.crc32(_U32.pack(digest), state)

    encode_block = staticmethod(_encode_block)

    def read_block(self, view: memoryview, i: int, state: FrameState, where: str) -> Block | None:
        if state.endless:
            return self._read_record(view, i, where)
        avail, bs = len(view) - i, state.block_size or 0
        (size,) = _U32.unpack_from(view, i)
        if size > bs:
            raise BPEZError(f"{where}: raw length {size:,} out of range (1..{bs:,})")
        if avail < 6:
            return None
        method, cycles = view[i + 4], view[i + 5]
        if method > BPE_DEFLATE:
            raise BPEZError(f"{where}: unknown method {method}")
        if (method == BPE_DEFLATE) != (cycles > 0):
            expect = "1..255" if method == BPE_DEFLATE else "0"
            raise BPEZError(
                f"{where}: cycle count {cycles} invalid for a {_METHODS[method]} block ({expect})"
            )
        head = 6 + 3 * cycles + 4
        if avail < head:
            return None
        (length,) = _U32.unpack_from(view, i + head - 4)
        if method == STORED and length != size:
            raise BPEZError(f"{where}: stored length {length:,} invalid for a {size:,}-byte block")
        if method != STORED and not 0 < length < size - 3 * cycles:
            with_cycles = f" with {cycles} cycles" if cycles else ""
            raise BPEZError(
                f"{where}: payload length {length:,} invalid for a {size:,}-byte block{with_cycles}"
            )
        end = i + head + length + 4
        if len(view) < end:
            return None
        table = bytes(view[i + 6 : i + 6 + 3 * cycles])
        check = _U32.unpack_from(view, end - 4)[0]
        payload = view[i + head : end - 4]
        return Block(end, size, size < bs, payload, _decode_block, (method, table, size, check, where))

    def _read_record(self, view: memoryview, i: int, where: str) -> Block | None:
        (n,) = struct.unpack_from(">I", view, i)
        legacy.check_record_length(n, where)
        if len(view) - i < 4 + n:
            return None
        return Block(i + 4 + n, None, False, view[i + 4 : i + 4 + n], _decode_legacy, (where,))

    def block_part(self, state: FrameState, pending: frame.Buffer) -> str:
        if state.endless:
            return "data" if len(pending) >= 4 else "length"
        cycles = pending[5] if len(pending) >= 6 else 0
        return "header" if len(pending) < 10 + 3 * cycles else "data"

    def foreign(self, view: memoryview, i: int, at: int, read_legacy: bool) -> FrameState | None:
        if not read_legacy:
            raise BPEZError(f"bad magic (not a bpez file) at offset {at}")
        if len(view) - i < legacy.PROBE_SIZE:
            return None
        if not legacy.looks_legacy(view[i : i + legacy.PROBE_SIZE]):
            raise BPEZError(f"bad magic ({self.not_magic}) at offset {at}")
        return FrameState("legacy", None, checksum=False, endless=True)


BPEZ = BPEZFrame()


class Compressor(frame.Compressor, spec=BPEZ):
    """Streaming compressor of one .bpez frame (level 9 by default, 1..9); see ``frame.Compressor``."""


class Decompressor(frame.Decompressor, spec=BPEZ):
    """Streaming decompressor of .bpez frames and legacy files; see ``frame.Decompressor``."""


class BPEZFile(frame.FrameFile, spec=BPEZ):
    """A .bpez file opened for reading or writing (legacy files are read too); see ``frame.FrameFile``."""
