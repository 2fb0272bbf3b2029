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


def _imli_reader_seeds() -> list[bytes]:
    """ZPAQ journaling archives behind the control byte of fuzz_imli_reader.py: small ones made by imli
    (-m 0 and -m 1, one and two versions, a deletion), one with every block stored (so the i records
    reach the parser; imli compresses i blocks), an encrypted one, and hostile ones from
    tests/imli/hostile (runaway programs, huge models and sizes, truncated, reordered, bad bytes)."""
    import contextlib
    import hashlib
    import os
    import tempfile

    from everybit.imli import crypto
    from everybit.imli.archive import Archive
    from everybit.imli.journal import Entry, c_block, d_block_data, h_block_data, i_record, journal_block

    try:
        from tests.imli.hostile import build as hostile
    except ImportError:  # run as a script: the repository root is not on sys.path
        sys.path.append(str(Path(__file__).resolve().parents[2]))
        from tests.imli.hostile import build as hostile

    try:
        from . import fuzz_imli_reader as h
    except ImportError:  # run as a script: tests/fuzz is sys.path[0]
        import fuzz_imli_reader as h

    out = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        os.makedirs("t/sub")
        Path("t/a.txt").write_bytes(b"hello, archive\n" * 20)
        Path("t/sub/b.bin").write_bytes(bytes(range(256)))
        Path("t/empty").write_bytes(b"")
        for method in (0, 1):
            Archive(f"m{method}.zpaq").add(["t"], method=method, quiet=True)
            out.append(Path(f"m{method}.zpaq").read_bytes())
        Path("t/a.txt").write_bytes(b"changed\n")
        Path("t/empty").unlink()
        Archive("m0.zpaq").add(["t"], method=0, quiet=True)  # a second version, with a deletion
        out.append(Path("m0.zpaq").read_bytes())
        Archive("key.zpaq", key=h.KEY).add(["t"], method=0, quiet=True)
        encrypted = Path("key.zpaq").read_bytes()

        date, frags = 20210601120000, [b"first fragment", b"second", b""]
        d = journal_block(date, "d", 1, d_block_data(frags))
        hdata = h_block_data(len(d), [(hashlib.sha1(f).digest(), len(f)) for f in frags])
        entries = [Entry("x/", date, b"u\xed\x41", [], 1), Entry("x/f", date, b"u\xa4\x81", [1, 2, 3], 1)]
        i = journal_block(
            date, "i", 1, b"".join(i_record(e) for e in [*entries, Entry("gone", 0, b"", [], 1)])
        )
        stored = c_block(date, 1, len(d)) + d + journal_block(date, "h", 1, hdata) + i
        out.append(stored)

        cases = ("d_pcomp_loop", "i_pcomp_loop", "h_huge_fragment_size", "h_fragment_count_bomb",
                 "i_missing_fragments", "truncated_in_i", "reordered_c_swapped", "c_dsize_past_eof",
                 "bad_level_h", "d_huge_model")  # fmt: skip
        bad = [hostile.CASES[name](Path(tmp) / "hostile").path.read_bytes() for name in cases]

    seeds = [bytes([mode]) + a for a in out for mode in (0, 1, 3)]
    seeds.append(bytes([2]) + crypto.encrypt_archive(out[0], h.KEY, salt=h.SALT)[crypto.SALT_SIZE :])
    seeds.append(bytes([2]) + encrypted[crypto.SALT_SIZE :])  # another salt: a wrong key here
    seeds += [bytes([i % 4]) + a for i, a in enumerate(bad)]
    return seeds


def seeds(target: str) -> list[bytes]:
    if target == "ikcoder":
        return _ikcoder_seeds()
    if target == "imli_reader":
        return _imli_reader_seeds()
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


TARGETS = ("decompress", "decompress_block", "roundtrip", "frame", "ikcoder", "imli_reader")


def main(outdir: str) -> None:
    for target in TARGETS:
        d = Path(outdir) / target
        d.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds(target)):
            (d / f"seed-{i:03d}").write_bytes(seed)


if __name__ == "__main__":
    main(sys.argv[1])
