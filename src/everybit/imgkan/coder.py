"""The entropy coder of imgkan: planes of small signed integers in one arithmetic-coded stream (C core in
``_ikcoder.c``, where the binarization and contexts are described).

Quantized weights and latent grids are 2-D integer planes, mostly 0 and small magnitudes, with values in
``[-MAX_ABS, MAX_ABS]``. ``encode_planes`` codes them all, in order, as one stream; each plane learns its
statistics from scratch. The decoder is given the shapes (they follow from the file header), so the
stream holds nothing but the coded values.

Errors: arrays that are not 2-D or not integers raise ``UsageError``; values out of range, shapes over
the limits (``MAX_DIM`` rows or columns, ``MAX_CELLS`` cells, ``MAX_PLANES`` planes in one call) raise
``ValueError``; corrupt, truncated or padded data raises ``IkcoderError``, a ``CorruptDataError``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from everybit.common.errors import UsageError

from ._ikcoder import MAX_ABS, MAX_CELLS, MAX_DIM, MAX_PLANES, IkcoderError, decode, encode

__all__ = ["MAX_ABS", "MAX_CELLS", "MAX_DIM", "MAX_PLANES", "IkcoderError", "decode_planes", "encode_planes"]


def _plane(i: int, plane: np.ndarray) -> np.ndarray:
    a = np.asarray(plane)
    if a.ndim != 2:
        raise UsageError(f"imgkan coder: plane {i} must be 2-D, got shape {a.shape}")
    if a.dtype.kind not in "iub":
        raise UsageError(f"imgkan coder: plane {i} must hold integers, got {a.dtype}")
    if a.size and a.dtype != np.int32:
        lo, hi = int(a.min()), int(a.max())
        if lo < -MAX_ABS or hi > MAX_ABS:
            bad = lo if lo < -MAX_ABS else hi
            raise ValueError(f"imgkan coder: plane {i} holds {bad}, outside [-{MAX_ABS}, {MAX_ABS}]")
    return np.ascontiguousarray(a, dtype=np.int32)


def encode_planes(planes: Sequence[np.ndarray]) -> bytes:
    """One stream for all ``planes`` (2-D integer arrays with values in [-MAX_ABS, MAX_ABS]), in order."""
    return encode([_plane(i, p) for i, p in enumerate(planes)])


def decode_planes(data: bytes, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """The int32 planes of an ``encode_planes`` stream, given their (rows, cols) shapes."""
    dims = [(operator.index(r), operator.index(c)) for r, c in shapes]
    out = decode(data, dims)
    return [
        np.frombuffer(b, dtype="<i4").astype(np.int32, copy=False).reshape(d)
        for b, d in zip(out, dims, strict=True)
    ]
