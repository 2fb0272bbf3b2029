"""The imgkan section of ``everybit demo``: one photo fitted within 0.3 bits per pixel, next to JPEG at the
same or a larger size.

The photo is the portrait of Grace Hopper that ships with matplotlib (``mpl-data/sample_data``), cropped to
its centre square and resized to 128x128 with Pillow's Lanczos filter, so the demo needs no download. The fit
runs fewer steps than ``imgkan encode`` does by default, to keep the demo under a minute on two cores.
Everything shown is measured in this run; the side-by-side PNG is written into the report folder.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from everybit.common import atomic_write_bytes
from everybit.common.errors import DataUnavailableError, MissingDependencyError
from everybit.common.report import Chart, Section, Series, Table

SIDE = 128
BPP = 0.3  # 614 bytes: the budget must hold the smallest colour network (checked in the tests)
ITERS = 1500  # the CLI's default is 4000: more steps give a little more quality
PHOTO = "grace_hopper.jpg"
SIDE_BY_SIDE_PNG = "imgkan-side-by-side.png"
GUTTER, LABEL_H = 4, 14


def sample_photo(side: int = SIDE) -> np.ndarray:
    """matplotlib's Grace Hopper photo, centre-cropped to a square and resized to ``side`` (uint8 RGB)."""
    from matplotlib import cbook
    from PIL import Image

    try:
        path = cbook.get_sample_data(PHOTO, asfileobj=False)
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except (OSError, ValueError) as exc:  # some distributions strip matplotlib's sample data
        raise DataUnavailableError(f"matplotlib's sample photo {PHOTO} is not installed ({exc})") from None
    w, h = rgb.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return np.asarray(rgb.crop(box).resize((side, side), Image.Resampling.LANCZOS), dtype=np.uint8)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Fit with one torch thread: for an image this small a second thread gains little, and on cores shared
    with other work the two threads wait on each other (measured: several times slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def side_by_side(panels: list[tuple[str, np.ndarray]]) -> bytes:
    """The images in a row, each captioned underneath, as PNG bytes."""
    from PIL import Image, ImageDraw

    h, w = panels[0][1].shape[:2]
    size = (len(panels) * w + (len(panels) + 1) * GUTTER, h + 2 * GUTTER + LABEL_H)
    sheet = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, pixels) in enumerate(panels):
        x = GUTTER + k * (w + GUTTER)
        sheet.paste(Image.fromarray(pixels).convert("RGB"), (x, GUTTER))
        draw.text((x, h + GUTTER + 2), label, fill=(0, 0, 0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def demo(ctx: Any) -> Section:
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise MissingDependencyError("the imgkan demo needs torch: pip install 'everybit[ml]'") from None
    from everybit.imgkan import decode_array, fit_image, info
    from everybit.imgkan.anchors import jpeg_at_least
    from everybit.imgkan.metrics import psnr, ssim
    from everybit.imgkan.options import FitOptions

    photo = sample_photo(SIDE)
    pixels = SIDE * SIDE
    start = time.perf_counter()
    with _one_thread():
        result = fit_image(photo, bpp=BPP, options=FitOptions(iters=ITERS, quiet=True))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = decode_array(result.data)
        decode_ms = (time.perf_counter() - start) * 1e3
    if ours.shape != photo.shape:
        raise RuntimeError(f"decoded shape {ours.shape} differs from the photo's {photo.shape}")
    head = info(result.data)
    jpeg = jpeg_at_least(photo, len(result.data))
    floor = " (quality 1, JPEG's smallest file here, is larger still)" if jpeg.setting == "quality=1" else ""
    rows = [
        [
            "imgkan",
            len(result.data),
            round(8 * len(result.data) / pixels, 3),
            round(psnr(photo, ours), 2),
            round(ssim(photo, ours), 4),
            f"{head['kind']}, hidden {head['hidden']}, {head['levels']} latent levels, "
            f"{head['weight_bits']}-bit weights",
        ],
        [
            "JPEG (Pillow, smallest file at least as large)",
            jpeg.size,
            round(8 * jpeg.size / pixels, 3),
            round(psnr(photo, jpeg.decoded), 2),
            round(ssim(photo, jpeg.decoded), 4),
            jpeg.setting,
        ],
    ]
    if ctx is not None and getattr(ctx, "out_dir", None) is not None:
        ctx.out_dir.mkdir(parents=True, exist_ok=True)  # the report is written after the sections
        panels = [
            ("original", photo),
            (f"imgkan {len(result.data):,} B", ours),
            (f"JPEG {jpeg.size:,} B", jpeg.decoded),
        ]
        atomic_write_bytes(ctx.out_dir / SIDE_BY_SIDE_PNG, side_by_side(panels))
    table = Table(
        ["codec", "bytes", "bpp", "PSNR dB", "SSIM", "setting"],
        rows,
        title=f"{PHOTO}, {SIDE}x{SIDE} RGB, budget {BPP} bits per pixel ({int(BPP * pixels / 8):,} bytes)",
        note=f"imgkan: {result.steps:,} training steps in {fit_s:.1f} s (one thread), decoded in "
        f"{decode_ms:.0f} ms; PSNR and SSIM of the decoded file. JPEG: the quality whose file is the "
        f"smallest at least as large as imgkan's, so it never has fewer bytes{floor}.",
    )
    chart = Chart(
        f"PSNR at about {BPP} bpp",
        [Series("PSNR dB", ["imgkan", "JPEG"], [rows[0][3], rows[1][3]])],
        kind="bar",
        ylabel="PSNR dB (higher is better)",
    )
    headline = [
        ("PSNR imgkan / JPEG", f"{rows[0][3]:.2f} / {rows[1][3]:.2f} dB"),
        ("SSIM imgkan / JPEG", f"{rows[0][4]:.3f} / {rows[1][4]:.3f}"),
        ("bytes imgkan / JPEG", f"{rows[0][1]:,} / {rows[1][1]:,}"),
    ]
    text = (
        f"matplotlib's photo of Grace Hopper, centre-cropped and resized to {SIDE}x{SIDE}, fitted by imgkan "
        f"within {BPP} bits per pixel ({ITERS} steps, fewer than the command's default) and compared with "
        f"the smallest JPEG at least as large. {SIDE_BY_SIDE_PNG} shows original | imgkan | JPEG."
    )
    return Section("imgkan", text=text, headline=headline, tables=[table], charts=[chart])
