"""Rate control: from a byte budget to a network size, and the retry when a fit overshoots.

The latents' rate is steered during training (lambda); what must be chosen up front is the network,
whose weights cost a roughly fixed ~6.5 bits each at 8-bit quantization. Measured on the benchmark
photos, a KA network does best when its weights take about a fifth of the budget; a SIREN has only
weights, so it takes the largest width that fits.
"""

from __future__ import annotations

from dataclasses import replace

from everybit.common.errors import UsageError

from .arch import Arch, max_levels

HIDDEN_CHOICES = (4, 6, 8, 12, 16, 20, 24, 32, 40, 48, 64)
BITS_PER_WEIGHT = 6.5  # coded size of an 8-bit quantized weight, measured
KA_WEIGHT_SHARE = 0.2
KA_MAX_SHARE = 0.6  # small images: the smallest network may take up to this share
SIREN_DEPTH = 3
HEADER_BYTES = 48  # header + steps + checksum, about


def count_weights(arch: Arch) -> int:
    from .model import ImageNet

    return sum(p.numel() for p in ImageNet(arch).parameters())


def budget_bytes(height: int, width: int, bpp: float | None = None, size: int | None = None) -> int:
    if (bpp is None) == (size is None):
        raise UsageError("give exactly one of a bit rate (--bpp) and a size (--size)")
    if size is not None:
        if size <= 0:
            raise UsageError(f"--size must be positive, got {size}")
        return int(size)
    if not bpp or bpp <= 0:
        raise UsageError(f"--bpp must be positive, got {bpp}")
    return int(bpp * height * width / 8)


def choose_arch(
    height: int, width: int, channels: int, budget: int, kind: str = "ka", **overrides: object
) -> Arch:
    """The largest network of ``kind`` whose weights fit their share of ``budget`` bytes."""
    base = Arch(height, width, channels, kind=kind, levels=max_levels(height, width) if kind == "ka" else 0)
    if kind == "siren":
        base = replace(base, depth=SIREN_DEPTH, psi_dim=0, refine=False)
    share = KA_WEIGHT_SHARE if kind == "ka" else 0.95
    room = (budget - HEADER_BYTES) * 8 * share
    fitting = [h for h in HIDDEN_CHOICES if count_weights(replace(base, hidden=h)) * BITS_PER_WEIGHT <= room]
    if not fitting and kind == "ka":
        room *= KA_MAX_SHARE / share
        fitting = [
            h for h in HIDDEN_CHOICES[:1] if count_weights(replace(base, hidden=h)) * BITS_PER_WEIGHT <= room
        ]
        share = KA_MAX_SHARE
    if not fitting:
        smallest = count_weights(replace(base, hidden=HIDDEN_CHOICES[0])) * BITS_PER_WEIGHT / 8 / share
        raise UsageError(
            f"a budget of {budget} bytes is too small for a {width}x{height} image "
            f"(at least ~{int(smallest + HEADER_BYTES)} bytes)"
        )
    return replace(base, hidden=fitting[-1], **overrides)  # type: ignore[arg-type]


def smaller(arch: Arch) -> Arch | None:
    """The next smaller width, for a retry when a SIREN's file overshoots."""
    options = [h for h in HIDDEN_CHOICES if h < arch.hidden]
    return replace(arch, hidden=options[-1]) if options else None
