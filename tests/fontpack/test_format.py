"""The .fpk container: round trips in every mode, the original RLE, metadata, corruption, bad input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from everybit.common.errors import CorruptDataError, InputError, UsageError
from everybit.fontpack import FontMeta, FontpackError, compress, decode, decompress, detect_grid, load_sheet
from everybit.fontpack import format as fmt
from everybit.fontpack.grid import Grid
from everybit.fontpack.sheet import Sheet
from tests.fontpack import fontgen

MODES = ("best", "cells", "sheet", "rle")


def seed_rle(ink: np.ndarray) -> bytes:
    """The original font_compress, as its README describes it: bright pixels packed 8 per byte MSB first
    over the whole row-major image, then every zero byte followed by the count of the run it starts."""
    flat = ink.ravel().tolist()
    flat += [False] * (-len(flat) % 8)
    packed = [sum(int(flat[i + j]) << (7 - j) for j in range(8)) for i in range(0, len(flat), 8)]
    out, i = [], 0
    while i < len(packed):
        out.append(packed[i])
        if packed[i] == 0:
            count = 1
            i += 1
            while i < len(packed) and packed[i] == 0 and count < 255:
                i += 1
                count += 1
            out.append(count)
        else:
            i += 1
    return bytes(out)


def _sheet_of_glyphs(seed=0, cols=12, rows=6, cw=7, ch=9, gap=1, margin=2):
    cells = np.array(fontgen.glyph_bitmaps(cols * rows, cw, ch, seed))
    grid = Grid(cw, ch, margin, margin, gap, gap, cols, rows)
    return fontgen.layout(cells, grid, margin), grid


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_every_mode(mode):
    ink, _ = _sheet_of_glyphs()
    blob = compress(ink, mode=mode)
    back = decode(blob)
    assert (back.ink == ink).all()
    if mode != "best":
        assert back.header.mode == mode
    img = decompress(blob)
    assert img.mode == "1" and img.size == (ink.shape[1], ink.shape[0])
    assert ((np.asarray(img) == 0) == ink).all()  # ink is dark: black on white


def test_best_is_the_smallest_and_counts_are_right():
    ink, grid = _sheet_of_glyphs()
    sizes = {m: len(compress(ink, mode=m, grid=grid)) for m in MODES}
    assert sizes["best"] == min(sizes.values())
    h = decode(compress(ink, grid=grid)).header
    assert h.grid == grid
    assert (
        h.blank == 1 and h.duplicates == len(range(10, 72, 7)) and h.blank + h.duplicates + h.distinct == 72
    )


def test_rle_payload_is_the_original_algorithm():
    rng = np.random.default_rng(5)
    for shape, density in [((37, 53), 0.05), ((16, 64), 0.0), ((300, 41), 0.002), ((3, 3), 1.0)]:
        ink = rng.random(shape) < density
        blob = compress(Sheet(ink, ink_dark=False), mode="rle")
        _, cur = fmt.read_header(blob)
        stream = bytes(cur.section("rle"))
        assert stream == seed_rle(ink)
        assert (fmt.decode(blob).ink == ink).all()


def test_residual_outside_the_cells():
    ink, grid = _sheet_of_glyphs(gap=2, margin=3)
    ink = ink.copy()
    ink[0, :] = True  # a ruling in the margin
    ink[:, grid.x0 + grid.cell_w] = True  # a line in a gutter
    blob = compress(ink, grid=grid, mode="cells")
    back = decode(blob)
    assert back.header.residual and (back.ink == ink).all()


def test_empty_and_tiny_sheets():
    for ink in (
        np.zeros((10, 17), bool),
        np.ones((1, 1), bool),
        np.zeros((1, 1), bool),
        np.ones((5, 3), bool),
    ):
        for mode in MODES:
            assert (decode(compress(ink, mode=mode)).ink == ink).all()


def test_font_metadata_round_trips():
    meta = FontMeta(
        name="Ünïcode name",
        format="psf2",
        charset="ISO10646-1",
        codepoints=[0x20, 0x21, None, 0x10FFFF, 0, 0x41, 0x21],
        advances=[8, 8, 8, 9, 3, 8, -2],
        aliases=[[], [0x410, 0x391], [], [], [5], [0x40], [7]],
        origin_x=1,
        baseline=12,
        ascent=12,
        descent=-4,
    )
    back = fmt.decode_meta(fmt.encode_meta(meta), 10, "t")
    assert back == fmt.canonical(meta)
    assert back.codepoints == [0x20, 0x21, None, 0x10FFFF, 0, 0x40, 7]  # the smallest of each glyph
    assert back.aliases == [[], [0x391, 0x410], [], [], [5], [0x41], []]  # 0x21 stays with glyph 1
    assert fmt.decode_meta(fmt.encode_meta(back), 10, "t") == back
    assert fmt.decode_meta(fmt.encode_meta(FontMeta()), 0, "t") == FontMeta()
    # an unknown tag written by a later version is skipped
    extra = fmt.encode_meta(meta) + bytes([99, 3, 1, 2, 3])
    assert fmt.decode_meta(extra, 10, "t") == back
    with pytest.raises(FontpackError, match="glyph count"):
        fmt.decode_meta(fmt.encode_meta(meta), 5, "t")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ink=arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    mode=st.sampled_from(MODES),
    data=st.data(),
)
def test_random_bitmaps_round_trip_on_random_grids(ink, mode, data):
    h, w = ink.shape
    cw, ch = data.draw(st.integers(1, w)), data.draw(st.integers(1, h))
    x0, y0 = data.draw(st.integers(0, w - cw)), data.draw(st.integers(0, h - ch))
    cols = data.draw(st.integers(1, (w - x0) // cw))
    rows = data.draw(st.integers(1, (h - y0) // ch))
    gx = data.draw(st.integers(0, (w - x0 - cols * cw) // max(cols - 1, 1))) if cols > 1 else 0
    gy = data.draw(st.integers(0, (h - y0 - rows * ch) // max(rows - 1, 1))) if rows > 1 else 0
    grid = Grid(cw, ch, x0, y0, gx, gy, cols, rows)
    sheet = Sheet(ink, ink_dark=data.draw(st.booleans()), threshold=data.draw(st.integers(0, 255)))
    blob = fmt.encode_sheet(sheet, grid, mode)
    back = decode(blob)
    assert (back.ink == ink).all() and back.grid == grid
    assert back.header.ink_dark == sheet.ink_dark and back.header.threshold == sheet.threshold


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cw=st.integers(3, 12), ch=st.integers(3, 16), gap=st.integers(0, 3))
def test_random_glyph_sheets_round_trip_with_detection(seed, cw, ch, gap):
    ink, _ = _sheet_of_glyphs(seed, 9, 5, cw, ch, gap, margin=gap)
    blob = compress(ink)
    back = decode(blob)
    assert (back.ink == ink).all() and back.grid == detect_grid(ink).grid


def _sample_file():
    """A cells-mode file with metadata and a residual: every section present."""
    bms = fontgen.glyph_bitmaps(48, 6, 8, seed=3)
    sheet = load_sheet(fontgen_font(bms))
    ink = np.zeros((sheet.height + 2, sheet.width), bool)
    ink[: sheet.height] = sheet.ink
    ink[-1, ::3] = True
    grid = sheet.grid
    sheet = Sheet(ink, True, 128, 0, "psf2", None, sheet.meta)
    blob = fmt.encode_sheet(sheet, grid, "cells")
    assert fmt.read_header(blob)[0].residual
    return blob, ink


def fontgen_font(bms):
    from everybit.fontpack import fonts

    return fonts.read_font(fontgen.psf2(bms, [[0x30 + i] for i in range(len(bms))]), "c.psfu")


def test_every_truncation_and_trailing_garbage_is_an_error():
    blob, _ = _sample_file()
    for n in range(len(blob)):
        with pytest.raises(FontpackError):
            decode(blob[:n])
    with pytest.raises(FontpackError, match="garbage before the CRC-32"):
        decode(blob + b"\0")


def test_every_damaged_byte_is_caught_or_harmless():
    blob, ink = _sample_file()
    good = decode(blob)
    for pos in range(len(blob)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(blob)
            bad[pos] ^= flip
            try:
                back = decode(bytes(bad))
            except CorruptDataError as exc:
                assert isinstance(exc, FontpackError) and "\n" not in str(exc)
                continue
            # a byte the decoder never needs (e.g. past the end of an arithmetic-coded stream): same result
            assert (back.ink == ink).all() and back.header.meta == good.header.meta, pos


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "bad magic"),
        (b"PK\x03\x04 a zip file", "bad magic"),
        (fmt.MAGIC + b"\x02", "unsupported version 2"),
        (fmt.MAGIC + b"\x01\x07", "unknown mode 7"),
        (fmt.MAGIC + b"\x01\x00\x80", "unknown flags"),
        (fmt.MAGIC + b"\x01\x00\x00\x80\x00\x05", "bad sheet size 0x5"),
        (fmt.MAGIC + b"\x01\x00\x00\x80\x05\x05\x03\x03\x00\x00\x00\x00\x02\x01", "does not fit"),
        (fmt.MAGIC + b"\x01\x00\x00\x80\x05\x05\x05\x05\x00\x00\x00\x00\x01\x01\x01\x01\x01", "cell counts"),
        (fmt.MAGIC + b"\x01\x00\x00\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "varint too long"),
    ],
)
def test_bad_headers(blob, message):
    with pytest.raises(FontpackError, match=message):
        decode(blob, "x.fpk")


def test_api_errors():
    with pytest.raises(UsageError, match="unknown mode"):
        compress(np.zeros((4, 4), bool), mode="fast")
    with pytest.raises(UsageError, match="does not fit"):
        compress(np.zeros((4, 4), bool), grid="8x8")
    with pytest.raises(InputError, match="empty"):
        compress(np.zeros((0, 4), bool))
    with pytest.raises(UsageError, match="applies to images"):
        compress(fontgen_font(fontgen.glyph_bitmaps(4)), grid="8x8")
    assert issubclass(FontpackError, CorruptDataError) and issubclass(FontpackError, ValueError)


def test_manual_grid_and_cols_reach_the_file():
    ink, grid = _sheet_of_glyphs(gap=0, margin=0)
    h = decode(compress(ink, grid=f"{grid.cell_w}x{grid.cell_h}+0+0", cols=6)).header
    assert (h.grid.cols, h.grid.rows, h.grid.cell_w) == (6, grid.rows, grid.cell_w)
    h = decode(compress(ink, grid=(grid.cell_w * 2, grid.cell_h))).header
    assert h.grid.cell_w == 2 * grid.cell_w and h.grid.cols == grid.cols // 2
