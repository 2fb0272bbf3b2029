"""Image quality metrics for uint8 images, in numpy alone (no scipy or scikit-image at run time).

``ssim`` is Wang et al. 2004 with the 11x11 Gaussian window (sigma 1.5), averaged over the positions where
the window lies wholly inside the image. That equals ``skimage.metrics.structural_similarity(a, b,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``: skimage filters the
padded image but then crops (win - 1) // 2 pixels off each side, which leaves exactly those positions.
"""

from __future__ import annotations

import math

import numpy as np

from everybit.common.errors import UsageError

PEAK = 255.0
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # skimage's: radius int(3.5 * sigma + 0.5) = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) over every pixel and channel; ``math.inf`` if identical."""
    ref, tst = _pair(reference, test)
    mse = float(np.mean((ref - tst) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / mse)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, L 255), computed per
    channel and averaged over channels.

    Images narrower or shorter than 11 pixels use the largest odd window that fits their smaller side, its
    Gaussian (still sigma 1.5) cut to that window and renormalized; a 2-pixel side gives a 1x1 window, where
    SSIM reduces to the luminance term.
    """
    ref, tst = _pair(reference, test)
    if ref.ndim == 2:
        ref, tst = ref[:, :, None], tst[:, :, None]
    win = min(SSIM_WINDOW, *ref.shape[:2])
    win -= 1 - win % 2  # largest odd size that fits
    radius = win // 2
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / SSIM_SIGMA) ** 2)
    taps /= taps.sum()
    c1 = (SSIM_K1 * PEAK) ** 2
    c2 = (SSIM_K2 * PEAK) ** 2
    scores = []
    for ch in range(ref.shape[2]):
        x, y = ref[:, :, ch], tst[:, :, ch]
        mx, my = _filter_valid(x, taps), _filter_valid(y, taps)
        # Population (co)variances, as in the paper: E[xy] - E[x]E[y] under the window's weights.
        vx = _filter_valid(x * x, taps) - mx * mx
        vy = _filter_valid(y * y, taps) - my * my
        vxy = _filter_valid(x * y, taps) - mx * my
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        scores.append(float(s.mean(dtype=np.float64)))
    return float(np.mean(scores))


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation with ``taps`` along both axes, keeping only the positions the window fits in."""
    n = len(taps)
    h, w = img.shape
    rows = taps[0] * img[: h - n + 1]
    for k in range(1, n):
        rows = rows + taps[k] * img[k : h - n + 1 + k]
    out = taps[0] * rows[:, : w - n + 1]
    for k in range(1, n):
        out = out + taps[k] * rows[:, k : w - n + 1 + k]
    return out


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, tst = np.asarray(reference), np.asarray(test)
    if ref.shape != tst.shape:
        raise UsageError(f"images differ in shape: {ref.shape} and {tst.shape}")
    if ref.ndim not in (2, 3) or ref.size == 0:
        raise UsageError(f"expected (H, W) or (H, W, C) images, not shape {ref.shape}")
    for arr in (ref, tst):
        if arr.dtype != np.uint8:  # the 255 peak assumes it; a float image in [0, 1] would score nonsense
            raise UsageError(f"quality metrics need uint8 images, not {arr.dtype}")
    return ref.astype(np.float64), tst.astype(np.float64)
