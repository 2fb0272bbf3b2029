"""Grid geometry, detection on sheets laid out with and without gutters and margins, manual grids."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from everybit.common.errors import UsageError
from everybit.fontpack import detect_grid, fonts
from everybit.fontpack.grid import (
    AxisFit,
    Grid,
    detect_grid_array,
    fit_axis,
    fit_cuts,
    manual_grid,
    parse_grid,
)
from tests.fontpack import fontgen


def _pillow_cells(cols=16):
    ink, (cw, ch, cols, rows), _ = fonts.render_sheet(fonts.pillow_default_font(), cols)
    return Grid(cw, ch, 0, 0, 0, 0, cols, rows).split(ink), (cw, ch, cols, rows)


def test_split_and_assemble_are_inverse_with_gutters():
    rng = np.random.default_rng(0)
    g = Grid(5, 7, 3, 2, 2, 1, 4, 3)
    cells = rng.random((12, 7, 5)) < 0.5
    sheet = g.assemble(cells, g.bottom + 4, g.right + 1)
    assert sheet.shape == (2 + 3 * 7 + 2 * 1 + 4, 3 + 4 * 5 + 3 * 2 + 1)
    assert (g.split(sheet) == cells).all()
    assert g.origin(5) == (3 + 7, 2 + 8)
    mask = g.cell_mask(*sheet.shape)
    assert mask.sum() == 12 * 35 and not sheet[~mask].any()


@pytest.mark.parametrize(("gap", "margin"), [(0, 0), (1, 3), (1, 0), (3, 5), (2, 7)])
def test_detects_pillow_font_sheets(gap, margin):
    cells, (cw, ch, cols, rows) = _pillow_cells()
    drawn = Grid(cw, ch, margin, margin, gap, gap, cols, rows)
    det = detect_grid_array(fontgen.layout(cells, drawn, margin))
    g = det.grid
    assert det.method == "detected" and (g.cols, g.rows) == (cols, rows)
    assert (g.cell_w + g.gap_x, g.cell_h + g.gap_y) == (cw + gap, ch + gap)  # the pitch, always
    if gap <= 1:  # wider gutters may come out partly inside the cells (the same pitch, centred)
        assert g == drawn


def test_detects_console_font_cells_that_touch():
    bms = fontgen.glyph_bitmaps(256, 8, 16)
    for bm in bms[176:224]:  # box-drawing glyphs fill their cell edge to edge
        bm[:, :] = False
        bm[7, :] = bm[:, 3] = True
    ink, _, _ = fonts.render_sheet(fonts.read_font(fontgen.psf2(bms), "vga.psf"))
    assert detect_grid_array(ink).grid == Grid(8, 16, 0, 0, 0, 0, 16, 16)


def test_gutters_between_cells_only():
    cells, (cw, ch, cols, rows) = _pillow_cells(20)
    drawn = Grid(cw, ch, 0, 0, 2, 2, cols, rows)
    g = detect_grid_array(fontgen.layout(cells, drawn, 0)).grid
    assert (g.cols, g.rows) == (cols, rows) and g.right <= drawn.right
    assert not fontgen.layout(cells, drawn, 0)[
        ~g.cell_mask(drawn.bottom, drawn.right)
    ].any()  # no ink outside


@pytest.mark.parametrize(
    "ink",
    [
        np.random.default_rng(1).random((120, 200)) < 0.3,  # noise
        np.zeros((40, 50), bool),  # blank
        np.ones((1, 1), bool),
        np.ones((3, 100), bool),
        np.eye(64, dtype=bool),  # one diagonal stroke
    ],
    ids=["noise", "blank", "pixel", "bar", "diagonal"],
)
def test_no_grid_is_one_cell(ink):
    det = detect_grid_array(ink)
    assert det.grid == Grid(ink.shape[1], ink.shape[0]) and det.method == "none"


def test_text_lines_are_rows():
    from PIL import Image, ImageDraw

    img = Image.new("L", (300, 90), 255)
    ImageDraw.Draw(img).text((4, 2), "Sphinx of black quartz,\njudge my vow. 0123\nPack my box!", fill=0)
    g = detect_grid(img).grid  # lines of text are rows of one cell each; the blank rest holds blank rows
    assert g.cols == 1 and 12 <= g.cell_h <= 16 and g.rows == (90 - g.y0) // g.cell_h


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cw=st.integers(5, 12),
    ch=st.integers(6, 16),
    gap=st.integers(0, 3),
    margin=st.integers(0, 6),
    cols=st.integers(8, 16),  # fewer periods can show a longer one by chance (alternating dense glyphs)
    rows=st.integers(5, 10),
    seed=st.integers(0, 1000),
)
def test_detected_pitch_on_random_glyph_sheets(cw, ch, gap, margin, cols, rows, seed):
    margin = min(margin, cw - 1, ch - 1)  # a margin of a whole cell or more could as well be blank cells
    cells = np.array(fontgen.glyph_bitmaps(cols * rows, cw, ch, seed))
    drawn = Grid(cw, ch, margin, margin, gap, gap, cols, rows)
    sheet = fontgen.layout(cells, drawn, margin)
    g = detect_grid_array(sheet).grid
    assert (g.cell_w + g.gap_x, g.cell_h + g.gap_y) == (cw + gap, ch + gap)
    assert (g.cols, g.rows) == (cols, rows)
    assert not sheet[~g.cell_mask(*sheet.shape)].any()  # every glyph inside a cell


# Ink (% of pixels) per row and per column of the glyphs of two Debian console fonts whose sheets have no row
# blank in every cell: Uni2-Terminus12x6 (accents on top, descenders below, both rare) and Uni2-VGA28x16 (an
# 8x14 font drawn at twice the size). The emptiest rows are the last ones, so the cells were once placed to
# start there (at +0+10 and +0+2, 31 rows of cells).
TERMINUS_6X12 = ((6, 6, 27, 21, 35, 33, 33, 27, 26, 41, 4, 4), (30, 21, 29, 20, 29, 2), 1)
VGA_16X28 = ((8, 13, 23, 32, 28, 37, 42, 45, 40, 39, 41, 47, 8, 9), (25, 40, 31, 32, 34, 39, 28, 5), 2)


def _profiled_cells(count, font, seed):
    """Random glyphs with a font's ink per row and column (``TERMINUS_6X12``), each pixel on its own."""
    rows, cols, scale = font
    r, c = np.array(rows) / 100, np.array(cols) / 100
    p = np.outer(r / r.mean(), c / c.mean()) * (r.mean() + c.mean()) / 2
    cells = np.random.default_rng(seed).random((count, len(r), len(c))) < p
    return cells.repeat(scale, axis=1).repeat(scale, axis=2)


def _spleen_5x8_cells(seed):
    """512 glyphs like those of Debian's spleen-5x8.psfu: blank control characters (0-31, 128-159), strokes in
    rows 1-6 and columns 0-3 (a few reach the top or bottom row), then cells of random pixels, half ink, that
    fill their cells edge to edge (no column or row is blank in every cell)."""
    rng = np.random.default_rng(seed)
    cells = np.zeros((512, 8, 5), bool)
    for i, cell in enumerate(cells):
        if i < 32 or 128 <= i < 160:
            continue
        if i >= 160:
            cell[:] = rng.random((8, 5)) < 0.49
            continue
        top, bottom = (0 if rng.random() < 0.07 else 1), (8 if rng.random() < 0.07 else 7)
        for _ in range(rng.integers(1, 4)):
            x, (y0, y1) = rng.integers(0, 4), sorted(rng.integers(top, bottom, 2))
            cell[y0 : y1 + 1, x] = True
        for _ in range(rng.integers(1, 4)):
            y, (x0, x1) = rng.integers(top, bottom), sorted(rng.integers(0, 4, 2))
            cell[y, x0 : x1 + 1] = True
    return cells


@pytest.mark.parametrize("margin", [0, 3])
@pytest.mark.parametrize(
    ("font", "seed"),
    [
        (TERMINUS_6X12, 0),
        (TERMINUS_6X12, 3),
        (TERMINUS_6X12, 4),
        (VGA_16X28, 0),
        (VGA_16X28, 1),
        (VGA_16X28, 2),
    ],
    ids=[
        "terminus-6x12-0",
        "terminus-6x12-3",
        "terminus-6x12-4",
        "vga-16x28-0",
        "vga-16x28-1",
        "vga-16x28-2",
    ],
)
def test_cells_start_at_the_first_glyph_row_without_blank_rows(font, seed, margin):
    cells = _profiled_cells(512, font, seed)
    drawn = Grid(cells.shape[2], cells.shape[1], margin, margin, 0, 0, 16, 32)
    assert detect_grid_array(fontgen.layout(cells, drawn, margin)).grid == drawn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_cells_filled_edge_to_edge(seed):
    drawn = Grid(5, 8, 0, 0, 0, 0, 16, 32)
    ink = fontgen.layout(_spleen_5x8_cells(seed), drawn, 0)
    assert fit_axis(ink.sum(axis=0)).count == 1  # no column blank enough in every cell: no edge
    assert detect_grid_array(ink).grid == drawn  # found from where strokes join neighbouring rows (columns)
    across = AxisFit(5, 0, 5, 0, 16, 0, 0.5)
    assert (fit_cuts(ink, across).pitch, fit_cuts(ink.T, AxisFit(8, 0, 8, 0, 32, 0, 0.5)).pitch) == (8, 5)


def test_fit_axis_on_a_plain_period():
    profile = np.tile([0, 3, 5, 4, 0, 0], 20)
    fit = fit_axis(profile)
    assert (fit.pitch, fit.count) == (6, 20) and fit.size + fit.gap == 6


def test_parse_grid_and_manual_grids():
    assert parse_grid("8x16") == (8, 16, 0, 0)
    assert parse_grid(" 6X11+3+4 ") == (6, 11, 3, 4)
    for bad in ("8", "8x", "0x5", "8x16+3", "axb"):
        with pytest.raises(UsageError):
            parse_grid(bad)
    assert manual_grid(100, 50, (8, 16, 2, 1)) == Grid(8, 16, 2, 1, 0, 0, 12, 3)
    assert manual_grid(100, 50, (8, 16, 0, 0), cols=5) == Grid(8, 16, 0, 0, 0, 0, 5, 3)
    assert manual_grid(96, 32, None, cols=12) == Grid(8, 32, 0, 0, 0, 0, 12, 1)
    with pytest.raises(UsageError, match="does not fit"):
        manual_grid(10, 10, (20, 5, 0, 0))
    with pytest.raises(UsageError, match="--cols 20"):
        manual_grid(100, 50, (8, 16, 0, 0), cols=20)
