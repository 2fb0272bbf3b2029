"""Seed corpora for the fuzz targets: a few dozen valid inputs each, generated (nothing binary is committed).

``python tests/fuzz/make_seeds.py OUTDIR`` writes ``OUTDIR/<target>/seed-NNN`` for every target; the
fuzzers start from these valid streams and mutate them. ``seeds(target)`` returns them as a list.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from everybit import ulz
from everybit.ulz import _ulz  # the raw block coder (the C core: its API does not move)

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


def _repo_module(name: str):
    """A helper module of the test suite (tests.*), also when run as a script (root not on sys.path)."""
    import importlib

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.append(root)
    return importlib.import_module(name)


def _harness(name: str):
    """The harness module fuzz_<target>.py (its helpers and the C module it loaded)."""
    try:
        return _repo_module(f"tests.fuzz.{name}")
    except ImportError:  # run as a script: tests/fuzz is sys.path[0]
        import importlib

        return importlib.import_module(name)


def _frame_seeds(plain: bytes, i: int) -> list[bytes]:
    """plain as frames in the variants the format has (content size or not, checksum or not, several
    blocks, two frames), each behind a control byte for fuzz_frame.py."""
    level = LEVELS[i % len(LEVELS)]
    ctl = bytes([(i * 37) & 0xFF])
    if i % 3 == 0:
        framed = ulz.compress(plain, level=level, threads=1, block_size=ulz.MIN_BLOCK_SIZE)
    else:  # no content size in the header
        comp = ulz.Compressor(level=level, threads=1, content_checksum=i % 3 == 1)
        framed = comp.compress(plain) + comp.flush()
    out = [ctl + framed]
    if i % 5 == 0:  # concatenated frames
        out.append(ctl + framed + ulz.compress(plain[: len(plain) // 2], threads=1))
    return out


def _ikcoder_seeds() -> list[bytes]:
    """Valid streams behind the harness header: zeros, small Laplacian values, big values (the escape up to
    +-32767), edge shapes (0 x n, 1 x 1, one row, one column), several planes, int8 and int16 mode."""
    import numpy as np

    h = _harness("fuzz_ikcoder")
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

    hostile = _repo_module("tests.imli.hostile.build")
    h = _harness("fuzz_imli_reader")

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


def _bpez_pairs_seeds() -> list[bytes]:
    """Blocks pair_encode made from the plaintexts (up to 4 KiB: the harness's size cap), behind the header
    of fuzz_bpez_pairs.py; a few with a bad table length (control bit 7) or a smaller max_cycles (bit 6)."""
    bp = _harness("fuzz_bpez_pairs").bp
    out = []
    for i, plain in enumerate(plaintexts()):
        plain = plain[:4096]
        enc, tab = bp.pair_encode(plain)
        ctl = (0x80 | i % 3 if i % 7 == 3 else 0) | (0x40 | i if i % 5 == 2 else 0)
        head = bytes([ctl & 0xFF]) + len(plain).to_bytes(2, "little") + bytes([len(tab) // 3])
        out.append(head + tab + enc)
    # regression: size 0 and a table of doubling pairs; the decoder once took the saturated length for a
    # short one and expanded 2^24 bytes into a 32-byte slot (a heap overflow)
    out.append(bytes([0, 0, 0, 24]) + bytes(3 * 24))
    return out


def _bpez_frame_seeds() -> list[bytes]:
    """.bpez streams of the plaintexts at several levels (one block, several blocks, empty), and files of
    the original bpez.py (tests/bpez/legacy_writer.py), behind the control byte of fuzz_bpez_frame.py."""
    from everybit import bpez

    legacy = _repo_module("tests.bpez.legacy_writer")
    out = []
    for i, plain in enumerate(plaintexts()):
        level = 1 + i % 9
        size = bpez.MIN_BLOCK_SIZE
        out.append(bytes([level - 1]) + bpez.compress(plain, level=level, threads=1, block_size=size))
        if i % 4 == 1:
            out.append(bytes([i]) + legacy.write(plain[:20000], block_size=4096, cycles=8))
    return out


def _jbigctx_seeds() -> list[bytes]:
    """Context-coded bitmaps behind the header of fuzz_jbigctx.py: lists of 0-4 glyph-like bitmaps (empty
    ones too), single bitmaps with each period choice, from random strokes and from text bits."""
    import numpy as np

    jb = _harness("fuzz_jbigctx").jb
    rng = np.random.default_rng(20240601)
    out = []
    for i in range(24):
        n = i % 5
        shapes = [(int(rng.integers(0, 17)), int(rng.integers(0, 33))) for _ in range(n)]
        if i % 6 == 5 and shapes:
            shapes[0] = (shapes[0][0], 0)
        pix = (rng.random(sum(h * w for h, w in shapes)) < (0.1 + 0.1 * (i % 4))).astype(np.uint8)
        arr = np.array(shapes, np.int64).reshape(-1, 2)
        head = bytes([n << 4] + [v for s in shapes for v in s])
        out.append(head + jb.encode_list(pix.tobytes(), arr))
    for i in range(15):
        h, w = 1 + i, 3 + i * 2
        img = np.zeros((h, w), np.uint8)
        img[:, :: 5 + i % 3] = 1  # a periodic pattern: choose_period finds an offset
        img[::3, :] ^= 1
        period = (None, 0, 2 + i, None)[i % 4]
        mode = i % 3
        head = bytes([1 | mode << 2, h, w])
        out.append(head + jb.encode_single(img.tobytes(), h, w, period if mode != 2 else 2 + w // 2))
    return out


def _fontpack_file_seeds() -> list[bytes]:
    """.fpk files: small sheets in every mode (blank, tiny, glyph grids), a font with metadata, a cells file
    with a residual outside the cells (fontgen of tests/fontpack)."""
    import numpy as np

    from everybit import fontpack
    from everybit.fontpack import fonts
    from everybit.fontpack import format as fmt
    from everybit.fontpack.grid import Grid
    from everybit.fontpack.sheet import Sheet, load_sheet

    fontgen = _repo_module("tests.fontpack.fontgen")
    out = []
    inks = [np.zeros((10, 17), bool), np.ones((1, 1), bool), np.ones((5, 3), bool)]
    for seed, (cols, rows, cw, ch) in enumerate([(8, 4, 6, 8), (12, 3, 7, 9), (5, 5, 4, 4)]):
        cells = np.array(fontgen.glyph_bitmaps(cols * rows, cw, ch, seed))
        grid = Grid(cw, ch, 2, 2, 1, 1, cols, rows)
        inks.append(fontgen.layout(cells, grid, 2))
    for ink in inks:
        for mode in ("cells", "sheet", "rle"):
            out.append(fontpack.compress(ink, mode=mode))
    bms = fontgen.glyph_bitmaps(32, 6, 8, seed=3)
    font = fonts.read_font(fontgen.psf2(bms, [[0x30 + i] for i in range(len(bms))]), "c.psfu")
    sheet = load_sheet(font)
    for mode in ("cells", "sheet", "rle"):
        out.append(fontpack.compress(font, mode=mode))
    ink = np.zeros((sheet.height + 2, sheet.width), bool)
    ink[: sheet.height] = sheet.ink
    ink[-1, ::3] = True  # ink outside the cells: the residual
    out.append(fmt.encode_sheet(Sheet(ink, True, 128, 0, "psf2", None, sheet.meta), sheet.grid, "cells"))
    return out


def _chunker_seeds() -> list[bytes]:
    """Text, code, random and repetitive data behind small parameters (hash cuts happen) of
    fuzz_chunker.py, and a few hostile parameter sets (control bit 0)."""
    texts = [p[:1024] for p in plaintexts()]
    code = Path(__file__).read_bytes()[:1024]
    out = []
    for i, data in enumerate([code, *texts]):
        params = bytes([i * 37 & 0xFF, i, (i * 53) & 0xFF, 2, i % 12, 0])
        out.append(bytes([(i * 2) & 0xFE | (4 if i % 5 == 4 else 0)]) + params + data)
    for i, (lo, hi, limit) in enumerate([(0, 0, 0), (5, 4, 1), (1, 1 << 31, 1 << 20), (1, (1 << 31) + 1, 0),
                                         (0, 64, 1 << 32), (1 << 63, 1 << 64 - 1, 1 << 31)]):  # fmt: skip
        fields = b"".join(v.to_bytes(8, "little") for v in (lo, hi, limit))
        out.append(bytes([1 | i << 1]) + fields + code[:1000])
    return out


def _merges_seeds() -> list[bytes]:
    """Words of text (bytes as symbols mod the symbol count) with counts, behind the header of
    fuzz_merges.py: valid ones with and without a word cap, hostile ones."""
    rng = random.Random(20240601)
    text = plaintexts()[3]
    words = text.split()
    out = []
    for i in range(20):
        ctl = (i % 4) << 2 | (i % 3) << 5 | (1 if i % 5 == 4 else 0) | (2 if i % 3 == 1 else 0)
        ctl |= 0x80 if i % 7 == 6 else 0
        nsym = 4 + i % 8
        shapes = bytes(rng.choice((0, 1, 1, 2)) if k % 3 == 0 else 1 for k in range(3 * nsym))
        body = bytearray()
        for w in rng.sample(words, 12):
            w = w[:7]
            body += bytes([len(w), rng.randrange(1, 6)]) + w
        out.append(bytes([ctl, nsym - 1]) + shapes + bytes([9]) + bytes(body))
    return out


SEEDERS = {
    "ikcoder": _ikcoder_seeds,
    "imli_reader": _imli_reader_seeds,
    "bpez_pairs": _bpez_pairs_seeds,
    "bpez_frame": _bpez_frame_seeds,
    "jbigctx": _jbigctx_seeds,
    "fontpack_file": _fontpack_file_seeds,
    "chunker": _chunker_seeds,
    "merges": _merges_seeds,
}


def seeds(target: str) -> list[bytes]:
    if target in SEEDERS:
        return SEEDERS[target]()
    out = []
    for i, plain in enumerate(plaintexts()):
        level = LEVELS[i % len(LEVELS)]
        if target == "decompress":
            out.append(_ulz.compress(plain, level=level))
        elif target == "decompress_block":
            out.append(len(plain).to_bytes(3, "little") + _ulz.compress_block(plain, level=level))
        elif target == "roundtrip":
            out.append(bytes([level - 1]) + plain)
        elif target == "frame":
            out += _frame_seeds(plain, i)
        else:
            raise ValueError(f"unknown fuzz target {target!r}")
    return out


TARGETS = ("decompress", "decompress_block", "roundtrip", "frame", *SEEDERS)


def main(outdir: str) -> None:
    for target in TARGETS:
        d = Path(outdir) / target
        d.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds(target)):
            (d / f"seed-{i:03d}").write_bytes(seed)


if __name__ == "__main__":
    main(sys.argv[1])
