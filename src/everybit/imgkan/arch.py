"""The architecture record of an imgkan network (what the file header holds); torch-free."""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("ka", "siren")


@dataclass(frozen=True)
class Arch:
    """Everything the decoder needs to rebuild the network; stored in the file header."""

    height: int
    width: int
    channels: int  # 1 (grey) or 3 (RGB)
    kind: str = "ka"
    hidden: int = 16  # width of Phi's hidden layers (SIREN: of every layer)
    depth: int = 2  # hidden layers of Phi (SIREN: of the MLP)
    blocks: int = 1  # KA blocks summed
    psi_dim: int = 4  # size of Psi(x); 0 drops the coordinate path
    fourier: int = 8  # frequencies per coordinate
    fourier_scale: float = 4.0  # standard deviation of the frequencies (cycles per image side / 2)
    seed: int = 1  # seed of the Fourier frequencies
    levels: int = 7  # latent grids: full size, 1/2, 1/4 ...
    refine: bool = True  # a 3x3 convolution (residual) after Phi

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown network kind {self.kind!r} (known: {', '.join(KINDS)})")

    def to_dict(self) -> dict:
        return asdict(self)

    def grid_shapes(self) -> list[tuple[int, int]]:
        """Shapes of the latent grids, finest first."""
        if self.kind != "ka":
            return []
        return [(-(-self.height >> lv), -(-self.width >> lv)) for lv in range(self.levels)]


def max_levels(height: int, width: int, coarsest: int = 4) -> int:
    """How many latent levels fit before the coarsest grid's short side drops below ``coarsest``."""
    levels, side = 1, min(height, width)
    while side >= 2 * coarsest:
        side = -(-side // 2)
        levels += 1
    return levels
