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


def seeds(target: str) -> list[bytes]:
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


TARGETS = ("decompress", "decompress_block", "roundtrip", "frame")


def main(outdir: str) -> None:
    for target in TARGETS:
        d = Path(outdir) / target
        d.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds(target)):
            (d / f"seed-{i:03d}").write_bytes(seed)


if __name__ == "__main__":
    main(sys.argv[1])
