"""Sheets: what fontpack compresses. An image binarized (Otsu or a fixed threshold), or a font rendered.

A ``Sheet`` holds the ink bitmap (True = ink, the less frequent of the two levels of the binarized image),
whether ink is the dark level, the threshold used, how many gray pixels binarization rounded, and for a font
the grid it was rendered on and its ``FontMeta``. fontpack is exactly lossless with respect to this bitmap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from everybit.common.errors import InputError
from everybit.fontpack.fonts import GZIP_MAGIC, Font, FontMeta, gunzip, read_font, render_sheet, sniff
from everybit.fontpack.grid import Grid

MAX_PIXELS = 1 << 28  # 256 Mpixel: far past any glyph sheet, well short of exhausting memory


@dataclass
class Sheet:
    ink: np.ndarray  # (height, width) bool
    ink_dark: bool = True  # the decoded image draws ink black on white
    threshold: int = 128  # gray >= threshold is the light level
    gray_rounded: int = 0  # pixels neither black nor white that binarization rounded
    source: str = "image"  # "image" or the font format
    grid: Grid | None = None  # known layout (fonts)
    meta: FontMeta | None = None
    label: str = "sheet"

    @property
    def width(self) -> int:
        return int(self.ink.shape[1])

    @property
    def height(self) -> int:
        return int(self.ink.shape[0])

    def image(self) -> Any:
        return to_image(self.ink, self.ink_dark)


def to_image(ink: np.ndarray, ink_dark: bool) -> Any:
    """A PIL image of mode "1" (white = 255) from an ink bitmap."""
    from PIL import Image

    packed = np.packbits(ink, axis=1)  # inverted packed rather than before: 1/8 of the memory
    if ink_dark:
        np.invert(packed, out=packed)  # the padding bits at the rows' ends are ignored
    h, w = ink.shape
    return Image.frombytes("1", (w, h), packed.tobytes())


def otsu(hist: np.ndarray) -> int:
    """Otsu's threshold for a 256-bin histogram: the T (1..255) maximizing the between-class variance of
    levels < T and >= T. 128 when the image has a single level."""
    hist = hist.astype(np.float64)
    total = hist.sum()
    if np.count_nonzero(hist) < 2:
        return 128
    levels = np.arange(256)
    w0 = np.cumsum(hist)[:-1]  # class "< T" for T = 1..255
    m0 = np.cumsum(hist * levels)[:-1]
    w1 = total - w0
    mean_all = (hist * levels).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0 * total - w0 * mean_all) ** 2 / (w0 * w1)
    between[(w0 == 0) | (w1 == 0)] = -1
    best = between.max()
    ties = np.nonzero(between >= best - best * 1e-12)[0]
    return int(ties[len(ties) // 2]) + 1  # the middle of a flat optimum (a gap between two levels)


def gray_levels(img: Any) -> np.ndarray:
    """The image as uint8 gray levels. Transparency: alpha is composited over the background that contrasts
    with the opaque pixels (ink drawn on a transparent sheet stays ink)."""
    from PIL import Image

    if img.mode == "1":
        return np.asarray(img, dtype=np.uint8) * np.uint8(255)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if not has_alpha:
        return np.asarray(img.convert("L"), dtype=np.uint8)
    la = np.asarray(img.convert("LA"), dtype=np.float64)
    lum, alpha = la[..., 0], la[..., 1] / 255.0
    if alpha.min() == 1.0:
        return lum.astype(np.uint8)
    opaque = alpha > 0.5
    background = 255.0 if (lum[opaque].mean() if opaque.any() else 0.0) < 128 else 0.0
    del Image
    return np.clip(np.rint(lum * alpha + background * (1 - alpha)), 0, 255).astype(np.uint8)


def binarize(gray: np.ndarray, threshold: int | None = None) -> tuple[np.ndarray, bool, int, int]:
    """(ink, ink_dark, threshold, gray pixels rounded). Ink is the less frequent level (dark on a tie)."""
    hist = np.bincount(gray.ravel(), minlength=256)
    t = otsu(hist) if threshold is None else threshold
    if not 0 <= t <= 255:
        raise InputError(f"threshold {t} is out of range 0..255")
    light = gray >= t
    n_light = int(light.sum())
    ink_dark = n_light * 2 >= light.size
    ink = ~light if ink_dark else light
    rounded = 0
    if np.count_nonzero(hist) > 2:
        rounded = int(light.size - hist[0] - hist[255])
    return ink, ink_dark, t, rounded


def sheet_from_image(img: Any, threshold: int | None = None, label: str = "image") -> Sheet:
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    w, h = img.size
    if w == 0 or h == 0:
        raise InputError(f"{label}: the image is empty ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise InputError(f"{label}: {w}x{h} is more than {MAX_PIXELS >> 20} Mpixel")
    ink, ink_dark, t, rounded = binarize(gray_levels(img), threshold)
    return Sheet(ink, ink_dark, t, rounded, "image", None, None, label)


def sheet_from_array(arr: Any, threshold: int | None = None, label: str = "array") -> Sheet:
    """A 2-D array: bool arrays are ink bitmaps as they are; numbers are gray levels 0..255."""
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise InputError(f"{label}: expected a 2-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{label}: the image is empty ({arr.shape[1]}x{arr.shape[0]})")
    if arr.size > MAX_PIXELS:
        raise InputError(f"{label}: more than {MAX_PIXELS >> 20} Mpixel")
    if arr.dtype == bool:
        return Sheet(arr.copy(), True, 128, 0, "image", None, None, label)
    if arr.min() < 0 or arr.max() > 255:
        raise InputError(f"{label}: gray levels must lie in 0..255")
    ink, ink_dark, t, rounded = binarize(arr.astype(np.uint8), threshold)
    return Sheet(ink, ink_dark, t, rounded, "image", None, None, label)


def sheet_from_font(font: Font, cols: int | None = None, label: str = "font") -> Sheet:
    ink, (cw, ch, ncols, rows), meta = render_sheet(font, cols)
    grid = Grid(cw, ch, 0, 0, 0, 0, ncols, rows)
    return Sheet(ink, True, 128, 0, font.format, grid, meta, label)


def load_sheet(source: Any, threshold: int | None = None, cols: int | None = None) -> Sheet:
    """A sheet from a path (image or font file), a PIL image, a Font, an array, or a Sheet (returned as is).

    Fonts (PSF1/PSF2, BDF, PCF, .hex; gzipped or not) are rendered ``cols`` glyphs per row; images are
    binarized at ``threshold`` (Otsu's when None).
    """
    if isinstance(source, Sheet):
        return source
    if isinstance(source, Font):
        return sheet_from_font(source, cols, source.name)
    if isinstance(source, str | os.PathLike):
        return _load_path(Path(source), threshold, cols)
    if hasattr(source, "getbands") and hasattr(source, "size"):
        return sheet_from_image(source, threshold)
    if isinstance(source, np.ndarray):
        return sheet_from_array(source, threshold)
    raise TypeError(f"expected a path, a PIL image, a Font or a 2-D array, not {type(source).__name__}")


def _load_path(path: Path, threshold: int | None, cols: int | None) -> Sheet:
    label = str(path)
    if path.is_dir():
        raise InputError(f"{label}: is a directory")
    data = path.read_bytes()
    if not data:
        raise InputError(f"{label}: empty file (not an image or a font)")
    plain = gunzip(data, label) if data.startswith(GZIP_MAGIC) else data
    if sniff(plain, label) is not None:
        return sheet_from_font(read_font(plain, label), cols, label)
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise InputError(f"{label}: {w}x{h} is more than {MAX_PIXELS >> 20} Mpixel")
            img.load()
            return sheet_from_image(img, threshold, label)
    except UnidentifiedImageError:
        raise InputError(
            f"{label}: not an image or a bitmap font (PNG, BMP, GIF, ... or PSF, BDF, PCF, .hex)"
        ) from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{label}: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # damaged image data
        raise InputError(f"{label}: damaged image ({exc})") from None
