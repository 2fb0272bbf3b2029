"""The zpaq 7.15 fragmenter: boundaries equal to zpaq's own, streaming, limits, block planning.

Tests that compare with the real ``zpaq`` (Debian's 7.15) skip when it is not installed.
"""

import hashlib
import io
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from everybit.imli.chunker import (
    HASH_LIMIT,
    MAX_FRAGMENT,
    MIN_FRAGMENT,
    BlockPlanner,
    Chunker,
    file_order_key,
    fragments,
    limits,
)

ZPAQ = shutil.which("zpaq")
needs_zpaq = pytest.mark.skipif(ZPAQ is None, reason="zpaq 7.15 not installed")
TAG = bytes.fromhex("376B5374A03183D38CB228B0D3")
MAX_PATTERN = b"\xa4X"  # repeated, its hash never drops below 2**16: only size cuts


def text(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    # every word ends in one of a few letters, which are then followed by a space: zpaq calls it text
    inner, ends = b"taoihrlucmfw", b"esdyn"
    words = [
        bytes(rng.choice(inner) for _ in range(rng.randint(0, 8))) + bytes([rng.choice(ends)])
        for _ in range(3000)
    ]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + b".\n"
    return bytes(out[:n])


def rand(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def sizes(data: bytes, **kw) -> list[int]:
    return [len(f) for f in fragments(data, **kw)]


# --------------------------------------------------------------------------- reference rule


def reference_cuts(data: bytes, min_size: int, max_size: int, limit: int) -> list[int]:
    """Fragment sizes by the rule in docs/imli-notes.md, byte by byte."""
    out, h, c1, o1, n = [], 0, 0, [0] * 256, 0
    for c in data:
        h = (h + c + 1) * (314159265 if c == o1[c1] else 271828182) & 0xFFFFFFFF
        o1[c1], c1, n = c, c, n + 1
        if n >= max_size or (h < limit and n >= min_size):
            out.append(n)
            h, c1, o1, n = 0, 0, [0] * 256, 0
    return [*out, n]


@pytest.mark.parametrize("kind", ["text", "random", "zeros"])
def test_rule_matches_reference(kind):
    data = {"text": text(60_000, 1), "random": rand(60_000, 2), "zeros": bytes(60_000)}[kind]
    params = dict(min_size=16, max_size=700, limit=1 << 25)
    assert sizes(data, chunker=Chunker(**params)) == reference_cuts(data, **params)


def test_limits():
    assert limits() == (MIN_FRAGMENT, MAX_FRAGMENT, HASH_LIMIT) == (4096, 520192, 65536)
    assert limits(6, 26) == limits(6, 20) == limits()
    assert limits(0) == (64, 8128, 1 << 22)
    assert limits(30, 20) == ((1 << 20) - 4108, (1 << 20) - 4108, 0)


# --------------------------------------------------------------------------- streaming


def test_streaming_in_pieces_equals_one_shot():
    data = text(300_000, 3) + rand(700_000, 4) + bytes(200_000) + MAX_PATTERN * 300_000
    whole = Chunker().cut(data, stats=True)
    rng = random.Random(5)
    for piece_sizes in ([1], [7, 4096], [65_537], [rng.randint(1, 200_000) for _ in range(50)]):
        if piece_sizes == [1]:
            subject = data[:150_000]
            expect = Chunker().cut(subject, stats=True)
        else:
            subject, expect = data, whole
        ch, pos, got, i = Chunker(), 0, [], 0
        while pos < len(subject):
            n = piece_sizes[i % len(piece_sizes)]
            got += [(pos + c[0], *c[1:]) for c in ch.cut(subject[pos : pos + n], stats=True)]
            pos, i = pos + n, i + 1
        assert got == expect
        ch.finish()


def test_file_object_equals_bytes():
    data = rand(1_500_000, 6) + text(500_000, 7)
    direct = [bytes(f) for f in fragments(data)]
    assert b"".join(direct) == data
    for read_size in (1000, 65_536, 1 << 20):
        assert [bytes(f) for f in fragments(io.BytesIO(data), read_size=read_size)] == direct
    with_stats = list(fragments(io.BytesIO(data), stats=True, read_size=4000))
    assert [bytes(f) for f, _ in with_stats] == direct
    assert [s.size for _, s in with_stats] == [len(f) for f in direct]


def test_state_resets_per_file_and_at_finish():
    ch = Chunker()
    cuts = ch.cut(rand(200_000, 8))
    assert ch.pending == 200_000 - cuts[-1]
    assert ch.finish() == 200_000 - cuts[-1] and ch.pending == 0
    data = rand(900_000, 9)
    assert ch.cut(data) == Chunker().cut(data)


# --------------------------------------------------------------------------- limits and edges


def test_min_and_max_sizes():
    for data in (rand(3_000_000, 10), text(2_000_000, 11), bytes(1_000_000), MAX_PATTERN * 600_000):
        got = sizes(data)
        assert sum(got) == len(data)
        assert all(MIN_FRAGMENT <= s <= MAX_FRAGMENT for s in got[:-1])
        assert got[-1] <= MAX_FRAGMENT
    assert sizes(MAX_PATTERN * 600_000) == [MAX_FRAGMENT, MAX_FRAGMENT, 1_200_000 - 2 * MAX_FRAGMENT]


def test_empty_file_and_cut_at_the_end_give_an_empty_last_fragment():
    assert sizes(b"") == [0]
    assert sizes(b"x") == [1]
    data = rand(3_000_000, 12)
    first = sizes(data)[0]
    assert sizes(data[:first]) == [first, 0]
    assert sizes(MAX_PATTERN * (MAX_FRAGMENT // 2)) == [MAX_FRAGMENT, 0]


def test_insertion_changes_only_nearby_fragments():
    data = rand(4_000_000, 13)
    edited = data[:2_000_000] + b"inserted bytes" + data[2_000_000:]
    a = [hashlib.sha1(f).digest() for f in fragments(data)]
    b = [hashlib.sha1(f).digest() for f in fragments(edited)]
    assert len(a) > 40
    assert len(set(b) - set(a)) <= 2
    before = [i for i, s in enumerate(sizes(data)) if sum(sizes(data)[: i + 1]) < 2_000_000]
    assert b[: len(before)] == a[: len(before)]


# --------------------------------------------------------------------------- against zpaq 7.15


def _blocks(buf: bytes):
    """Yield (name, content) of the stored blocks of an archive; other blocks' content is None."""
    p = 0
    while p < len(buf):
        assert buf[p : p + 13] == TAG and buf[p + 13 : p + 16] == b"zPQ"
        hsize = struct.unpack_from("<H", buf, p + 18)[0]
        ncomp = buf[p + 20 + 4]
        q = p + 20 + hsize
        assert buf[q] == 1
        e = buf.index(b"\0", q + 1)
        name = buf[q + 1 : e].decode()
        q = buf.index(b"\0", e + 1) + 2
        if ncomp:  # modelled: only i blocks are, and they come last in a transaction
            nxt = buf.find(TAG, q)
            yield name, None, q
            p = nxt if nxt >= 0 else len(buf)
            continue
        content = bytearray()
        while (n := struct.unpack_from(">I", buf, q)[0]) != 0:
            content += buf[q + 4 : q + 4 + n]
            q += 4 + n
        q += 4
        q += 21 if buf[q] == 0xFD else 1
        assert buf[q] == 0xFF
        yield name, bytes(content), q + 1
        p = q + 1
        if name[17] == "c":
            p += struct.unpack("<q", content[1:9])[0]


def zpaq_fragment_sizes(root: Path, tmp: Path) -> dict[str, list[int]]:
    """{path: fragment sizes} of the files zpaq stored with -method 0."""
    arc = tmp / "ref.zpaq"
    subprocess.run(
        [ZPAQ, "add", str(arc), root.name, "-method", "0"], cwd=root.parent, check=True, capture_output=True
    )
    size = {}
    for name, content, _ in _blocks(arc.read_bytes()):
        if name[17] == "h":
            first = int(name[18:])
            for i in range((len(content) - 5) // 24):
                size[first + i] = struct.unpack_from("<I", content, 1 + 4 + 24 * i + 20)[0]
    listing = subprocess.run(
        [ZPAQ, "l", str(arc), "-summary", "-1"], capture_output=True, text=True, check=True
    ).stdout
    out = {}
    for line in listing.splitlines():
        m = re.match(r"- \S+ \S+ +\d+ +\S+ (\S+[^/])((?: \d+(?:-\d+)?)+)$", line)
        if m:
            ids = []
            for tok in m.group(2).split():
                lo, _, hi = tok.partition("-")
                ids += range(int(lo), int(hi or lo) + 1)
            out[m.group(1)] = [size[i] for i in ids]
    return out


@needs_zpaq
def test_boundaries_equal_zpaq(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    licenses = Path("/usr/share/common-licenses")
    if licenses.is_dir():
        for f in sorted(licenses.iterdir())[:8]:
            if f.is_file() and not f.is_symlink():
                (root / f.name).write_bytes(f.read_bytes())
    base = rand(2_500_000, 14)
    files = {
        "words.txt": text(2_000_000, 15),
        "random.bin": base,
        "inserted.bin": base[:900_000] + b"new" + base[900_000:1_800_000] + rand(4000, 16) + base[1_800_000:],
        "ends_on_cut.bin": base[: sizes(base)[0]],
        "max.bin": MAX_PATTERN * 500_000,
        "zeros": bytes(700_000),
        "empty": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    expect = zpaq_fragment_sizes(root, tmp_path)
    assert len(expect) == len(list(root.iterdir()))
    for path, zsizes in expect.items():
        with open(tmp_path / path, "rb") as f:
            assert sizes(f.read()) == zsizes, path
    assert expect["tree/ends_on_cut.bin"][-1] == 0 and expect["tree/empty"] == [0]
    assert expect["tree/max.bin"][:1] == [MAX_FRAGMENT]


@needs_zpaq
def test_block_planner_equals_zpaq(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    rng = random.Random(17)
    for i in range(30):
        kind = rng.choice(["txt", "bin", "dat", "TXT"])
        n = rng.choice([300, 5000, 60_000, 400_000, 900_000])
        if kind.lower() == "txt":
            data = text(n, i)
        else:
            data = rand(n, i) if kind == "bin" else bytes(n // 3) + text(n, i)
        (root / f"f{i:02d}.{kind}").write_bytes(data)
    (root / "again.txt").write_bytes(sorted(root.glob("*.dat"))[0].read_bytes())  # all duplicates
    out = subprocess.run(
        [ZPAQ, "add", str(tmp_path / "b.zpaq"), "tree", "-method", "10", "-threads", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = [
        (int(a), int(b), int(c), m)
        for a, b, c, m in re.findall(r"\[(\d+)\.\.(\d+)\] (\d+) -method (\S+)", out)
    ]

    paths = sorted(
        (f"tree/{p.name}" for p in root.iterdir()),
        key=lambda p: file_order_key(p, (tmp_path / p).stat().st_size),
    )
    planner, seen, next_id, first, mine = BlockPlanner("10"), set(), 1, 1, []
    for path in paths:
        data = (tmp_path / path).read_bytes()
        for j, (frag, st) in enumerate(fragments(data, stats=True)):
            digest = hashlib.sha1(frag).digest()
            if digest in seen:
                continue
            seen.add(digest)
            if planner.add(st, first_of_file=j == 0, file_size=len(data)):
                mine.append((first, next_id - 1, planner.size + 4 * planner.frags + 8, planner.method()))
                planner.flushed()
                first = next_id
            planner.commit()
            next_id += 1
    mine.append((first, next_id - 1, planner.size + 4 * planner.frags + 8, planner.method()))
    assert len(theirs) > 5 and {m[-1][-1] for m in theirs} >= {"0", "1"}  # binary and text blocks
    assert mine == theirs


def test_max_size_above_zpaqs_limit_is_refused():
    """zpaq's largest fragment is under 2**31; above that the chunker's hash arithmetic could overflow."""
    from everybit.imli._chunker import Chunker

    with pytest.raises(ValueError, match="max_size"):
        Chunker(max_size=2**31 + 1)
