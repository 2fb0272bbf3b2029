"""The fontpack section of ``everybit demo``: a glyph sheet drawn from Pillow's built-in bitmap font, its
detected grid, and its size under fontpack (best and the original pack + RLE), PNG and zlib.

The sheet is made here, offline and the same on every run: the 190 glyphs of Pillow's default bitmap font
(6x11) laid out 16 per row with gutters and margins, as glyph sheets are drawn. Everything shown is measured
in this run and every output is decoded and compared with the input.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from everybit.common import atomic_write_bytes
from everybit.common.report import Chart, Section, Series, Table
from everybit.fontpack import fonts
from everybit.fontpack.format import decode, encode_sheet, resolve_grid
from everybit.fontpack.grid import Grid
from everybit.fontpack.sheet import Sheet, load_sheet

COLS, GUTTER, MARGIN, SCALE = 16, 1, 3, 3
GRID_PNG = "fontpack-grid.png"


def sample_sheet() -> tuple[Any, Grid]:
    """Pillow's default font as a glyph-sheet image (black on white) and the grid it was drawn on."""
    from PIL import Image

    font = fonts.pillow_default_font()
    ink, (cw, ch, cols, rows), _ = fonts.render_sheet(font, COLS)
    cells = Grid(cw, ch, 0, 0, 0, 0, cols, rows).split(ink)
    drawn = Grid(cw, ch, MARGIN, MARGIN, GUTTER, GUTTER, cols, rows)
    sheet = drawn.assemble(cells, drawn.bottom + MARGIN, drawn.right + MARGIN)
    h, w = sheet.shape
    return Image.frombytes("1", (w, h), np.packbits(~sheet, axis=1).tobytes()), drawn


def grid_overlay(image: Any, grid: Grid, scale: int = SCALE) -> bytes:
    """The sheet enlarged ``scale`` times with every cell of ``grid`` outlined, as PNG bytes."""
    from PIL import ImageDraw

    big = image.convert("RGB").resize((image.width * scale, image.height * scale), 0)
    draw = ImageDraw.Draw(big)
    for i in range(grid.cells):
        x, y = grid.origin(i)
        draw.rectangle(
            [x * scale, y * scale, (x + grid.cell_w) * scale - 1, (y + grid.cell_h) * scale - 1],
            outline=(220, 40, 40),
        )
    buf = io.BytesIO()
    big.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _png_decode(blob: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(blob)).convert("1")) == 0


def codecs(sheet: Sheet, grid: Grid) -> list[tuple[str, Callable[[], bytes], Callable[[bytes], np.ndarray]]]:
    ink = sheet.ink
    h, w = ink.shape
    return [
        ("fontpack best", lambda: encode_sheet(sheet, grid, "best"), lambda b: decode(b).ink),
        ("fontpack rle (original)", lambda: encode_sheet(sheet, grid, "rle"), lambda b: decode(b).ink),
        ("PNG 1-bit (Pillow, optimize)", lambda: _png(sheet.image()), _png_decode),
        (
            "packed bits + zlib -9",
            lambda: zlib.compress(np.packbits(ink, axis=1).tobytes(), 9),
            lambda b: np.unpackbits(np.frombuffer(zlib.decompress(b), np.uint8).reshape(h, -1), axis=1)[
                :, :w
            ].astype(bool),
        ),
    ]


def demo(ctx: Any) -> Section:
    image, drawn = sample_sheet()
    sheet = load_sheet(image)
    det = resolve_grid(sheet)
    grid = det.grid
    if ctx is not None and getattr(ctx, "out_dir", None) is not None:
        ctx.out_dir.mkdir(parents=True, exist_ok=True)  # the report is written after the sections
        atomic_write_bytes(ctx.out_dir / GRID_PNG, grid_overlay(image, grid))
    packed_bytes = (sheet.width * sheet.height + 7) // 8
    rows = []
    for name, enc, dec in codecs(sheet, grid):
        start = time.perf_counter()
        blob = enc()
        c_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        back = dec(blob)
        d_ms = (time.perf_counter() - start) * 1e3
        ok = back.shape == sheet.ink.shape and bool((back == sheet.ink).all())
        rows.append([name, len(blob), round(packed_bytes / len(blob), 2), round(c_ms, 2), round(d_ms, 2), ok])
    if not all(r[-1] for r in rows):
        raise RuntimeError("round trip failed: " + ", ".join(r[0] for r in rows if not r[-1]))
    header = decode(encode_sheet(sheet, grid, "best")).header
    if grid == drawn:
        found = "the grid it was drawn on"
    elif (grid.cell_w + grid.gap_x, grid.cell_h + grid.gap_y) == (
        drawn.cell_w + drawn.gap_x,
        drawn.cell_h + drawn.gap_y,
    ):
        found = f"the pitch it was drawn on, with the gutters inside the cells (drawn: {drawn.describe()})"
    else:
        found = f"not the grid it was drawn on ({drawn.describe()})"
    table = Table(
        ["codec", "bytes", "x smaller than packed bits", "compress ms", "decompress ms", "round trip"],
        rows,
        title=f"{sheet.width}x{sheet.height} sheet of Pillow's default font "
        f"({packed_bytes:,} bytes as packed bits)",
        note=f"fontpack best stored mode '{header.mode}': {header.blank} blank cells elided, "
        f"{header.duplicates} duplicates stored once, {header.distinct} distinct glyphs cropped and "
        "context-coded in one stream. Times: one run each in this process.",
    )
    chart = Chart(
        "compressed size of the sheet",
        [Series("bytes", [r[0] for r in rows], [r[1] for r in rows])],
        kind="bar",
        ylabel="bytes (lower is better)",
    )
    best, rle, png = rows[0], rows[1], rows[2]
    headline = [
        ("grid", f"{grid.describe()} ({'= drawn' if grid == drawn else 'differs from drawn'})"),
        ("best vs PNG", f"{best[1]:,} vs {png[1]:,} bytes ({100 * (1 - best[1] / png[1]):.0f}% smaller)"),
        ("best vs rle", f"{best[1]:,} vs {rle[1]:,} bytes"),
    ]
    text = (
        f"A glyph sheet made from the 190 glyphs of Pillow's built-in bitmap font, {COLS} per row with "
        f"{GUTTER}-pixel gutters and {MARGIN}-pixel margins. fontpack detected {grid.describe()}: "
        f"{found}; {GRID_PNG} shows the detected cells outlined in red over the sheet ({SCALE}x). "
        "Sizes by codec below; every output was decoded and compared with the sheet."
    )
    return Section("fontpack", text=text, headline=headline, tables=[table], charts=[chart])
