"""Context coder for 1-bit bitmaps: the compression core of fontpack (C in ``_jbigctx.c``).

A list of bitmaps (the distinct cropped glyphs of a sheet) is coded as one stream whose adaptive state
carries over from glyph to glyph; a single bitmap (a whole sheet) is coded with a reference pixel one glyph
cell to the left. The decoder is given the shapes; pixels outside a bitmap read as 0. Every decoding failure
raises ``FontpackError`` (a ``CorruptDataError``, so a ``ValueError``); shapes that are negative, wider
than ``MAX_WIDTH`` or over ``MAX_PIXELS`` pixels in one call raise ``ValueError``. Design and stream
format: docs/fontpack-coder.md, "Context coder".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from everybit.fontpack._jbigctx import (
    MAX_PERIOD,
    MAX_PIXELS,
    MAX_WIDTH,
    FontpackError,
    decode_list,
    decode_single,
    encode_list,
    encode_single,
)

__all__ = [
    "MAX_PERIOD",
    "MAX_PIXELS",
    "MAX_WIDTH",
    "FontpackError",
    "decode_bitmap",
    "decode_bitmaps",
    "decode_bitmaps_flat",
    "encode_bitmap",
    "encode_bitmaps",
]

Bitmap = npt.NDArray[np.bool_]


def _pixels(bitmap: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A C-contiguous 2-D uint8 view or copy of a bool/integer bitmap (nonzero = ink)."""
    a = np.asarray(bitmap)
    if a.ndim != 2:
        raise ValueError(f"a bitmap must be 2-D, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype != np.uint8:
        a = a != 0
        a = a.view(np.uint8)
    return np.ascontiguousarray(a)


def _shape_array(shapes: Sequence[tuple[int, int]]) -> npt.NDArray[np.int64]:
    arr = np.asarray(shapes, dtype=np.int64).reshape(-1, 2) if len(shapes) else np.zeros((0, 2), np.int64)
    return np.ascontiguousarray(arr)


def _split(buf: bytearray, shapes: npt.NDArray[np.int64]) -> list[Bitmap]:
    flat = np.frombuffer(buf, dtype=np.bool_)
    out, pos = [], 0
    for h, w in shapes.tolist():
        out.append(flat[pos : pos + h * w].reshape(h, w))
        pos += h * w
    return out


def encode_bitmaps(bitmaps: Sequence[npt.ArrayLike]) -> bytes:
    """One stream for all ``bitmaps`` (2-D bool or uint8 arrays, nonzero = ink), in order, with one
    adaptive state: later glyphs are coded with what earlier ones taught the model."""
    arrays = [_pixels(b) for b in bitmaps]
    shapes = _shape_array([a.shape for a in arrays])
    pixels = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, np.uint8)
    return encode_list(pixels, shapes)


def decode_bitmaps(data: bytes, shapes: Sequence[tuple[int, int]]) -> list[Bitmap]:
    """The bitmaps of an ``encode_bitmaps`` stream, given their (height, width) shapes; bool arrays."""
    arr = _shape_array(shapes)
    return _split(decode_list(data, arr), arr)


def decode_bitmaps_flat(data: bytes, shapes: Sequence[tuple[int, int]] | npt.ArrayLike) -> Bitmap:
    """The pixels of an ``encode_bitmaps`` stream as one flat bool array, bitmap after bitmap, row-major:
    no object per bitmap, for a caller that may get millions of them."""
    return np.frombuffer(decode_list(data, _shape_array(shapes)), dtype=np.bool_)


def encode_bitmap(bitmap: npt.ArrayLike, *, period: int | None = None) -> bytes:
    """One bitmap (a whole sheet). ``period``: horizontal offset of the reference pixel, normally the glyph
    cell width (0 = none, 2..MAX_PERIOD); None lets the encoder pick it from the image."""
    a = _pixels(bitmap)
    return encode_single(a.reshape(-1), a.shape[0], a.shape[1], period)


def decode_bitmap(data: bytes, shape: tuple[int, int]) -> Bitmap:
    """The bitmap of an ``encode_bitmap`` stream, given its (height, width); a bool array."""
    h, w = (int(v) for v in shape)
    return np.frombuffer(decode_single(data, h, w), dtype=np.bool_).reshape(h, w)
