"""Options and results of fitting one image (torch-free, so the package imports without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from everybit.common.errors import EverybitError

from .bitstream import Payload


class OverBudget(EverybitError):
    """No file within the budget was reached."""


@dataclass
class FitOptions:
    iters: int = 4000
    lr: float = 1e-2
    bits: int = 8  # weight quantization
    per_channel: bool = False
    l1: float = 0.0
    ssim: float = 0.0
    perceptual: float = 0.0
    vgg: str | None = None  # local VGG16 weights, needed when perceptual > 0
    adversarial: float = 0.0
    roi: np.ndarray | None = None  # (H, W) weight map, mean 1
    patience: int = 600  # steps without a better fitting file before stopping
    seed: int = 0
    quiet: bool | None = None


@dataclass
class FitResult:
    payload: Payload
    data: bytes
    psnr: float  # of the kept file in the training pass (float64 decoding may differ by ~0.01 dB)
    steps: int
    seconds: float
    history: list[tuple[int, float, int]] = field(default_factory=list)  # (step, psnr, bytes)
