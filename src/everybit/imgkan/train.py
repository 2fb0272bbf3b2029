"""Fitting one image: the network and its latent grids are trained to minimise distortion + lambda * rate,
with lambda steered so the real file lands at the byte budget.

Two phases. First the latents train with additive uniform noise (a differentiable stand-in for
rounding) and the rate is a Laplace estimate whose scale depends on each latent's causal neighbours.
Then latents are rounded and weights fake-quantized with straight-through gradients, so the loss is
exactly the decoded image's. Every few steps the true file is packed; lambda follows the ratio of
its size to the budget, and the best file that fits is kept (early stopping when it stops improving).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from everybit.common.errors import EverybitError
from everybit.common.progress import progress_bar

from .bitstream import Payload, dequantize, pack, quantize
from .losses import PatchDiscriminator, VGGPerceptual, ssim
from .model import Arch, ImageNet
from .options import FitOptions, FitResult, OverBudget

CHECK_EVERY = 25  # steps between packing the real file
NOISE_SHARE = 0.7  # share of the steps in the noise phase
MAX_RESCUES = 6  # extra rounds with a larger lambda when nothing fits the budget


def image_tensor(image: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0
    return (x[..., None] if x.ndim == 2 else x).permute(2, 0, 1).contiguous()


def _laplace_bits(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(q) for an integer-binned zero-mean Laplace with per-element ``scale``."""

    def cdf(v: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * torch.sign(v) * (1 - torch.exp(-v.abs() / scale))

    p = (cdf(q + 0.5) - cdf(q - 0.5)).clamp_min(1e-9)
    return -torch.log2(p).sum()


class _Fitter:
    def __init__(self, image: np.ndarray, arch: Arch, budget: int, opts: FitOptions) -> None:
        torch.manual_seed(opts.seed)
        self.arch, self.budget, self.opts = arch, budget, opts
        self.x = image_tensor(image)
        self.net = ImageNet(arch)
        self.grids = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in arch.grid_shapes())
        n = len(self.grids)
        self.log_scale = nn.Parameter(torch.zeros(n))  # rate model: per level ...
        self.ctx_gain = nn.Parameter(torch.zeros(n))  # ... and how neighbours widen it
        self.roi = torch.from_numpy(opts.roi) if opts.roi is not None else None
        self.vgg = VGGPerceptual(opts.vgg) if opts.perceptual > 0 and opts.vgg else None
        if opts.perceptual > 0 and not opts.vgg:
            raise EverybitError(
                "the perceptual loss needs local VGG16 weights (--vgg PATH); none are downloaded"
            )
        self.critic = PatchDiscriminator(arch.channels) if opts.adversarial > 0 else None
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), 2e-4) if self.critic else None
        params = [*self.net.parameters(), *self.grids, self.log_scale, self.ctx_gain]
        self.opt = torch.optim.Adam(params, lr=opts.lr)
        self.lam = 0.01
        self.pixels = arch.height * arch.width

    # -- the forward pass in each phase
    def _latents(self, mode: str) -> tuple[list[torch.Tensor], torch.Tensor]:
        out, bits = [], torch.zeros(())
        for level, g in enumerate(self.grids):
            q = g + torch.rand_like(g) - 0.5 if mode == "noise" else g + (g.round() - g).detach()
            a = q.detach().abs()
            neighbours = F.pad(a, (1, 0))[:, :-1] + F.pad(a, (0, 0, 1, 0))[:-1, :]
            scale = torch.exp(self.log_scale[level] + self.ctx_gain[level] * torch.log1p(neighbours))
            bits = bits + _laplace_bits(q, scale)
            out.append(q)
        return out, bits

    def _quantized_weights(self) -> dict[str, torch.Tensor]:
        """Each weight replaced by its quantized value, gradients passed straight through."""
        out = {}
        for name, p in self.net.named_parameters():
            q, steps = quantize(p.detach().numpy(), self.opts.bits, self.opts.per_channel)
            wq = torch.from_numpy(dequantize(q, steps, tuple(p.shape))).float()
            out[name] = p + (wq - p).detach()
        return out

    def step(self, mode: str) -> tuple[float, torch.Tensor]:
        grids, bits = self._latents(mode)
        if mode == "noise":
            y = self.net(list(grids))
        else:
            y = functional_call(self.net, self._quantized_weights(), (list(grids),))
        loss, mse = self._distortion(y)
        if self.critic is not None:
            self.critic_opt.zero_grad()
            self.critic.critic_loss(self.x, y).backward()
            self.critic_opt.step()
            loss = loss + self.opts.adversarial * self.critic.generator_loss(y)
        loss = loss + self.lam * bits / self.pixels
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return mse, y

    def _distortion(self, y: torch.Tensor) -> tuple[torch.Tensor, float]:
        err = y - self.x
        sq = err.square() if self.roi is None else err.square() * self.roi
        loss = sq.mean()
        if self.opts.l1:
            ab = err.abs() if self.roi is None else err.abs() * self.roi
            loss = loss + self.opts.l1 * ab.mean()
        if self.opts.ssim:
            loss = loss + self.opts.ssim * (1 - ssim(y, self.x))
        if self.vgg is not None:
            loss = loss + self.opts.perceptual * self.vgg(y, self.x)
        # reported as the decoder sees it: clamped to the pixel range
        return loss, float((y.detach().clamp(0, 1) - self.x).square().mean())

    # -- the file
    def payload(self) -> Payload:
        weights, steps = [], []
        for _, p in self.net.weight_tensors():
            q, s = quantize(p.detach().numpy(), self.opts.bits, self.opts.per_channel)
            weights.append(q)
            steps.append(s)
        grids = [g.detach().round().numpy().astype(np.int32) for g in self.grids]
        return Payload(self.arch, self.opts.bits, self.opts.per_channel, weights, steps, grids)

    def steer(self, size: int, gain: float) -> None:
        """Move lambda toward the budget (multiplicatively, bounded per check)."""
        ratio = size / (0.98 * self.budget)
        self.lam *= math.exp(max(-0.3, min(0.3, gain * math.log(ratio))))

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr


def fit(
    image: np.ndarray,
    arch: Arch,
    budget: int,
    opts: FitOptions | None = None,
) -> FitResult:
    """Fit ``image`` (uint8 (H, W) or (H, W, 3)) in at most ``budget`` bytes."""
    opts = opts or FitOptions()
    torch.set_grad_enabled(True)
    f = _Fitter(image, arch, budget, opts)
    start = time.perf_counter()
    noise_steps = int(opts.iters * NOISE_SHARE)  # SIREN: float weights, then quantization-aware
    best: tuple[float, bytes, Payload] | None = None
    history: list[tuple[int, float, int]] = []
    last_gain = 0
    step = 0
    with progress_bar(opts.iters, "imgkan fit", unit="step", quiet=opts.quiet) as bar:
        for step in range(opts.iters + MAX_RESCUES * 300):
            rescue = step >= opts.iters
            if rescue and (best is not None or arch.kind != "ka"):
                break  # (a SIREN's size does not depend on lambda: the caller picks a smaller one)
            if step == noise_steps:
                f.set_lr(opts.lr * 0.2)
            mode = "noise" if step < noise_steps else "ste"
            if mode == "ste" and not rescue:  # cosine decay over the rounded phase
                t = (step - noise_steps) / max(1, opts.iters - noise_steps)
                f.set_lr(opts.lr * (0.01 + 0.19 * 0.5 * (1 + math.cos(math.pi * t))))
            mse, _ = f.step(mode)
            if not rescue:
                bar.update(1)
            if step % CHECK_EVERY and step != opts.iters - 1:
                continue
            payload = f.payload()
            data = pack(payload)
            psnr = -10 * math.log10(max(mse, 1e-12))
            history.append((step, psnr, len(data)))
            bar.set_postfix(psnr=f"{psnr:.2f}", bpp=f"{8 * len(data) / f.pixels:.3f}", refresh=False)
            if arch.kind == "ka" and step > 100:
                f.steer(len(data), 0.5 if mode == "noise" else 0.15)
            if mode == "ste" and len(data) <= budget and (best is None or psnr > best[0]):
                best, last_gain = (psnr, data, payload), step
            if rescue or (best is None and mode == "ste" and step > noise_steps + opts.iters // 10):
                f.lam *= 1.3  # nothing fits yet: pay more for rate
            if best is not None and step - last_gain > opts.patience:
                break
    if best is None:
        raise OverBudget(
            f"could not fit the image in {budget} bytes (smallest file reached: "
            f"{min(h[2] for h in history)} bytes); give a larger --bpp/--size"
        )
    return FitResult(best[2], best[1], best[0], step + 1, time.perf_counter() - start, history)
