"""The imgkan demo section: a photo fitted next to JPEG at the same or a larger size, a side-by-side PNG."""

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from everybit.demo import run_section  # noqa: E402
from everybit.imgkan import demo, rate  # noqa: E402
from everybit.registry import find  # noqa: E402


def test_demo_section(tmp_path, monkeypatch):
    # A smaller photo and fewer steps than the real demo (its numbers are the demo's business, not a test's)
    monkeypatch.setattr(demo, "SIDE", 48)
    monkeypatch.setattr(demo, "BPP", 6.0)
    monkeypatch.setattr(demo, "ITERS", 150)
    threads = torch.get_num_threads()
    section = demo.demo(SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True))
    [table] = section.tables
    ours, jpeg = table.rows
    assert ours[0] == "imgkan" and jpeg[0].startswith("JPEG")
    assert 0 < ours[1] <= 6.0 * 48 * 48 / 8
    assert jpeg[1] >= ours[1] or jpeg[-1] == "quality=95"  # JPEG never gets fewer bytes
    for row in table.rows:
        assert row[2] == pytest.approx(8 * row[1] / 48**2, abs=1e-3) and 10 < row[3] < 60 and 0 < row[4] <= 1
    assert [label for label, _ in section.headline] == [
        "PSNR imgkan / JPEG",
        "SSIM imgkan / JPEG",
        "bytes imgkan / JPEG",
    ]
    png = tmp_path / "report" / demo.SIDE_BY_SIDE_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and demo.SIDE_BY_SIDE_PNG in section.text
    with Image.open(png) as img:
        assert img.size == (3 * 48 + 4 * demo.GUTTER, 48 + 2 * demo.GUTTER + demo.LABEL_H)
    [chart] = section.charts
    assert chart.save_png(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in chart.to_svg()
    assert torch.get_num_threads() == threads  # the demo's one-thread fit restores the setting


def test_real_settings_fit_the_smallest_network():
    photo = demo.sample_photo(demo.SIDE)
    assert photo.shape == (demo.SIDE, demo.SIDE, 3) and photo.dtype == np.uint8
    assert np.array_equal(photo, demo.sample_photo(demo.SIDE))
    budget = rate.budget_bytes(demo.SIDE, demo.SIDE, bpp=demo.BPP)
    rate.choose_arch(demo.SIDE, demo.SIDE, 3, budget)  # raises when the budget cannot hold a network


def test_skipped_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    ctx = SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True)
    section = run_section(find("imgkan"), ctx)
    assert section.status == "skipped" and "torch" in section.text
    assert not (tmp_path / "report").exists()
