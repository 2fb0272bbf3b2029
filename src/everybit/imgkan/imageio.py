"""Images in and out of imgkan: every input becomes a uint8 array, (H, W) gray or (H, W, 3) RGB.

Gray images stay one channel so that neither imgkan nor the anchors spend bits on two copies of the same
plane. Alpha is dropped, not composited: imgkan codes colour only, and compositing would invent a background
the image never had. Sizes are checked before pixels are decoded, so an oversized file fails fast.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from everybit.common.errors import InputError, UsageError

MAX_PIXELS = 1 << 20  # 1 MP: encoding time grows with the pixel count
MIN_SIDE = 2  # a coordinate network needs at least two samples along each axis

_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")  # plus every "I;16*" variant
# What damaged or unsupported image data raises from inside Pillow's decoders.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def check_size(width: int, height: int, label: str = "") -> None:
    """InputError when the image is too small or too large for imgkan."""
    where = f"{label}: " if label else ""
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InputError(
            f"{where}image is {width}x{height}; imgkan needs at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )
    if width * height > MAX_PIXELS:
        raise InputError(
            f"{where}image is {width}x{height} = {width * height:,} pixels; imgkan encodes at most "
            f"{MAX_PIXELS:,} pixels ({MAX_PIXELS / (1 << 20):g} MP): downscale or crop it first"
        )


def read_image(path_or_file: str | os.PathLike[str] | BinaryIO) -> np.ndarray:
    """Decode an image file (anything Pillow reads) to uint8 (H, W) or (H, W, 3).

    Gray modes ("1", "L", "LA", "I;16", "I", "F") give (H, W): 16-bit levels v become round(v / 257);
    "I" and "F" images whose values fit 0..255 are taken as 8-bit, others as 16-bit. Everything else
    (RGB, RGBA, P, CMYK, YCbCr, ...) gives (H, W, 3); palette images become RGB even when their palette is
    gray. Alpha is dropped. EXIF orientation is applied, so the array is upright as viewers show it.
    Multi-frame files give their first frame. Unreadable files and bad sizes raise ``InputError``.
    """
    from PIL import Image, ImageOps

    if isinstance(path_or_file, str | os.PathLike):
        label = str(path_or_file)
        if Path(path_or_file).is_dir():
            raise InputError(f"cannot read image {label}: it is a directory")
    else:
        label = str(getattr(path_or_file, "name", "") or "<file>")
    try:
        with Image.open(path_or_file) as img:
            check_size(*img.size, label=label)  # before load(): a huge file fails without decoding it
            img.load()
            img = ImageOps.exif_transpose(img)
            return _pil_to_array(img, label)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"cannot read image {label}: no such file") from None
    except PermissionError:
        raise InputError(f"cannot read image {label}: permission denied") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"cannot read image {label}: not an image format Pillow can decode") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"cannot read image {label}: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise InputError(f"cannot read image {label}: truncated or damaged ({exc})") from None


def as_image_array(image: Any) -> np.ndarray:
    """Any image the public API accepts, as a uint8 (H, W) or (H, W, 3) array (a new array).

    ``image`` is a path or binary file (read with ``read_image``), a PIL image (converted as
    ``read_image`` does, but taken as it is: no EXIF rotation), or a numpy array: (H, W), (H, W, 1),
    (H, W, 3) or (H, W, 4) (alpha dropped), of dtype uint8, bool (False/True = 0/255), or float with values
    in [0, 1] (scaled by 255 and rounded).
    Wrong types, shapes or dtypes raise ``UsageError``; bad sizes raise ``InputError``.
    """
    if isinstance(image, str | os.PathLike) or hasattr(image, "read"):
        return read_image(image)
    if hasattr(image, "getbands") and hasattr(image, "size"):  # a PIL image, without importing PIL
        check_size(*image.size)
        try:
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            return _pil_to_array(image, "image")
        except _DECODE_ERRORS as exc:  # a lazily loaded image whose file is damaged
            raise InputError(f"cannot read image: truncated or damaged ({exc})") from None
    if isinstance(image, np.ndarray):
        return _from_array(image)
    raise UsageError(f"expected a path, a PIL image or a numpy array, not {type(image).__name__}")


def to_pil(array: np.ndarray) -> Any:
    """A PIL image of mode "L" or "RGB" from a uint8 (H, W), (H, W, 1) or (H, W, 3) array."""
    from PIL import Image

    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise UsageError(f"to_pil needs a uint8 array, not {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), mode="L")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(arr), mode="RGB")
    raise UsageError(f"to_pil needs shape (H, W) or (H, W, 3), not {arr.shape}")


def _pil_to_array(img: Any, label: str) -> np.ndarray:
    mode = img.mode
    if mode == "1":
        return np.asarray(img, dtype=np.uint8) * np.uint8(255)
    if mode.startswith("I;16"):
        return _sixteen_to_eight(np.asarray(img).astype(np.float64))
    if mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if arr.max(initial=0) > 255:  # values past 8 bits: a 16-bit image stored as "I" (older Pillow PNGs)
            return _sixteen_to_eight(arr)
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if mode in _GRAY_MODES:
        return np.array(img.convert("L"), dtype=np.uint8)
    try:
        rgb = img.convert("RGB")  # RGBA/PA drop alpha here; P expands its palette
    except ValueError as exc:  # a mode Pillow cannot convert (e.g. LAB on some builds)
        raise InputError(f"cannot read image {label}: unsupported image mode {mode} ({exc})") from None
    return np.array(rgb, dtype=np.uint8)


def _sixteen_to_eight(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)


def _from_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        arr = arr[:, :, 0] if arr.shape[2] == 1 else arr[:, :, :3]
    elif arr.ndim != 2:
        raise UsageError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), not {arr.shape}")
    check_size(arr.shape[1], arr.shape[0])
    if arr.dtype == np.uint8:
        return np.array(arr, dtype=np.uint8, order="C")
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(np.min(arr)), float(np.max(arr))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise UsageError("a float image array holds NaN or infinity")
        if lo < -1e-6 or hi > 1 + 1e-6:  # the slack forgives float rounding in the caller's arithmetic
            raise UsageError(
                f"a float image array must lie in [0, 1], not [{lo:g}, {hi:g}]: divide by 255 for 0..255 data"
            )
        return np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    raise UsageError(
        f"an image array must be uint8 (0..255) or float (0..1), not {arr.dtype}: "
        "use arr.astype(np.uint8) for 0..255 values"
    )
