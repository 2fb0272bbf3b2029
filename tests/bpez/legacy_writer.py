"""A writer of the original bpez.py's file layout, built from docs/bpez-format.md ("Legacy format") and
shared/docs/systems.md, to make files that existing users have on disk.

Per block: count every adjacent byte pair, take the most frequent (a candidate needs 3 occurrences), take
the lowest byte value with count 0, prepend the 3-byte cycle header (pair high, pair low, replacement) to
the data with every occurrence of the pair replaced; repeat up to ``cycles`` times; the record is
``[u32 BE N][zlib stream of: u32 BE block length, u8 cycle count, data]``.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np


def bpe_block(block: bytes, cycles: int = 64) -> tuple[bytes, int]:
    """The block after up to ``cycles`` substitutions (last cycle's header first) and the cycles done."""
    data = bytes(block)
    done = 0
    for _ in range(cycles):
        if len(data) < 2:
            break
        arr = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
        counts = np.bincount(arr[:-1] * 256 + arr[1:], minlength=65536)
        best = int(counts.argmax())
        if counts[best] < 3:
            break
        present = np.bincount(arr, minlength=256)
        free = np.flatnonzero(present == 0)
        if not len(free):
            break
        high, low, rep = best >> 8, best & 0xFF, int(free[0])
        data = bytes((high, low, rep)) + data.replace(bytes((high, low)), bytes((rep,)))
        done += 1
    return data, done


def record(block: bytes, cycles: int = 64, zlevel: int = 9) -> bytes:
    """One legacy record: length prefix and zlib stream."""
    data, done = bpe_block(block, cycles)
    stream = zlib.compress(struct.pack(">IB", len(block), done) + data, zlevel)
    return struct.pack(">I", len(stream)) + stream


def write(data: bytes, block_size: int = 1 << 20, cycles: int = 64) -> bytes:
    """A whole legacy file (empty input: empty file)."""
    return b"".join(record(data[i : i + block_size], cycles) for i in range(0, len(data), block_size))
