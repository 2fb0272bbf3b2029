"""PSNR and SSIM: against scikit-image where it applies, against a direct windowed sum where it does not."""

import math

import numpy as np
import pytest

from everybit.common.errors import UsageError
from everybit.imgkan.metrics import psnr, ssim


def smooth(h, w, channels=3, seed=0):
    """A photo-like image: slow gradients, a hard edge, mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    planes = []
    for c in range(channels):
        p = 128 + 70 * np.sin(xx / (9 + 3 * c)) * np.cos(yy / 13) + 30 * (xx + yy > w * 0.8)
        planes.append(p + rng.normal(0, 3, (h, w)))
    img = np.stack(planes, axis=2) if channels > 1 else planes[0]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def noisy(img, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(img + rng.normal(0, sigma, img.shape)), 0, 255).astype(np.uint8)


def pairs():
    rng = np.random.default_rng(5)
    rand = rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)
    return {
        "random rgb": (rand, noisy(rand, 25)),
        "random gray": (rand[:, :, 0], rng.integers(0, 256, (64, 72), dtype=np.uint8)),
        "smooth rgb": (smooth(70, 64), noisy(smooth(70, 64), 6)),
        "smooth gray": (smooth(64, 96, 1), noisy(smooth(64, 96, 1), 10)),
        "tall gray": (smooth(80, 11, 1), noisy(smooth(80, 11, 1), 4)),
    }


def reference_ssim(a, b, win):
    """SSIM straight from the definition: a win x win Gaussian (sigma 1.5) window at every position that
    fits, population statistics, averaged over positions and channels."""
    a = a.astype(float)[..., None] if a.ndim == 2 else a.astype(float)
    b = b.astype(float)[..., None] if b.ndim == 2 else b.astype(float)
    r = win // 2
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / 1.5) ** 2)
    wts = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for ch in range(a.shape[2]):
        vals = []
        for i in range(a.shape[0] - win + 1):
            for j in range(a.shape[1] - win + 1):
                x, y = a[i : i + win, j : j + win, ch], b[i : i + win, j : j + win, ch]
                mx, my = (wts * x).sum(), (wts * y).sum()
                vx, vy = (wts * (x - mx) ** 2).sum(), (wts * (y - my) ** 2).sum()
                cov = (wts * (x - mx) * (y - my)).sum()
                vals.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
        scores.append(np.mean(vals))
    return float(np.mean(scores))


@pytest.mark.parametrize("name", list(pairs()))
def test_psnr_and_ssim_match_scikit_image(name):
    metrics = pytest.importorskip("skimage.metrics")
    a, b = pairs()[name]
    want = metrics.peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(a, b) == pytest.approx(want, abs=1e-9)
    kw = {"channel_axis": -1} if a.ndim == 3 else {}
    want = metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, **kw
    )
    assert abs(ssim(a, b) - want) < 1e-6
    assert abs(ssim(b, a) - want) < 1e-6  # symmetric


def test_ssim_matches_the_definition_on_an_ordinary_image():
    a = smooth(20, 23)
    b = noisy(a, 12)
    assert abs(ssim(a, b) - reference_ssim(a, b, 11)) < 1e-9


@pytest.mark.parametrize(("h", "w", "win"), [(10, 30, 9), (7, 7, 7), (12, 6, 5), (2, 9, 1), (3, 2, 1)])
def test_small_images_use_the_largest_odd_window_that_fits(h, w, win):
    a = smooth(h, w, 1, seed=h)
    b = noisy(a, 15)
    got = ssim(a, b)
    assert abs(got - reference_ssim(a, b, win)) < 1e-9
    if win < 11 and win + 2 <= min(h, w):  # a neighbouring window size would give another score
        assert abs(got - reference_ssim(a, b, win + 2)) > 1e-6


def test_known_values_and_ordering():
    a = smooth(64, 64)
    assert psnr(a, a) == math.inf and ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    flat = np.full((16, 16), 100, np.uint8)
    assert psnr(flat, flat + np.uint8(5)) == pytest.approx(10 * math.log10(255**2 / 25))
    assert psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)) == pytest.approx(0.0)
    scores = [(psnr(a, noisy(a, s)), ssim(a, noisy(a, s))) for s in (2, 8, 30)]
    assert scores[0][0] > scores[1][0] > scores[2][0]
    assert 1 > scores[0][1] > scores[1][1] > scores[2][1] > 0


def test_bad_inputs_raise_usage_error():
    a = smooth(16, 16)
    with pytest.raises(UsageError, match="differ in shape"):
        psnr(a, a[:, :8])
    with pytest.raises(UsageError, match="differ in shape"):
        ssim(a, a[:, :, 0])
    with pytest.raises(UsageError, match="uint8"):
        ssim(a / 255, a / 255)
    with pytest.raises(UsageError, match="shape"):
        psnr(np.zeros(5, np.uint8), np.zeros(5, np.uint8))
