"""Training losses beyond weighted MSE/L1: SSIM, a VGG16 perceptual term from local weights, and a
small patch discriminator for the adversarial term. Nothing here downloads anything."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from everybit.common.errors import InputError

_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (C, H, W) images in [0, 1] (Gaussian 11x11 window, sigma 1.5, valid region)."""
    c = a.shape[0]
    size = min(11, a.shape[1] - (1 - a.shape[1] % 2), a.shape[2] - (1 - a.shape[2] % 2))
    g = _gaussian(size).to(a.dtype)
    win = (g[:, None] * g[None, :]).expand(c, 1, size, size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t[None], win, groups=c)[0]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return (num / den).mean()


# torchvision's VGG16 "features": numbers are conv widths, "M" a max-pool. We stop after relu3_3.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256)
_VGG_TAPS = (3, 8, 15)  # indices of relu1_2, relu2_2, relu3_3 in the Sequential
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGPerceptual(nn.Module):
    """Feature-space MSE on VGG16's first three stages, weights read from a local file: a torchvision
    ``vgg16`` state dict (``features.N.weight`` keys, .pth or .safetensors). Never downloads."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 3
        for item in _VGG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(width, int(item), 3, padding=1), nn.ReLU()]
                width = int(item)
        self.features = nn.Sequential(*layers)
        state = _load_state(Path(weights))
        wanted = self.features.state_dict()
        state = {k.removeprefix("features."): v for k, v in state.items()}
        got = {k: v for k, v in state.items() if k in wanted}
        missing = sorted(set(wanted) - set(got))
        if missing:
            raise InputError(f"{weights}: not VGG16 weights (missing {', '.join(missing[:3])} ...)")
        self.features.load_state_dict(got)
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN)[:, None, None])
        self.register_buffer("std", torch.tensor(_IMAGENET_STD)[:, None, None])

    def _taps(self, img: torch.Tensor) -> list[torch.Tensor]:
        x = (img.expand(3, -1, -1) - self.mean) / self.std
        x = x[None]
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG_TAPS:
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return sum(F.mse_loss(fa, fb) for fa, fb in zip(self._taps(a), self._taps(b), strict=True))


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot read VGG weights {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: not a state dict")
    return state


class PatchDiscriminator(nn.Module):
    """A small PatchGAN critic for the optional adversarial term (hinge loss)."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img[None])

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - self(real)).mean() + F.relu(1 + self(fake.detach())).mean()

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -self(fake).mean()
