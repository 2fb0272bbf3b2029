"""Region-of-interest weight maps: where the fit should spend its bits.

A map starts at 1 everywhere; each box (or a mask image) raises its region to its weight; the map is
then Gaussian-smoothed (as the original did with its detector boxes) so the fit has no hard seams, and
scaled to mean 1 so the rate trade-off keeps its meaning. A detector is a plugin: any function
``image (H, W[, 3]) uint8 -> [(x1, y1, x2, y2, weight), ...]`` named as ``module:function``; none ships
and nothing is ever downloaded.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from everybit.common.errors import InputError, UsageError

_BOX = re.compile(r"^\s*(\d+),(\d+),(\d+),(\d+)(?::([0-9.]+))?\s*$")
DEFAULT_WEIGHT = 4.0


@dataclass(frozen=True)
class Box:
    x1: int
    y1: int
    x2: int
    y2: int
    weight: float = DEFAULT_WEIGHT


def parse_box(text: str) -> Box:
    """``x1,y1,x2,y2[:weight]`` in pixels (x2, y2 exclusive)."""
    m = _BOX.match(text)
    if not m:
        raise UsageError(f"bad --roi {text!r}: expected x1,y1,x2,y2[:weight], e.g. 10,20,120,200:4")
    x1, y1, x2, y2 = (int(v) for v in m.groups()[:4])
    weight = float(m.group(5)) if m.group(5) else DEFAULT_WEIGHT
    if x2 <= x1 or y2 <= y1 or not weight > 0:
        raise UsageError(f"bad --roi {text!r}: need x1 < x2, y1 < y2 and a positive weight")
    return Box(x1, y1, x2, y2, weight)


def weight_map(
    height: int,
    width: int,
    boxes: Sequence[Box] = (),
    mask: np.ndarray | None = None,
    mask_weight: float = DEFAULT_WEIGHT,
    sigma: float | None = None,
) -> np.ndarray:
    """The (H, W) float32 weight map, mean 1. ``mask``: (H, W) uint8, 255 = weight ``mask_weight``."""
    w = np.ones((height, width), np.float64)
    for b in boxes:
        if b.x1 >= width or b.y1 >= height:
            raise UsageError(f"--roi box {b.x1},{b.y1},{b.x2},{b.y2} lies outside the {width}x{height} image")
        region = w[b.y1 : b.y2, b.x1 : b.x2]
        np.maximum(region, b.weight, out=region)
    if mask is not None:
        if mask.shape[:2] != (height, width):
            raise InputError(f"ROI mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}")
        m = mask if mask.ndim == 2 else mask.mean(axis=2)
        w = np.maximum(w, 1 + (mask_weight - 1) * m / 255.0)
    w = gaussian_blur(w, sigma if sigma is not None else max(height, width) / 64)
    return (w / w.mean()).astype(np.float32)


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (numpy only)."""
    if sigma <= 0:
        return a
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1)
    k = np.exp(-(x**2) / (2 * sigma**2))
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        p = np.pad(a, pad, mode="edge")
        a = sum(k[i] * np.take(p, range(i, i + a.shape[axis]), axis=axis) for i in range(len(k)))
    return a


def detect(spec: str, image: np.ndarray) -> list[Box]:
    """Run a detector plugin ``module:function`` on the image and return its boxes."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise UsageError(f"bad --roi-detector {spec!r}: expected module:function")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load detector {spec!r}: {exc}") from None
    boxes = []
    for item in fn(image):
        x1, y1, x2, y2, *rest = item
        boxes.append(Box(int(x1), int(y1), int(x2), int(y2), float(rest[0]) if rest else DEFAULT_WEIGHT))
    return boxes
