"""Seed corpora for the fuzz targets: a few dozen valid inputs, generated (nothing binary is committed).

``python tests/fuzz/make_seeds.py OUTDIR`` writes ``OUTDIR/<target>/seed-NNN`` for every target; the
fuzzers start from these valid streams and mutate them. ``seeds(target)`` returns them as a list.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from everybit import ulz
from everybit.ulz import frame

LEVELS = (1, 2, 5, 6, 9)


def plaintexts() -> list[bytes]:
    """Inputs that reach every decoder path: short/long literals, periods 1..17, long matches, far
    distances (bit 16 of the distance), the 8 KiB GIL threshold, text."""
    rng = random.Random(20240601)
    text = b"the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
    out = [b"", b"a", b"abc", text, text * 40, rng.randbytes(6), rng.randbytes(300), rng.randbytes(3000)]
    out += [rng.randbytes(p) * (40 + 300 // p) for p in range(1, 18)]  # small-period runs
    out.append(b"\0" * 5000)  # one long match (varint length)
    head = rng.randbytes(200)
    out.append(head + b"\0" * 70000 + head)  # a match at distance > 65535
    out.append(head + bytes(130800) + head)  # a match near the 131071 window edge
    words = [rng.randbytes(rng.randrange(3, 12)) for _ in range(50)]
    out.append(b" ".join(rng.choice(words) for _ in range(3000)))  # ~24 KiB, matches everywhere
    return out


def _frame_seeds(plain: bytes, i: int) -> list[bytes]:
    """plain as frames in the variants the format has (content size or not, checksum or not, several
    blocks, two frames), each behind a control byte for fuzz_frame.py."""
    level = LEVELS[i % len(LEVELS)]
    ctl = bytes([(i * 37) & 0xFF])
    if i % 3 == 0:
        framed = frame.compress(plain, level, block_size=frame.MIN_BLOCK_SIZE)
    else:
        comp = frame.Compressor(level, content_checksum=i % 3 == 1)  # no content size in the header
        framed = comp.compress(plain) + comp.flush()
    out = [ctl + framed]
    if i % 5 == 0:
        out.append(ctl + framed + frame.compress(plain[: len(plain) // 2]))  # concatenated frames
    return out


def _ikcoder_seeds() -> list[bytes]:
    """Valid streams behind the harness header: zeros, small Laplacian values, big values (the escape up to
    +-32767), edge shapes (0 x n, 1 x 1, one row, one column), several planes, int8 and int16 mode."""
    import numpy as np

    try:
        from . import fuzz_ikcoder as h
    except ImportError:  # run as a script: tests/fuzz is sys.path[0]
        import fuzz_ikcoder as h

    rng = np.random.default_rng(20240601)

    def lap(shape, scale):
        return np.clip(np.rint(rng.laplace(0, scale, shape)), -32767, 32767).astype(np.int32)

    cases = [
        [],
        [(0, 5)],
        [(1, 1)],
        [(3, 0), (1, 1)],
        [(23, 23)],
        [(1, 23)],
        [(23, 1)],
        [(8, 8), (4, 16), (0, 0), (12, 3)],
        [(16, 16), (16, 16)],
    ]
    out = []
    for i, shapes in enumerate(cases):
        for scale in (0.0, 0.3, 2.0, 40.0, 5000.0):
            planes = [lap(s, scale) for s in shapes]
            if scale > 1000 and planes and planes[0].size:
                planes[0].flat[0], planes[0].flat[-1] = 32767, -32767
            out.append(h.header(shapes, wide=(i + int(scale)) % 2 == 1) + h.ik.encode(planes))
    return out


def seeds(target: str) -> list[bytes]:
    if target == "ikcoder":
        return _ikcoder_seeds()
    out = []
    for i, plain in enumerate(plaintexts()):
        level = LEVELS[i % len(LEVELS)]
        if target == "decompress":
            out.append(ulz.compress(plain, level))
        elif target == "decompress_block":
            out.append(len(plain).to_bytes(3, "little") + ulz.compress_block(plain, level))
        elif target == "roundtrip":
            out.append(bytes([level - 1]) + plain)
        elif target == "frame":
            out += _frame_seeds(plain, i)
        else:
            raise ValueError(f"unknown fuzz target {target!r}")
    return out


TARGETS = ("decompress", "decompress_block", "roundtrip", "frame", "ikcoder")


def main(outdir: str) -> None:
    for target in TARGETS:
        d = Path(outdir) / target
        d.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds(target)):
            (d / f"seed-{i:03d}").write_bytes(seed)


if __name__ == "__main__":
    main(sys.argv[1])
