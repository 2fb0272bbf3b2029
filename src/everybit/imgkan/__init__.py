"""imgkan: an image codec whose file is a quantized Kolmogorov-Arnold coordinate network.

    >>> data = imgkan.encode("photo.png", bpp=0.3)        # bytes, at most 0.3 bits per pixel
    >>> imgkan.decode(data).save("back.png")              # a PIL image

Encoding fits a small network (and its latent grids) to the one image, so it takes seconds to
minutes; decoding evaluates it, in milliseconds. The format is in docs/imgkan-format.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .arch import Arch
from .imageio import as_image_array, to_pil
from .options import FitOptions, FitResult, OverBudget
from .roi import Box, detect, parse_box, weight_map

__all__ = [
    "Arch",
    "Box",
    "FitOptions",
    "FitResult",
    "OverBudget",
    "decode",
    "decode_array",
    "encode",
    "fit_image",
    "info",
    "parse_box",
]


def fit_image(
    image: Any,
    *,
    bpp: float | None = None,
    size: int | None = None,
    kind: str = "ka",
    roi: Sequence[Box] = (),
    roi_mask: Any = None,
    roi_detector: str | None = None,
    options: FitOptions | None = None,
    **arch_overrides: Any,
) -> FitResult:
    """Fit ``image`` (path, PIL image or uint8 array) within ``bpp`` bits per pixel or ``size`` bytes.
    ``kind="siren"`` fits the COIN baseline instead; ``arch_overrides`` (hidden=, levels=, ...) replace
    what rate control would choose. Returns the file and its training statistics."""
    from . import rate, train

    pixels = as_image_array(image)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else 3
    budget = rate.budget_bytes(height, width, bpp, size)
    opts = options or FitOptions()
    if roi or roi_mask is not None or roi_detector:
        boxes = list(roi) + (detect(roi_detector, pixels) if roi_detector else [])
        mask = as_image_array(roi_mask) if roi_mask is not None else None
        opts = replace(opts, roi=weight_map(height, width, boxes, mask))
    arch: Arch | None = rate.choose_arch(height, width, channels, budget, kind, **arch_overrides)
    while True:
        try:
            return train.fit(pixels, arch, budget, opts)
        except OverBudget:
            arch = rate.smaller(arch) if kind == "siren" and not arch_overrides else None
            if arch is None:
                raise


def encode(image: Any, *, bpp: float | None = None, size: int | None = None, **kw: Any) -> bytes:
    """Encode ``image`` into an .ikan file of at most ``bpp`` bits per pixel (or ``size`` bytes)."""
    return fit_image(image, bpp=bpp, size=size, **kw).data


def decode_array(data: bytes) -> np.ndarray:
    """Decode an .ikan file to a uint8 array (H, W) or (H, W, 3)."""
    from .decoder import decode_pixels

    return decode_pixels(data)


def decode(data: bytes) -> Any:
    """Decode an .ikan file to a PIL image."""
    return to_pil(decode_array(data))


def info(data: bytes) -> dict[str, Any]:
    """The header of an .ikan file (architecture, weight bits) and its size in bits per pixel."""
    from .bitstream import unpack

    payload, _ = unpack(data)
    a = payload.arch
    return {
        **a.to_dict(),
        "weight_bits": payload.bits,
        "per_channel": payload.per_channel,
        "bytes": len(data),
        "bpp": 8 * len(data) / (a.height * a.width),
    }
