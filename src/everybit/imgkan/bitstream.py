"""The .ikan file: header, quantized weights and latent grids, entropy coded, CRC-32 (docs/imgkan-format.md).

Weights are quantized uniformly and symmetrically, ``w = q * step`` with ``|q| <= 2**(bits-1) - 1``,
one step per tensor or per output channel, each step a float16 in the file. Latent grids are stored
as the integers they were trained to be. All integer planes go through one context-adaptive
arithmetic-coded stream (``coder``), so the file size is the true rate.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from everybit.common import varint
from everybit.common.errors import CorruptDataError

from . import coder
from .arch import KINDS, Arch

MAGIC = b"IKAN"
VERSION = 1
MIN_BITS, MAX_BITS = 4, 12
MAX_DEPTH, MAX_BLOCKS = 8, 8
_FLAG_REFINE, _FLAG_PER_CHANNEL = 1, 2
# kind, channels, bits, flags, hidden, depth, blocks, psi_dim, fourier, levels, fourier_scale (f16)
_FIXED = struct.Struct("<10Be")


@dataclass
class Payload:
    """What a file holds: the architecture, quantized weights (integer planes + steps) and grids."""

    arch: Arch
    bits: int
    per_channel: bool
    weights: list[np.ndarray]  # int32 planes, one per tensor, in ImageNet.weight_tensors() order
    steps: list[np.ndarray]  # float16 steps: one per tensor, or one per row of its plane
    grids: list[np.ndarray]  # int32 latent grids, finest first


def weight_plane_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """A tensor as a 2-D plane: rows are output channels (a bias is one row)."""
    if len(shape) == 1:
        return 1, shape[0]
    rows = shape[0]
    return rows, int(np.prod(shape[1:]))


def quantize(w: np.ndarray, bits: int, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (float) -> (int32 plane, float16 steps). The steps are rounded up in float16, so the
    largest magnitude still fits in ``bits``."""
    plane = np.asarray(w, dtype=np.float64).reshape(weight_plane_shape(w.shape))
    qmax = (1 << (bits - 1)) - 1
    rowwise = per_channel and plane.shape[0] > 1
    peak = np.abs(plane).max(axis=1) if rowwise else np.abs(plane).max(keepdims=True)
    steps = np.asarray(peak / qmax, dtype=np.float16)
    short = steps.astype(np.float64) * qmax < peak
    steps[short] = np.nextafter(steps[short], np.float16(np.inf))
    s = steps.astype(np.float64)[:, None] if steps.size > 1 else steps.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, np.rint(plane / np.where(s > 0, s, 1)), 0)
    return np.clip(q, -qmax, qmax).astype(np.int32), steps


def dequantize(q: np.ndarray, steps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    s = steps.astype(np.float64)
    s = s[:, None] if s.size > 1 else s
    return (q.astype(np.float64) * s).reshape(shape)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    try:
        return varint.decode(data, pos, max_bytes=5)  # 35 bits: more than any image side or seed
    except varint.VarintError:
        raise CorruptDataError("imgkan: bad header (size field)") from None


def pack(p: Payload) -> bytes:
    a = p.arch
    flags = (_FLAG_REFINE if a.refine else 0) | (_FLAG_PER_CHANNEL if p.per_channel else 0)
    fixed = (KINDS.index(a.kind), a.channels, p.bits, flags, a.hidden, a.depth, a.blocks, a.psi_dim,
             a.fourier, a.levels, a.fourier_scale)  # fmt: skip
    sizes = varint.encode(a.height, a.width, a.seed)
    header = MAGIC + bytes([VERSION]) + sizes + _FIXED.pack(*fixed)
    steps = b"".join(s.astype("<f2").tobytes() for s in p.steps)
    body = header + steps + coder.encode_planes(list(p.weights) + list(p.grids))
    return body + struct.pack("<I", zlib.crc32(body))


def _weight_shapes(arch: Arch) -> list[tuple[int, ...]]:
    from .model import ImageNet  # torch only when a file is read

    return [tuple(t.shape) for _, t in ImageNet(arch).weight_tensors()]


def unpack(data: bytes) -> tuple[Payload, list[tuple[int, ...]]]:
    """Parse and check a file -> (payload, the weight tensors' shapes)."""
    data = bytes(data)
    if len(data) < len(MAGIC) + 1 or data[: len(MAGIC)] != MAGIC:
        raise CorruptDataError("not an imgkan file (bad magic)")
    if data[len(MAGIC)] != VERSION:
        version = data[len(MAGIC)]
        raise CorruptDataError(f"imgkan file version {version} is not supported (this reads {VERSION})")
    if len(data) < 4 or struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        raise CorruptDataError("imgkan file is corrupt (checksum mismatch) or truncated")
    body = data[:-4]
    pos = len(MAGIC) + 1
    height, pos = _read_varint(body, pos)
    width, pos = _read_varint(body, pos)
    seed, pos = _read_varint(body, pos)
    if pos + _FIXED.size > len(body):
        raise CorruptDataError("imgkan file is truncated (header)")
    kind, channels, bits, flags, *rest = _FIXED.unpack_from(body, pos)
    pos += _FIXED.size
    hidden, depth, blocks, psi_dim, fourier, levels, scale = rest
    _check_header(kind, channels, bits, height, width, hidden, depth, blocks, psi_dim + levels)
    arch = Arch(height, width, channels, KINDS[kind], hidden, depth, blocks, psi_dim, fourier, float(scale),
                seed, levels, bool(flags & _FLAG_REFINE))  # fmt: skip
    per_channel = bool(flags & _FLAG_PER_CHANNEL)
    shapes = _weight_shapes(arch)
    planes = [weight_plane_shape(s) for s in shapes]
    steps = []
    for rows, _ in planes:
        n = rows if per_channel and rows > 1 else 1
        if pos + 2 * n > len(body):
            raise CorruptDataError("imgkan file is truncated (weight steps)")
        steps.append(np.frombuffer(body, "<f2", n, pos).astype(np.float16))
        pos += 2 * n
    decoded = coder.decode_planes(body[pos:], planes + arch.grid_shapes())
    payload = Payload(arch, bits, per_channel, decoded[: len(planes)], steps, decoded[len(planes) :])
    return payload, shapes


def _check_header(
    kind: int,
    channels: int,
    bits: int,
    height: int,
    width: int,
    hidden: int,
    depth: int,
    blocks: int,
    inputs: int,
) -> None:
    from .imageio import MAX_PIXELS

    if kind >= len(KINDS) or channels not in (1, 3) or not MIN_BITS <= bits <= MAX_BITS:
        raise CorruptDataError("imgkan file is corrupt (bad header fields)")
    if not (height >= 1 and width >= 1 and height * width <= MAX_PIXELS):
        raise CorruptDataError("imgkan file is corrupt (bad image size in header)")
    # bounds the network a crafted header can ask us to build
    has_inputs = inputs > 0 or KINDS[kind] != "ka"
    if not (hidden >= 1 and depth <= MAX_DEPTH and 1 <= blocks <= MAX_BLOCKS and has_inputs):
        raise CorruptDataError("imgkan file is corrupt (bad architecture in header)")
