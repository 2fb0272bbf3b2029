"""The framed ULZ format (``.ulz`` files): what ULZ adds to the shared frame engine.

Byte layout: docs/ulz-format.md, "Framed format". The engine (``everybit.common.frame``) cuts the data
into blocks, runs them on threads and reads and writes the frame outline; this module says how one block
is stored (ULZ sequences, or the raw bytes when that is not smaller, with a *short* bit and the raw length
on the last block), that checksums are XXH64 and how they chain. Every defect of a frame raises
``ULZError`` naming the block and offset.
"""

from __future__ import annotations

import struct

from everybit.common import frame
from everybit.common.frame import Block, FrameState
from everybit.ulz._ulz import MAX_LEVEL, ULZError, compress_block, decompress_block
from everybit.ulz._ulz import xxh64 as _xxh64

__all__ = ["ULZ", "Compressor", "Decompressor", "ULZFile", "xxh64"]

_STORED = 1 << 31  # block header bit: the data is the raw block (compression did not shrink it)
_SHORT = 1 << 30  # block header bit: a u32 raw length follows (the last block of a frame)
_LENGTH_MASK = _SHORT - 1
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def xxh64(data: frame.Buffer, seed: int = 0) -> int:
    """The 64-bit xxHash of ``data`` (any buffer) with ``seed``: the checksum of the ``.ulz`` format."""
    return _xxh64(frame.byte_view(data), seed)


def _encode_block(raw: frame.Buffer, level: int, last: bool) -> tuple[bytes, int]:
    digest = _xxh64(raw)
    packed = compress_block(raw, level=level)
    size = len(raw)
    word, body = (len(packed), packed) if len(packed) < size else (size | _STORED, raw)
    head = struct.pack("<II", word | _SHORT, size) if last else _U32.pack(word)
    return b"".join((head, body, _U32.pack(digest & 0xFFFFFFFF))), digest


def _decode_block(data: frame.Buffer, size: int, stored: bool, check: int, where: str) -> tuple[bytes, int]:
    if stored:
        raw = bytes(data)
    else:
        try:
            raw = decompress_block(data, size)
        except ULZError as exc:
            raise ULZError(f"{where}: corrupt block data ({exc})") from None
    digest = _xxh64(raw)
    if digest & 0xFFFFFFFF != check:
        raise ULZError(f"{where}: checksum mismatch")
    return raw, digest


class ULZFrame(frame.FrameSpec):
    """The .ulz frame: XXH64 checksums; a block is its sequences or, stored, its raw bytes."""

    name, suffix, magic = "ulz", ".ulz", b"\x89ULZ"
    error, not_magic = ULZError, "not a ULZ frame"
    max_block_size, max_level, default_level = 1 << 26, MAX_LEVEL, 1
    # Streams don't know their size in advance, and a checksum-less frame is cheaper to check: both optional.
    flags = frame.CONTENT_SIZE | frame.CONTENT_CHECKSUM
    digest = _U64

    def header_check(self, descriptor: frame.Buffer) -> int:
        return (_xxh64(descriptor) >> 8) & 0xFF

    @staticmethod
    def chain(state: int, digest: int) -> int:
        # The content checksum folds in each block's XXH64 in order: O(1) memory, any frame size.
        return _xxh64(_U64.pack(digest), state)

    encode_block = staticmethod(_encode_block)

    def read_block(self, view: memoryview, i: int, state: FrameState, where: str) -> Block | None:
        (word,) = _U32.unpack_from(view, i)
        short, stored, length = bool(word & _SHORT), bool(word & _STORED), word & _LENGTH_MASK
        head = 8 if short else 4
        if len(view) - i < head:
            return None
        bs = state.block_size or 0
        size = _U32.unpack_from(view, i + 4)[0] if short else bs
        if not 1 <= size <= bs:
            raise ULZError(f"{where}: raw length {size:,} out of range (1..{bs:,})")
        if length > bs or (stored and length != size):
            raise ULZError(f"{where}: stored length {length:,} invalid for a {size:,}-byte block")
        if state.content_size is not None and state.queued + size > state.content_size:
            raise ULZError(f"{where}: more data than the header's content size {state.content_size:,}")
        end = i + head + length + 4
        if len(view) < end:
            return None
        check = _U32.unpack_from(view, end - 4)[0]
        return Block(end, size, short, view[i + head : end - 4], _decode_block, (size, stored, check, where))

    def block_part(self, state: FrameState, pending: frame.Buffer) -> str:
        return "data" if len(pending) >= 4 else "header"


ULZ = ULZFrame()


class Compressor(frame.Compressor, spec=ULZ):
    """Streaming compressor of one .ulz frame (level 1 by default, 1..9); see ``frame.Compressor``."""


class Decompressor(frame.Decompressor, spec=ULZ):
    """Streaming decompressor of .ulz frames; see ``frame.Decompressor``."""


class ULZFile(frame.FrameFile, spec=ULZ):
    """A .ulz file opened for reading or writing; see ``frame.FrameFile``."""
