"""The fontpack demo section: a generated sheet, its detected grid drawn to a PNG, sizes by codec."""

from types import SimpleNamespace

from everybit.fontpack import demo


def test_demo_section(tmp_path):
    section = demo.demo(SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True))
    [table] = section.tables
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {
        "fontpack best",
        "fontpack rle (original)",
        "PNG 1-bit (Pillow, optimize)",
        "packed bits + zlib -9",
    }
    assert all(r[-1] is True and r[1] > 0 for r in table.rows)
    assert rows["fontpack best"][1] < rows["fontpack rle (original)"][1]
    assert rows["fontpack best"][1] < rows["PNG 1-bit (Pillow, optimize)"][1]
    assert demo.GRID_PNG in section.text and "the grid it was drawn on" in section.text
    assert (tmp_path / "report" / demo.GRID_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [label for label, _ in section.headline] == ["grid", "best vs PNG", "best vs rle"]
    [chart] = section.charts
    assert chart.save_png(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in chart.to_svg()


def test_sample_sheet_is_deterministic():
    a, grid = demo.sample_sheet()
    b, _ = demo.sample_sheet()
    assert a.tobytes() == b.tobytes() and grid.cols == demo.COLS and grid.cells >= 190
