"""The imgkan network: Kolmogorov-Arnold blocks over pixel coordinates, fed by latent grids.

Each block computes ``Phi(Psi(x) + Psi(y), latents(x, y))``: ``Psi`` maps one coordinate (through
Fourier features whose frequencies come from a stored seed) to a small vector, so the inner sum is the
Kolmogorov-Arnold form; ``Phi`` is a small MLP giving the pixel's channels; the blocks' outputs are
summed. Pure coordinate networks pay 5-8 bits for every weight and cannot make flat regions cheap, so
``Phi`` also reads multi-resolution latent grids (full size, 1/2, 1/4, ... upsampled bicubically), the
idea of overfitted codecs such as Cool-chic: the latents are quantized and entropy coded, and most of
them end up zero. ``levels=0`` gives the original pure coordinate network. There is no batch
normalization: every pixel's value depends only on the stored numbers.

``kind="siren"`` is the COIN baseline: a plain MLP with sine activations over (x, y), no latents.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .arch import Arch

SIREN_W0 = 30.0  # first-layer frequency of SIREN (Sitzmann et al.)


def fourier_frequencies(seed: int, count: int, scale: float) -> np.ndarray:
    """Gaussian frequencies from splitmix64 + Box-Muller in float64: the same on every platform and
    every numpy version, so a seed in the header is enough to rebuild them."""
    state = seed & 0xFFFFFFFFFFFFFFFF
    mask = 0xFFFFFFFFFFFFFFFF

    def uniform() -> float:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        return ((z >> 11) + 0.5) / float(1 << 53)  # in (0, 1)

    out = []
    for _ in range(count):
        u1, u2 = uniform(), uniform()
        out.append(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2) * scale)
    return np.array(out, dtype=np.float64)


def coordinates(n: int) -> torch.Tensor:
    """Pixel centres mapped into (-1, 1)."""
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2.0 - 1.0


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class Sine(nn.Module):
    def __init__(self, w0: float = 1.0) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


class KABlock(nn.Module):
    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.psi = nn.Linear(2 * arch.fourier, arch.psi_dim) if arch.psi_dim else None
        self.phi = _mlp([arch.psi_dim + arch.levels] + [arch.hidden] * arch.depth + [arch.channels])

    def forward(self, fx: torch.Tensor, fy: torch.Tensor, latents: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.psi is not None:  # Psi(x) + Psi(y), broadcast over the grid: (H, W, d)
            parts.append(self.psi(fy)[:, None, :] + self.psi(fx)[None, :, :])
        if latents is not None:
            parts.append(latents)
        return self.phi(torch.cat(parts, -1) if len(parts) > 1 else parts[0])


class ImageNet(nn.Module):
    """The codec's network. ``forward(latent_grids)`` returns the image as (C, H, W), values ~[0, 1]."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.arch = arch
        freqs = torch.from_numpy(fourier_frequencies(arch.seed, arch.fourier, arch.fourier_scale))
        self.register_buffer("freqs", freqs, persistent=False)
        if arch.kind == "siren":
            self.body = self._siren(arch)
        else:
            self.blocks = nn.ModuleList(KABlock(arch) for _ in range(arch.blocks))
            self.refine = nn.Conv2d(arch.channels, arch.channels, 3, padding=1) if arch.refine else None
            if self.refine is not None:  # starts as the identity
                nn.init.zeros_(self.refine.weight)
                nn.init.zeros_(self.refine.bias)

    @staticmethod
    def _siren(arch: Arch) -> nn.Sequential:
        sizes = [2] + [arch.hidden] * arch.depth + [arch.channels]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            linear = nn.Linear(a, b)
            bound = 1.0 / a if i == 0 else math.sqrt(6.0 / a) / SIREN_W0
            nn.init.uniform_(linear.weight, -bound, bound)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(Sine(SIREN_W0))
        return nn.Sequential(*layers)

    def weight_tensors(self) -> list[tuple[str, nn.Parameter]]:
        """The parameters stored in the file, in file order."""
        return list(self.named_parameters())

    def _features(self, n: int, dtype: torch.dtype) -> torch.Tensor:
        angles = coordinates(n)[:, None] * self.freqs[None, :] * math.pi
        return torch.cat([angles.sin(), angles.cos()], 1).to(dtype)

    def forward(self, grids: list[torch.Tensor], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        a = self.arch
        if a.kind == "siren":
            ys, xs = coordinates(a.height).to(dtype), coordinates(a.width).to(dtype)
            pts = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)  # (H, W, 2) as (x, y)
            return self.body(pts).permute(2, 0, 1)
        latents = upsample_grids(grids, a.height, a.width) if grids else None
        fx, fy = self._features(a.width, dtype), self._features(a.height, dtype)
        out = sum(block(fx, fy, latents) for block in self.blocks)
        out = out.permute(2, 0, 1)
        if self.refine is not None:  # as a matmul over 3x3 patches: mkldnn's backward is slow at 3 channels
            patches = F.unfold(out[None], 3, padding=1)[0]  # (C*9, H*W)
            w = self.refine.weight.reshape(a.channels, -1)
            out = out + (w @ patches + self.refine.bias[:, None]).reshape(out.shape)
        return out


def upsample_grids(grids: list[torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Latent grids (each (h, w)) upsampled bicubically to (H, W) and stacked as (H, W, levels).
    Bicubic resampling is separable, so each grid becomes ``Uh @ g @ Uw.T`` with fixed matrices:
    the same values as ``F.interpolate(mode="bicubic")``, but two small matmuls to differentiate
    instead of PyTorch's slow bicubic backward."""
    planes = []
    for g in grids:
        h, w = g.shape
        planes.append(_resampler(h, height, g.dtype) @ g @ _resampler(w, width, g.dtype).T)
    return torch.stack(planes, -1)


@functools.lru_cache(maxsize=64)
def _resampler(n: int, size: int, dtype: torch.dtype) -> torch.Tensor:
    """(size, n) matrix of 1-D bicubic interpolation (align_corners=False, PyTorch's a=-0.75, edges
    clamped): bicubic upsampling of the identity along one axis (same size along the other is exact)."""
    eye = torch.eye(n, dtype=torch.float64)[None, None]
    m = F.interpolate(eye, size=(size, n), mode="bicubic", align_corners=False)[0, 0]
    return m.to(dtype)
