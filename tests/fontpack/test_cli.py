"""``everybit fontpack`` / ``fontpack``: the five verbs, outputs, refusals and one-line errors."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import BdfFontFile, Image

from everybit.cli import main
from everybit.common.atomic import TMP_MARK
from everybit.fontpack import decode, fonts
from tests.fontpack import fontgen
from tests.helpers import ROOT

RUNNER = "from everybit.fontpack.cli import main; main()"


def fp(capsys, *args):
    """``everybit fontpack ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(["fontpack", *map(str, args)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def sheet_png(tmp_path):
    """A glyph sheet PNG: 10x4 cells of 7x9 with 1-pixel gutters and 2-pixel margins, a little gray."""
    cells = np.array(fontgen.glyph_bitmaps(40, 7, 9, seed=4))
    from everybit.fontpack.grid import Grid

    ink = fontgen.layout(cells, Grid(7, 9, 2, 2, 1, 1, 10, 4), 2)
    gray = np.where(ink, 0, 255).astype(np.uint8)
    gray[0, 0] = 200  # a gray pixel, rounded to white
    path = tmp_path / "sheet.png"
    Image.fromarray(gray).save(path)
    return path, ink


@pytest.fixture
def font_psf(tmp_path):
    bms = fontgen.glyph_bitmaps(96, 8, 12, seed=6)
    path = tmp_path / "tiny.psfu.gz"
    path.write_bytes(gzip.compress(fontgen.psf2(bms, [[0x20 + i] for i in range(96)])))
    return path, bms


def test_compress_decompress_info_on_a_sheet(sheet_png, tmp_path, capsys):
    path, ink = sheet_png
    code, out, err = fp(capsys, "compress", path)
    assert code == 0 and out == ""
    [warning, note] = err.splitlines()
    assert warning == f"everybit: warning: {path}: 1 gray pixels rounded to black or white (threshold 101)"
    assert "10x4 cells of 7x9 at +2+2, gutters 1x1" in note and "1 blank and 5 duplicate cells" in note
    fpk = tmp_path / "sheet.fpk"
    assert (decode(fpk.read_bytes()).ink == ink).all()

    code, out, err = fp(capsys, "compress", path)
    assert code == 1 and err == f"everybit: error: {fpk}: already exists (use --force to overwrite)\n"
    assert fp(capsys, "compress", "-q", "-f", "--mode", "rle", path, "-o", fpk)[:3] == (0, "", "")
    assert decode(fpk.read_bytes()).header.mode == "rle"

    code, out, err = fp(capsys, "decompress", fpk, "-o", tmp_path / "back.png")
    assert code == 0
    back = Image.open(tmp_path / "back.png")
    assert back.mode == "1" and ((np.asarray(back) == 0) == ink).all()

    code, out, err = fp(capsys, "info", path, fpk)
    assert code == 0 and err == ""
    assert "grid:      detected: 10 cols x 4 rows of 7x9 cells" in out
    assert "gutters:   1 x 1" in out and "margins:   left 2, top 2, right 2, bottom 2" in out
    assert "cells:     40: 1 blank, 5 duplicate, 34 distinct glyphs" in out
    assert "threshold: 101 (Otsu), 1 gray pixels rounded" in out
    assert "mode rle (not decoded)" in out
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]


def test_manual_grid_cols_and_threshold(sheet_png, tmp_path, capsys):
    path, ink = sheet_png
    out = tmp_path / "m.fpk"
    code, _, err = fp(
        capsys, "compress", path, "-o", out, "--grid", "8x10+2+2", "--cols", "5", "--threshold", "100"
    )
    assert code == 0 and "(manual)" in err
    h = decode(out.read_bytes()).header
    assert (h.grid.cell_w, h.grid.cell_h, h.grid.x0, h.grid.cols, h.threshold) == (8, 10, 2, 5, 100)
    assert (decode(out.read_bytes()).ink == ink).all()
    code, stdout, _ = fp(capsys, "info", path, "--grid", "8x10")
    assert code == 0 and "grid:      manual: 10 cols x 4 rows of 8x10 cells" in stdout


def test_fonts_glyphs_and_export(font_psf, tmp_path, capsys):
    path, bms = font_psf
    fpk = tmp_path / "tiny.fpk"
    code, _, err = fp(capsys, "compress", path, "-o", fpk, "--cols", "32")
    assert code == 0 and "32x3 cells of 8x12 (font)" in err
    code, out, _ = fp(capsys, "info", fpk)
    assert "font:     tiny (psf2, 96 glyphs, 96 with codepoints, ISO10646-1)" in out

    code, _, err = fp(capsys, "glyphs", fpk, "-o", tmp_path / "g")
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert len(names) == 96 and names[0] == "0000-U+0020.png" and "0021-U+0041.png" in names
    glyph = Image.open(tmp_path / "g" / "0021-U+0041.png")
    assert glyph.size == (8, 12) and ((np.asarray(glyph) == 0) == bms[0x21]).all()
    assert fp(capsys, "glyphs", fpk, "-o", tmp_path / "g")[0] == 1  # exists: refused
    assert fp(capsys, "glyphs", fpk, "-o", tmp_path / "g", "-f")[0] == 0

    code, _, err = fp(capsys, "export", fpk)
    bdf = tmp_path / "tiny.bdf"
    assert code == 0 and "96 glyphs of the font" in err
    with open(bdf, "rb") as fh:
        pil = BdfFontFile.BdfFontFile(fh)
    assert pil.glyph[0x41] is not None
    again = fonts.load_font(bdf)
    original = fonts.load_font(path)
    a, _, meta_a = fonts.render_sheet(again)
    b, _, meta_b = fonts.render_sheet(original)
    assert (a == b).all() and meta_a.codepoints == meta_b.codepoints


def test_export_of_an_image_sheet(sheet_png, tmp_path, capsys):
    path, _ = sheet_png
    assert fp(capsys, "compress", "-q", path)[0] == 0
    code, _, err = fp(capsys, "export", tmp_path / "sheet.fpk", "-o", tmp_path / "s.bdf")
    assert code == 0 and "40 glyphs of the sheet" in err
    font = fonts.load_font(tmp_path / "s.bdf")
    assert [g.codepoint for g in font.glyphs] == list(range(40))


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "bad.fpk").write_bytes(b"FPK\x1a\x01\x00\x00")
    cases = [
        (["compress", tmp_path / "notes.txt"], 1, "not an image or a bitmap font"),
        (["compress", tmp_path / "missing.png"], 1, "missing.png: No such file or directory"),
        (["decompress", tmp_path / "bad.fpk"], 1, "bad.fpk: truncated: threshold missing (offset 7)"),
        (["decompress", tmp_path / "notes.txt", "-o", tmp_path / "x.png"], 1, "not a fontpack file"),
        (["compress", tmp_path / "notes.txt", "--grid", "8"], 1, "not an image"),
        (["compress", tmp_path / "notes.txt", "--threshold", "300"], 2, "between 0 and 255"),
        (["compress", tmp_path / "notes.txt", "--mode", "fast"], 2, "invalid choice"),
        (["info", tmp_path], 1, "is a directory"),
        (["frobnicate"], 2, "invalid choice"),
    ]
    for args, want, message in cases:
        code, _, err = fp(capsys, *args)
        assert code == want, (args, err)
        assert err.count("\n") == 1 and err.startswith("everybit: error: ") and message in err, (args, err)
    assert not (tmp_path / "x.png").exists()


def test_own_command_in_a_child_process(sheet_png, tmp_path):
    path, _ = sheet_png
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVERYBIT_NO_PROGRESS": "1"}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-c", RUNNER, *map(str, args)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("fontpack (everybit ")
    proc = run("compress", "-q", path.name, "-o", "s.fpk")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = run("decompress", "s.fpk", "--grid", "8x8")
    assert proc.returncode == 2 and proc.stderr.startswith("fontpack: error: unrecognized arguments: --grid")
    (tmp_path / "s.fpk").write_bytes((tmp_path / "s.fpk").read_bytes()[:-1])
    proc = run("decompress", "s.fpk")
    assert proc.returncode == 1 and proc.stderr.startswith("fontpack: error: s.fpk: ")
    assert not (tmp_path / "s.png").exists()


def test_every_verb_refuses_an_existing_output(font_psf, tmp_path, capsys):
    """docs/cli.md: an output that exists is exit 1 with one line naming it; -f overwrites."""
    path, _ = font_psf
    fpk = tmp_path / "tiny.fpk"
    assert fp(capsys, "compress", "-q", path, "--output", fpk)[0] == 0
    assert fp(capsys, "glyphs", "-q", fpk, "--out", tmp_path / "g")[0] == 0
    taken = tmp_path / "taken"
    taken.write_bytes(b"mine")
    glyph = tmp_path / "g" / "0000-U+0020.png"
    for args, output in [
        (["compress", path, "-o", taken], taken),
        (["decompress", fpk, "-o", taken], taken),
        (["export", fpk, "-o", taken], taken),
        (["glyphs", fpk, "-o", tmp_path / "g"], glyph),
    ]:
        code, _, err = fp(capsys, *args)
        assert (code, err) == (1, f"everybit: error: {output}: already exists (use --force to overwrite)\n")
        assert fp(capsys, *args, "-q", "-f")[0] == 0
    assert taken.read_bytes() != b"mine"


def test_glyphs_old_output_spelling_and_verbose(font_psf, tmp_path, capsys):
    path, _ = font_psf
    fpk = tmp_path / "tiny.fpk"
    assert fp(capsys, "compress", "-q", path, "-o", fpk)[0] == 0
    code, _, err = fp(capsys, "glyphs", fpk, "--output", tmp_path / "old", "-v")
    lines = err.splitlines()
    assert code == 0 and lines[0] == (
        "everybit fontpack glyphs: warning: --output is deprecated, use -o/--out "
        "(the old spelling goes in the next release)"
    )
    assert f"everybit: > {tmp_path / 'old' / '0000-U+0020.png'}" in lines
    assert lines[-1] == f"everybit: {fpk}: 96 glyph images in {tmp_path / 'old'}"
    assert len(list((tmp_path / "old").iterdir())) == 96
