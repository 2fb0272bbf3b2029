"""Loading sheets: binarization (Otsu, fixed threshold, gray count, polarity, alpha), bad inputs."""

import gzip
import io

import numpy as np
import pytest
from PIL import Image

from everybit.common.errors import InputError
from everybit.fontpack import load_sheet
from everybit.fontpack.sheet import binarize, otsu
from tests.fontpack import fontgen


def test_otsu_splits_two_levels_in_the_middle_and_bimodal_images_between_modes():
    hist = np.zeros(256)
    hist[[0, 255]] = [70, 30]
    assert otsu(hist) == 128
    hist = np.zeros(256)
    hist[[40, 200]] = 1
    assert 41 <= otsu(hist) <= 200
    rng = np.random.default_rng(0)
    levels = np.concatenate([rng.normal(60, 10, 5000), rng.normal(190, 12, 3000)]).clip(0, 255).astype(int)
    assert 100 <= otsu(np.bincount(levels, minlength=256)) <= 150
    single = np.zeros(256)
    single[17] = 9
    assert otsu(single) == 128


def test_binarize_polarity_and_gray_count():
    gray = np.full((10, 10), 255, np.uint8)
    gray[2:5, 2:5] = 0
    gray[7, 7] = 100  # a gray pixel
    ink, ink_dark, t, rounded = binarize(gray)
    assert ink_dark and rounded == 1 and ink.sum() == 10 and ink[7, 7]
    ink, ink_dark, t, rounded = binarize(255 - gray, threshold=200)  # light glyphs on black
    assert not ink_dark and t == 200 and ink.sum() == 9  # 155 < 200: the gray pixel is dark background
    two = np.where(gray == 0, 30, 220).astype(np.uint8)
    assert binarize(two)[3] == 0  # two levels, whatever they are: nothing rounded


def test_images_of_every_mode_load_the_same_bitmap():
    ink = np.zeros((20, 30), bool)
    ink[3:9, 4:20] = True
    ink[12, :] = True
    base = Image.frombytes("1", (30, 20), np.packbits(~ink, axis=1).tobytes())
    variants = [base, base.convert("L"), base.convert("RGB"), base.convert("P"), base.convert("I;16")]
    rgba = Image.new("RGBA", (30, 20), (0, 0, 0, 0))  # black ink on a transparent sheet
    rgba.putalpha(Image.fromarray((ink * 255).astype(np.uint8)))
    variants.append(rgba)
    white_on_clear = Image.new("RGBA", (30, 20), (255, 255, 255, 0))
    white_on_clear.putalpha(Image.fromarray((ink * 255).astype(np.uint8)))
    variants.append(white_on_clear)
    for img in variants:
        sheet = load_sheet(img)
        assert (sheet.ink == ink).all(), img.mode
        assert sheet.gray_rounded == 0


def test_files_of_several_formats(tmp_path):
    ink = np.random.default_rng(2).random((33, 47)) < 0.2
    img = Image.frombytes("1", (47, 33), np.packbits(~ink, axis=1).tobytes())
    for fmt in ("PNG", "BMP", "GIF", "TIFF", "PPM"):
        path = tmp_path / f"s.{fmt.lower()}"
        img.save(path, format=fmt)
        assert (load_sheet(path).ink == ink).all(), fmt


def test_fonts_load_as_sheets_with_their_grid(tmp_path):
    bms = fontgen.glyph_bitmaps(256, 8, 14)
    path = tmp_path / "f.psf.gz"
    path.write_bytes(gzip.compress(fontgen.psf1(bms)))
    sheet = load_sheet(path, cols=32)
    assert sheet.source == "psf1" and sheet.grid.cols == 32 and sheet.ink.shape == (8 * 14, 32 * 8)
    assert sheet.meta.name == "f" and sheet.meta.glyph_count == 256


def test_arrays_load_as_bitmaps_or_gray_levels():
    arr = np.zeros((4, 5), bool)
    arr[1, 1] = True
    assert (load_sheet(arr).ink == arr).all()
    gray = np.where(arr, 0, 255)
    assert (load_sheet(gray).ink == arr).all()
    with pytest.raises(InputError, match="2-D"):
        load_sheet(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="empty"):
        load_sheet(np.zeros((0, 5), bool))
    with pytest.raises(TypeError):
        load_sheet(12)


def test_bad_files_are_one_line_input_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.txt").write_bytes(b"hello, not an image\n")
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).random((64, 64)) < 0.5).save(png, format="PNG")
    (tmp_path / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    cases = {
        "empty.png": "empty file",
        "text.txt": "not an image or a bitmap font",
        "cut.png": "damaged image",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as err:
            load_sheet(tmp_path / name)
        assert "\n" not in str(err.value) and name in str(err.value)
    with pytest.raises(InputError, match="is a directory"):
        load_sheet(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_sheet(tmp_path / "missing.png")
