"""The varint of everybit's Python formats (fontpack's .fpk, imgkan's .ikan): LEB128, as ``_varint.h`` for C.

7 bits per byte, least significant group first, high bit set when more bytes follow, no bias; at most
``MAX_BYTES`` (9) bytes, so at most 63 bits. A truncated or overlong varint raises ``VarintError`` (a
``ValueError``) with the offset where it starts; each format turns it into its own error and message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

MAX_BYTES = 9  # 9 x 7 = 63 bits, as VARINT_MAX_BYTES in _varint.h
_CHUNK = 1 << 12  # varints decoded per step of decode_array: its working memory stays under 1 MB


class VarintError(ValueError):
    """A varint that is truncated (``truncated``) or longer than allowed, starting at ``offset``."""

    def __init__(self, offset: int, truncated: bool) -> None:
        self.offset, self.truncated = offset, truncated
        super().__init__(f"{'truncated' if truncated else 'overlong'} varint at offset {offset}")


def write(out: bytearray, value: int) -> None:
    """Append the varint of ``value`` (>= 0) to ``out``."""
    if value < 0:
        raise ValueError(f"varint of a negative number {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode(*values: int) -> bytes:
    """The varints of ``values``, one after the other."""
    out = bytearray()
    for value in values:
        write(out, value)
    return bytes(out)


def decode(data: Any, pos: int = 0, max_bytes: int = MAX_BYTES) -> tuple[int, int]:
    """(value, position after it) of the varint at ``data[pos]``, at most ``max_bytes`` long."""
    value = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise VarintError(pos, truncated=True)
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise VarintError(pos, truncated=False)


def decode_array(
    data: Any, count: int, pos: int = 0, max_bytes: int = MAX_BYTES, dtype: npt.DTypeLike = np.uint64
) -> tuple[npt.NDArray[Any], int]:
    """``count`` varints from ``data[pos]`` on, decoded with numpy, and the position after them.

    The same values and errors as ``count`` calls of ``decode``, without a Python loop per value: long
    runs of varints (a font's codepoints, a sheet's cells) decode in time and memory linear in ``count``
    (the values, plus a working window of a fixed size). ``dtype`` must hold every value ``max_bytes``
    allows: 4 bytes (< 2^28) fit int32."""
    if not 1 <= max_bytes <= MAX_BYTES:
        raise ValueError(f"max_bytes must be 1..{MAX_BYTES}, not {max_bytes}")
    buf = np.frombuffer(data, np.uint8)
    out = np.empty(count, dtype)
    done = 0
    while done < count:
        n = min(_CHUNK, count - done)
        values, pos = _decode_chunk(buf, n, pos, max_bytes)
        out[done : done + n] = values
        done += n
    return out, pos


def _decode_chunk(
    buf: npt.NDArray[np.uint8], n: int, pos: int, max_bytes: int
) -> tuple[npt.NDArray[np.uint64], int]:
    window = buf[pos : pos + n * max_bytes]  # n varints of at most max_bytes each lie in it
    ends = np.flatnonzero(window < 0x80)[:n]
    starts = np.concatenate(([0], ends[:-1] + 1))[: len(ends)]
    lengths = ends - starts + 1
    overlong = np.flatnonzero(lengths > max_bytes)
    if len(overlong):
        raise VarintError(pos + int(starts[overlong[0]]), truncated=False)
    if len(ends) < n:  # the varint after the last complete one is cut short or overlong
        decode(memoryview(buf), pos + (int(ends[-1]) + 1 if len(ends) else 0), max_bytes)
        raise AssertionError("decode accepted a varint decode_array refused")  # pragma: no cover
    groups = window[: int(ends[-1]) + 1].astype(np.uint64) & np.uint64(0x7F)
    shifts = (np.arange(len(groups)) - np.repeat(starts, lengths)).astype(np.uint64) * np.uint64(7)
    return np.add.reduceat(groups << shifts, starts), pos + int(ends[-1]) + 1


def zigzag(value: int) -> int:
    """A signed number as the unsigned one a varint stores: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: Any) -> Any:
    """The inverse of ``zigzag``, for a Python int or an integer numpy array."""
    return (value >> 1) ^ -(value & 1)
