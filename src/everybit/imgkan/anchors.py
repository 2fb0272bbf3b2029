"""The codecs imgkan is compared against, each tuned to a byte budget: JPEG, WebP and JPEG XL.

JPEG is given the benefit of the doubt (the smallest file at least as large as ours, ``jpeg_at_least``);
WebP and JPEG XL, which usually beat JPEG, must fit the budget (the largest file at most as large).
Searches assume the size grows with quality (shrinks with JPEG XL distance), which holds in practice; each
returns the best file among every setting it tried, so a local non-monotonic step costs nothing.
JPEG uses Pillow; WebP and JPEG XL need the optional ``imagecodecs`` package.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from everybit.common.errors import InputError, MissingDependencyError
from everybit.imgkan.imageio import as_image_array

JPEG_QUALITIES = (1, 95)  # Pillow: above 95 only inflates the file
WEBP_QUALITIES = (0, 100)
JXL_DISTANCES = (0.1, 25.0)  # 0.1 is near lossless; 25 is libjxl's coarsest
JXL_STEPS = 12  # bisection steps in log(distance): a final bracket ~0.14% wide
JXL_EFFORT = 7  # libjxl's default
WEBP_METHOD = 6  # slowest, smallest
NEIGHBOURS = 2  # qualities tried each side of the bisection's answer, in case size is not monotonic


@dataclass(frozen=True)
class Encoded:
    name: str  # "JPEG", "WebP", "JPEG XL"
    data: bytes
    decoded: np.ndarray  # uint8, same shape as the input array
    setting: str  # e.g. "quality=37", "distance=1.84"

    @property
    def size(self) -> int:
        return len(self.data)


def jpeg_at_least(image: Any, nbytes: int) -> Encoded:
    """The smallest Pillow JPEG (optimize=True, 4:2:0) of at least ``nbytes`` over qualities 1..95;
    quality 95 when even that is smaller (and quality 1 when it is already larger)."""
    arr = as_image_array(image)
    enc = _jpeg_encoder(arr)
    sizes: dict[int, bytes] = {}
    lo, hi = JPEG_QUALITIES
    if len(_try(enc, sizes, hi)) < nbytes:
        return _jpeg_result(sizes[hi])
    if len(_try(enc, sizes, lo)) < nbytes:
        below = _bisect_int(lambda q: len(_try(enc, sizes, q)) < nbytes, lo, hi)
        _neighbours(enc, sizes, below + 1, lo, hi)
    fits = [q for q, d in sizes.items() if len(d) >= nbytes]
    best = min(fits, key=lambda q: (len(sizes[q]), q))
    return _jpeg_result(sizes[best], best)


def jpeg_at_most(image: Any, nbytes: int) -> Encoded | None:
    """The largest Pillow JPEG (optimize=True, 4:2:0) of at most ``nbytes`` over qualities 1..95; None when
    quality 1 is already larger."""
    arr = as_image_array(image)
    enc = _jpeg_encoder(arr)
    found = _largest_int(enc, nbytes, *JPEG_QUALITIES)
    return None if found is None else _jpeg_result(found[1], found[0])


def webp_at_most(image: Any, nbytes: int) -> Encoded | None:
    """The largest lossy WebP (libwebp method 6) of at most ``nbytes`` over qualities 0..100; None when
    quality 0 is already larger. Gray images are coded as RGB (WebP has no gray mode) and decoded back to
    one channel."""
    codecs = _imagecodecs("webp")
    arr = as_image_array(image)
    rgb = np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr

    def enc(q: int) -> bytes:
        return _checked("WebP", arr, lambda: codecs.webp_encode(rgb, q, lossless=False, method=WEBP_METHOD))

    found = _largest_int(enc, nbytes, *WEBP_QUALITIES)
    if found is None:
        return None
    q, data = found
    decoded = codecs.webp_decode(data)[:, :, :3]
    if arr.ndim == 2:  # libwebp's 4:2:0 chroma leaves the three planes nearly, not exactly, equal
        decoded = np.rint(decoded.mean(axis=2)).astype(np.uint8)
    return Encoded("WebP", data, decoded, f"quality={q}")


def jxl_at_most(image: Any, nbytes: int) -> Encoded | None:
    """The largest lossy JPEG XL (libjxl effort 7) of at most ``nbytes``, found by bisecting the distance
    in 0.1..25 (log scale, 12 steps); None when distance 25 is still larger."""
    codecs = _imagecodecs("jpegxl")
    arr = as_image_array(image)

    def enc(d: float) -> bytes:
        return _checked("JPEG XL", arr, lambda: codecs.jpegxl_encode(arr, distance=d, effort=JXL_EFFORT))

    tried: dict[float, bytes] = {}
    near, far = JXL_DISTANCES
    if len(_try(enc, tried, far)) > nbytes:
        return None
    if len(_try(enc, tried, near)) > nbytes:
        for _ in range(JXL_STEPS):  # invariant: size(near) > nbytes >= size(far)
            mid = math.sqrt(near * far)
            if len(_try(enc, tried, mid)) > nbytes:
                near = mid
            else:
                far = mid
    d = max((d for d, data in tried.items() if len(data) <= nbytes), key=lambda d: (len(tried[d]), -d))
    decoded = np.asarray(codecs.jpegxl_decode(tried[d]))
    if arr.ndim == 2 and decoded.ndim == 3:
        decoded = decoded[:, :, 0]
    return Encoded("JPEG XL", tried[d], decoded.astype(np.uint8), f"distance={d:.3g}")


def compare_at(image: Any, nbytes: int) -> list[Encoded | None]:
    """[JPEG at least ``nbytes``, WebP at most ``nbytes``, JPEG XL at most ``nbytes``]."""
    _imagecodecs("webp")  # before any work: fail at once rather than after the JPEG search
    _imagecodecs("jpegxl")
    arr = as_image_array(image)
    return [jpeg_at_least(arr, nbytes), webp_at_most(arr, nbytes), jxl_at_most(arr, nbytes)]


def _jpeg_encoder(arr: np.ndarray) -> Callable[[int], bytes]:
    from PIL import Image

    img = Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB")

    def enc(q: int) -> bytes:
        buf = io.BytesIO()
        _checked("JPEG", arr, lambda: img.save(buf, "JPEG", quality=q, optimize=True))
        return buf.getvalue()

    return enc


def _jpeg_result(data: bytes, quality: int = JPEG_QUALITIES[1]) -> Encoded:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        decoded = np.array(img, dtype=np.uint8)
    return Encoded("JPEG", data, decoded, f"quality={quality}")


def _largest_int(enc: Callable[[int], bytes], nbytes: int, lo: int, hi: int) -> tuple[int, bytes] | None:
    """(setting, data) of the largest encoding <= nbytes over integer settings lo..hi; None if none fits."""
    sizes: dict[int, bytes] = {}
    if len(_try(enc, sizes, lo)) > nbytes:
        return None
    if len(_try(enc, sizes, hi)) > nbytes:
        found = _bisect_int(lambda q: len(_try(enc, sizes, q)) <= nbytes, lo, hi)
        _neighbours(enc, sizes, found, lo, hi)
    best = max((q for q, d in sizes.items() if len(d) <= nbytes), key=lambda q: (len(sizes[q]), q))
    return best, sizes[best]


def _bisect_int(ok: Callable[[int], bool], lo: int, hi: int) -> int:
    """The q in lo..hi-1 with ok(q) and not ok(q + 1), given ok(lo) and not ok(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _neighbours(enc: Callable[[int], bytes], sizes: dict[int, bytes], q: int, lo: int, hi: int) -> None:
    for n in range(max(lo, q - NEIGHBOURS), min(hi, q + NEIGHBOURS) + 1):
        _try(enc, sizes, n)


def _try(enc: Callable[[Any], bytes], cache: dict[Any, bytes], setting: Any) -> bytes:
    if setting not in cache:
        cache[setting] = bytes(enc(setting))
    return cache[setting]


def _checked(codec: str, arr: np.ndarray, call: Callable[[], Any]) -> Any:
    """Run an encoder; its failures (mostly side limits: JPEG 65,535 px, WebP 16,383 px) become InputError."""
    try:
        return call()
    except (OSError, ValueError, RuntimeError) as exc:
        h, w = arr.shape[:2]
        raise InputError(f"{codec} cannot encode this {w}x{h} image: {exc}") from None


def _imagecodecs(codec: str) -> Any:
    """The imagecodecs module, checked to have ``codec``'s encoder and decoder; imported only when needed."""
    name = {"webp": "WebP", "jpegxl": "JPEG XL"}[codec]
    try:
        import imagecodecs
    except ImportError:
        raise MissingDependencyError(
            f"the {name} anchor needs imagecodecs: pip install imagecodecs (or everybit[ml])"
        ) from None
    available = getattr(getattr(imagecodecs, codec.upper(), None), "available", False)
    if not available:
        raise MissingDependencyError(
            f"this imagecodecs build has no {name} codec: pip install --upgrade imagecodecs"
        )
    return imagecodecs
