"""Decoding: rebuild the network from the file and evaluate it on the pixel grid, in float64 so the
result does not depend on thread count or BLAS blocking (same bytes -> same pixels)."""

from __future__ import annotations

import numpy as np
import torch

from .bitstream import dequantize, unpack
from .model import ImageNet


def decode_pixels(data: bytes) -> np.ndarray:
    payload, shapes = unpack(data)
    net = ImageNet(payload.arch).double()
    with torch.no_grad():
        for (_, p), q, steps, shape in zip(
            net.weight_tensors(), payload.weights, payload.steps, shapes, strict=True
        ):
            w = np.nan_to_num(dequantize(q, steps, shape), nan=0.0, posinf=0.0, neginf=0.0)
            p.copy_(torch.from_numpy(w))
        grids = [torch.from_numpy(g.astype(np.float64)) for g in payload.grids]
        y = net(grids, dtype=torch.float64)
    pixels = (y.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(pixels[..., 0] if payload.arch.channels == 1 else pixels)
