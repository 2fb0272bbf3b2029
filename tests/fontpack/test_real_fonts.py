"""Real Debian fonts from the benchmark cache (~/.cache/everybit/bitmap-fonts, built by bench/data.py
``bitmap_fonts()``). Skipped when the cache is absent: tests never download."""

import numpy as np
import pytest
from PIL import PcfFontFile

from everybit.fontpack import compress, decode, detect_grid_array, fonts, load_sheet

try:
    from bench.data import cache_dir

    FONTS = cache_dir() / "bitmap-fonts"
except Exception:  # the bench package or its cache folder is not there
    FONTS = None

NAMES = [
    "psf/Lat15-Fixed16.psf",
    "psf/spleen-8x16.psfu",
    "psf/Uni2-Terminus16.psf",
    "pcf/6x13.pcf",
    "pcf/9x15B.pcf",
    "pcf/spleen-12x24.pcf",
]


def _path(name):
    if FONTS is None or not (FONTS / name).is_file():
        pytest.skip(f"{name} not in the font cache (bench/data.py bitmap_fonts() builds it)")
    return FONTS / name


@pytest.mark.parametrize("name", NAMES)
def test_real_fonts_round_trip_and_beat_rle(name):
    sheet = load_sheet(_path(name))
    best, rle = compress(sheet), compress(sheet, mode="rle")
    assert (decode(best).ink == sheet.ink).all() and (decode(rle).ink == sheet.ink).all()
    assert len(best) < 0.7 * len(rle)
    assert detect_grid_array(sheet.ink).grid == sheet.grid  # the rendered sheet's grid is found again


@pytest.mark.parametrize("name", ["pcf/6x13.pcf", "pcf/9x15B.pcf"])
def test_pcf_reader_agrees_with_pillow(name):
    path = _path(name)
    ours = {g.codepoint: g for g in fonts.load_font(path).glyphs}
    with open(path, "rb") as fh:
        pil = PcfFontFile.PcfFontFile(fh)
    checked = 0
    for code in range(32, 256):
        if pil.glyph[code] is None:
            continue
        (dx, _), (x0, y0, _, _), _, im = pil.glyph[code]
        g = ours[code]
        assert g.advance == dx and (g.xoff, -g.yoff - g.height) == (x0, y0)
        assert (np.asarray(im.convert("L")) > 0).tolist() == g.bitmap.tolist()
        checked += 1
    assert checked > 150
