"""fontpack: a bitmap-font sheet compressor.

Glyph sheets (PNG, BMP, GIF, ...) are binarized (Otsu's threshold unless given), their character grid is
detected (or given), and the sheet is stored exactly (w.r.t. the binarized bitmap) in a .fpk file: blank
cells elided, identical glyphs kept once, each distinct glyph cropped to its ink and context-coded in one
adaptive stream; or the whole sheet context-coded; or the original pack + RLE (``mode="rle"``). Bitmap fonts
(PSF1/PSF2, BDF, PCF, Unifont .hex) are rendered onto a sheet with their codepoints kept, so ``export``
rebuilds a BDF::

    blob = fontpack.compress("font.png")              # or a font file, a PIL image, a 2-D array
    image = fontpack.decompress(blob)                 # PIL image, mode "1"
    fontpack.detect_grid("font.png").grid             # Grid(cell_w, cell_h, x0, y0, gap_x, gap_y, cols, rows)
    sheet = fontpack.load_sheet("ter-u16n.psf.gz")    # the ink bitmap, threshold, grid and font metadata

Every decoding failure raises ``FontpackError`` (a ``CorruptDataError``, so a ``ValueError``).
Format: docs/fontpack-format.md.
"""

from __future__ import annotations

from typing import Any

from everybit.fontpack.coder import FontpackError
from everybit.fontpack.fonts import Font, FontMeta, Glyph, font_from_cells, load_font, read_font, write_bdf
from everybit.fontpack.format import CHOICES, SUFFIX, Decoded, compress, decode, decompress, encode_sheet
from everybit.fontpack.grid import Detection, Grid, detect_grid_array, parse_grid
from everybit.fontpack.sheet import Sheet, load_sheet


def detect_grid(image: Any, threshold: int | None = None) -> Detection:
    """The grid of an image (path, PIL image, 2-D array or Sheet); ``.grid`` is the layout. Fonts report the
    grid they are rendered on."""
    from everybit.fontpack.format import resolve_grid

    return resolve_grid(load_sheet(image, threshold))


__all__ = [
    "CHOICES",
    "SUFFIX",
    "Decoded",
    "Detection",
    "Font",
    "FontMeta",
    "FontpackError",
    "Glyph",
    "Grid",
    "Sheet",
    "compress",
    "decode",
    "decompress",
    "detect_grid",
    "detect_grid_array",
    "encode_sheet",
    "font_from_cells",
    "load_font",
    "load_sheet",
    "parse_grid",
    "read_font",
    "write_bdf",
]
