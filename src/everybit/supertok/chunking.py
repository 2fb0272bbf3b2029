"""The supertok pre-pass: cut training text into random-length character chunks that ignore word boundaries.

Chunks never cross a pre-token of the line scheme (pretok.py), because at inference no token can: a token
learned across a line break or a length cap would be wasted vocabulary. Within a line, cut points follow one
running stream of lengths drawn from the distribution, so a chunk straddles spaces freely ("frequently us").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np

from everybit.supertok.dist import LengthDist
from everybit.supertok.pretok import DEFAULT_MAX_CHARS, line_pattern


def drop_runs(text: str, run: int) -> str:
    """Deletes runs of `run` or more identical characters (the seed's filter; 0 keeps everything)."""
    if run <= 1:
        return text
    return re.sub(rf"(.)\1{{{run - 1},}}", "", text, flags=re.S)


def _cuts(text: str, dist: LengthDist, rng: np.random.Generator, max_chars: int) -> np.ndarray:
    """Sorted cut offsets in text: every pre-token end and every chunk end."""
    ends = np.fromiter((m.end() for m in re.finditer(line_pattern(max_chars), text)), dtype=np.int64)
    need = int(len(text) / max(dist.mean, 1.0) * 1.2) + 16
    chunk_ends = np.cumsum(dist.sample(rng, need))
    while chunk_ends[-1] < len(text):  # rare: the draw came out short
        more = np.cumsum(dist.sample(rng, need)) + chunk_ends[-1]
        chunk_ends = np.concatenate([chunk_ends, more])
    chunk_ends = chunk_ends[chunk_ends < len(text)]
    return np.union1d(ends, chunk_ends)


def chunk_text(
    blocks: Iterable[str],
    dist: LengthDist,
    seed: int = 0,
    max_chars: int = DEFAULT_MAX_CHARS,
    runs: int = 0,
) -> Iterator[list[str]]:
    """One list of chunks per block; deterministic for a seed and the same blocks."""
    rng = np.random.default_rng(seed)
    for block in blocks:
        text = drop_runs(block, runs)
        if not text:
            continue
        cuts = _cuts(text, dist, rng, max_chars).tolist()
        starts = [0, *cuts[:-1]]
        yield [text[a:b] for a, b in zip(starts, cuts, strict=True) if b > a]
