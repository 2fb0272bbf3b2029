"""Font readers (PSF1, PSF2, BDF, PCF, .hex; gzip), sheets rendered from fonts, BDF written back."""

import gzip

import numpy as np
import pytest
from PIL import BdfFontFile

from everybit.common.errors import InputError
from everybit.fontpack import fonts
from everybit.fontpack.grid import Grid
from tests.fontpack import fontgen


def test_psf2_with_unicode_table_and_gzip():
    bms = fontgen.glyph_bitmaps(40, 9, 14)
    table = [[0x20 + i] + ([0x400 + i] if i % 5 == 0 else []) for i in range(40)]
    raw = fontgen.psf2(bms, table)
    for blob in (raw, gzip.compress(raw)):
        font = fonts.read_font(blob, "dir/t.psfu.gz")
        assert (font.name, font.format, font.charset) == ("t", "psf2", "ISO10646-1")
        assert [g.codepoint for g in font.glyphs] == [0x20 + i for i in range(40)]
        assert font.glyphs[5].aliases == [0x405] and font.glyphs[6].aliases == []
        assert all((g.bitmap == b).all() for g, b in zip(font.glyphs, bms, strict=True))
        assert font.ascent + font.descent == 14 and font.glyphs[3].advance == 9


def test_psf1_512_glyphs_table_with_sequences():
    bms = fontgen.glyph_bitmaps(512, 8, 8)
    table = [[i, 0x2000 + i] if i < 300 else [] for i in range(512)]
    font = fonts.read_font(fontgen.psf1(bms, table), "x.psf")
    assert font.format == "psf1" and len(font.glyphs) == 512
    assert font.glyphs[7].codepoint == 7 and font.glyphs[7].aliases == [0x2007]  # the sequence is skipped
    assert font.glyphs[400].codepoint is None
    assert (font.glyphs[100].bitmap == bms[100]).all()
    plain = fonts.read_font(fontgen.psf1(bms[:256]), "y.psf")
    assert len(plain.glyphs) == 256 and plain.charset == "" and plain.glyphs[65].codepoint is None


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x36\x04\x00", "truncated PSF1 header"),
        (b"\x36\x04\x00\x10" + b"\0" * 100, "PSF1 glyph data truncated"),
        (b"\x72\xb5\x4a\x86" + b"\0" * 10, "truncated PSF2 header"),
        (fontgen.psf2(fontgen.glyph_bitmaps(4))[:-5], "PSF2 glyph data truncated"),
        (fontgen.psf2(fontgen.glyph_bitmaps(4), [[1], [2], [3], [4]])[:-1], "PSF2 unicode table truncated"),
        (b"STARTFONT 2.1\nENDFONT\n", "BDF font without glyphs"),
        (b"STARTFONT 2.1\nSTARTCHAR a\nENCODING 65\nBBX 8 2 0 0\nBITMAP\nZZ\nZZ\nENDCHAR\n", "bad hex"),
        (b"\x01fcp\x02\x00\x00\x00", "bad PCF table of contents"),
        (gzip.compress(b"hello", mtime=0)[:-6], "truncated gzip data"),
        (b"GIF89a not a font", "not a bitmap font"),
    ],
)
def test_damaged_fonts_are_input_errors(blob, message):
    with pytest.raises(InputError, match=message):
        fonts.read_font(blob, "bad.font")


def test_bdf_reader_keeps_boxes_offsets_and_advances():
    glyphs = fontgen.proportional_glyphs()
    font = fonts.read_font(fontgen.bdf(glyphs, "-misc-test-medium-r-normal--16-"), "t.bdf")
    assert font.name == "-misc-test-medium-r-normal--16-" and (font.ascent, font.descent) == (12, 4)
    assert font.charset == "ISO10646-1"
    for g, (enc, bm, xoff, yoff, dwidth) in zip(font.glyphs, glyphs, strict=True):
        assert (g.codepoint, g.xoff, g.yoff, g.advance) == (enc, xoff, yoff, dwidth)
        assert g.bitmap.shape == bm.shape and (g.bitmap == bm).all()


@pytest.mark.parametrize(
    ("big_endian", "msb_bits", "pad", "compressed"),
    [(True, True, 2, False), (False, False, 0, True), (True, False, 1, False), (False, True, 3, True)],
)
def test_pcf_reader_all_byte_and_bit_orders(big_endian, msb_bits, pad, compressed):
    glyphs = fontgen.proportional_glyphs(30)
    blob = fontgen.pcf(
        glyphs, big_endian=big_endian, msb_bits=msb_bits, pad=pad, compressed_metrics=compressed
    )
    font = fonts.read_font(gzip.compress(blob), "t.pcf.gz")
    assert (font.name, font.format, font.charset, font.ascent, font.descent) == (
        "pcf-test",
        "pcf",
        "ISO10646-1",
        12,
        4,
    )
    for g, (enc, bm, xoff, yoff, dwidth) in zip(font.glyphs, glyphs, strict=True):
        assert (g.codepoint, g.xoff, g.yoff, g.advance) == (enc, xoff, yoff, dwidth)
        assert g.bitmap.shape == bm.shape and (g.bitmap == bm).all()


def test_unifont_hex():
    blob = b"0041:" + bytes(range(16)).hex().upper().encode() + b"\n4E00:" + b"00FF" * 16 + b"\n"
    font = fonts.read_font(blob, "uni.hex")
    assert [g.codepoint for g in font.glyphs] == [0x41, 0x4E00]
    assert [g.bitmap.shape for g in font.glyphs] == [(16, 8), (16, 16)]
    assert font.glyphs[1].bitmap[:, 8:].all() and not font.glyphs[1].bitmap[:, :8].any()
    with pytest.raises(InputError, match="line 1"):
        fonts.read_font(b"0041:ABC\n", "bad.hex")


def test_render_sheet_aligns_glyphs_on_the_baseline():
    glyphs = fontgen.proportional_glyphs(20)
    font = fonts.read_font(fontgen.bdf(glyphs), "p.bdf")
    sheet, (cw, ch, cols, rows), meta = fonts.render_sheet(font, cols=8)
    assert (cols, rows) == (8, 3) and sheet.shape == (rows * ch, cols * cw)
    cells = Grid(cw, ch, 0, 0, 0, 0, cols, rows).split(sheet)
    for i, (_, bm, xoff, yoff, _) in enumerate(glyphs):
        h, w = bm.shape
        y = meta.baseline - yoff - h
        x = meta.origin_x + xoff
        assert (cells[i, y : y + h, x : x + w] == bm).all()
        assert cells[i].sum() == bm.sum()  # nothing else in the cell
    assert meta.codepoints == [g[0] for g in glyphs] and meta.advances == [g[4] for g in glyphs]
    assert not cells[len(glyphs) :].any()


def test_bdf_written_back_reads_the_same_and_loads_in_pillow(tmp_path):
    glyphs = fontgen.proportional_glyphs(30)
    font = fonts.read_font(fontgen.bdf(glyphs), "p.bdf")
    sheet, (cw, ch, cols, rows), meta = fonts.render_sheet(font)
    cells = list(Grid(cw, ch, 0, 0, 0, 0, cols, rows).split(sheet))
    rebuilt = fonts.font_from_cells(cells, meta)
    blob = fonts.write_bdf(rebuilt)
    back = fonts.read_font(blob, "back.bdf")
    again, _, meta2 = fonts.render_sheet(back)
    assert (again == sheet).all()
    assert meta2.codepoints == meta.codepoints and meta2.advances == meta.advances
    with open(tmp_path / "x.bdf", "wb") as fh:
        fh.write(blob)
    with open(tmp_path / "x.bdf", "rb") as fh:
        pil = BdfFontFile.BdfFontFile(fh)
    assert pil.glyph[0x21] is not None and pil.glyph[0x21][3].size == glyphs[1][1].shape[::-1]


def test_aliases_become_extra_bdf_characters():
    bms = fontgen.glyph_bitmaps(4, 8, 8)
    font = fonts.read_font(fontgen.psf2(bms, [[0x41, 0x391], [0x42], [0x41], []]), "a.psfu")
    sheet, (cw, ch, cols, rows), meta = fonts.render_sheet(font)
    cells = list(Grid(cw, ch, 0, 0, 0, 0, cols, rows).split(sheet))
    rebuilt = fonts.font_from_cells(cells, meta)
    assert [g.codepoint for g in rebuilt.glyphs] == [0x41, 0x391, 0x42]  # the second 0x41 and None dropped


def test_pillow_default_font():
    font = fonts.pillow_default_font()
    assert len(font.glyphs) == 190 and font.glyphs[0].codepoint == 32
    assert {g.bitmap.shape for g in font.glyphs} == {(11, 6)}


def test_sheet_without_metadata_exports_cells_as_glyphs():
    cells = [np.eye(5, dtype=bool), np.zeros((5, 5), bool)]
    font = fonts.font_from_cells(cells, None, "sheet")
    assert [g.codepoint for g in font.glyphs] == [0, 1] and font.charset == "FontSpecific-0"
    back = fonts.read_font(fonts.write_bdf(font), "s.bdf")
    assert (back.glyphs[0].bitmap == np.eye(5, dtype=bool)).all() and back.glyphs[1].bitmap.size == 0
