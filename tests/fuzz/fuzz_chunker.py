"""Fuzz target: imli's zpaq fragmenter, the C module ``everybit.imli._chunker`` (``Chunker``, ``o1_match``).

Input layout: 1 control byte ``c``, 3 parameter fields, then the data D. Bit 0 of ``c`` picks hostile
parameters: three raw 8-byte LE integers (any value up to 2^64 - 1: zero, ``min > max``, ``max`` past
2^31, ``limit`` past 2^32) instead of small ones from 2 bytes each (``min % 600``, ``1 + max % 700``, and
``limit`` 16 << the first byte, so that the hash cuts happen). Bits 1-3 pick the piece size D is fed in
(1 byte to all of it), bit 2 also a bad history length for ``o1_match``.

- ``Chunker(min, max, limit)`` raises ``ValueError`` exactly when the parameters break its rules.
- Otherwise the cuts (``cut`` on the pieces, then ``finish``) are those of the rule in docs/imli-notes.md,
  computed here byte by byte, the same whole or in pieces; each fragment's o1 table is zpaq's, and so are
  the ratings (hits, text and x86 flags) of the first ``RATED`` and of the last one, computed here too;
  ``pending`` counts the bytes since the last cut.
- ``o1_match`` of a 1024-byte history (from D) and the last fragment's o1 table counts the equal
  positions; it refuses other lengths (bit 2 of ``c``: the history is D, however long) with ``ValueError``.
"""

import itertools

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

ch = c.load_extension("everybit.imli._chunker")

MAX_DATA = 1024  # the Python reference runs byte by byte, and rates every fragment
MAX_FRAGMENT = 1 << 31
WEIGHT = [32768 // ((i + 1) * 204) for i in range(256)]
PIECES = (1, 2, 7, 31, 64, 257, 1000, MAX_DATA)
MAX_CALLS = 64  # small pieces grow so that one input makes at most about this many cut() calls
RATED = 8  # fragments whose statistics are recomputed here (and the last one): each costs a 256-step loop


def parse(data: bytes) -> tuple[int, tuple[int, int, int], bytes]:
    ctl = data[0] if data else 0
    if ctl & 1:
        raw = data[1:25].ljust(24, b"\0")
        params = tuple(int.from_bytes(raw[i : i + 8], "little") for i in (0, 8, 16))
        rest = data[25:]
    else:
        raw = data[1:7].ljust(6, b"\0")
        params = (
            int.from_bytes(raw[0:2], "little") % 600,
            1 + int.from_bytes(raw[2:4], "little") % 700,
            16 << (raw[4] % 28),
        )
        rest = data[7:]
    return ctl, params, rest[:MAX_DATA]


def valid(min_size: int, max_size: int, limit: int) -> bool:
    return 1 <= max_size <= MAX_FRAGMENT and min_size <= max_size and limit < 1 << 32


def analyze(o1: bytes, size: int, hits: int) -> tuple[int, int, int]:
    """(hits, text, exe) of a fragment as zpaq's add() rates it: tests 1-3 and the text/x86 flags."""
    h1, count, text, exe = size, [0] * 256, 0, 0
    for i, v in enumerate(o1):
        if count[v] < 255:
            h1 -= size * WEIGHT[count[v]] >> 15
            count[v] += 1
        if v == 32 and (48 <= i <= 57 or 65 <= i <= 90 or 97 <= i <= 122 or i in (46, 44)):
            text += 1
        if v and (i < 9 or i in (11, 12) or 14 <= i <= 31 or i >= 240):
            text -= 1
        if 192 <= i < 240 and v and (v < 128 or v >= 192):
            text -= 1
        exe += v == 139
    if size:
        h1 = h1 * h1 // size
    return max(hits, h1, count[0] * size // 256), int(text >= 3), int(exe >= 5)


def reference(data: bytes, min_size: int, max_size: int, limit: int) -> list[tuple[int, int, bytes]]:
    """Every fragment as (size, o1 hits, o1), the last one (maybe empty) included."""
    out, h, c1, o1, n, hits = [], 0, 0, bytearray(256), 0, 0
    for b in data:
        if b == o1[c1]:
            h, hits = (h + b + 1) * 314159265 & 0xFFFFFFFF, hits + 1
        else:
            h = (h + b + 1) * 271828182 & 0xFFFFFFFF
        o1[c1], c1, n = b, b, n + 1
        if n >= max_size or (h < limit and n >= min_size):
            out.append((n, hits, bytes(o1)))
            h, c1, o1, n, hits = 0, 0, bytearray(256), 0, 0
    return [*out, (n, hits, bytes(o1))]


def TestOneInput(data: bytes) -> None:
    ctl, params, rest = parse(data)
    try:
        chunker = ch.Chunker(*params)
    except ValueError:
        assert not valid(*params), f"Chunker{params} refused"
        return
    assert valid(*params), f"Chunker{params} accepted"
    assert (chunker.min_size, chunker.max_size, chunker.limit) == params

    want = reference(rest, *params)
    piece = max(PIECES[ctl >> 1 & 7], len(rest) // MAX_CALLS)
    got, base = [], 0
    for at in range(0, len(rest), piece):
        part = rest[at : at + piece]
        for end, *stats in chunker.cut(c.exact(part), stats=True):
            got.append((end + at - base, *stats))
            base = end + at
        assert chunker.pending == at + len(part) - base, "pending is not the bytes since the last cut"
    end, *stats = chunker.finish(stats=True)
    assert end == len(rest) - base and chunker.pending == 0
    got.append((end, *stats))
    assert [(g[0], g[5]) for g in got] == [(w[0], w[2]) for w in want], "cuts or o1 tables differ from zpaq's"
    assert all(g[0] == g[1] for g in got), "a fragment's size field is not its length"
    for i in [*range(min(len(got), RATED)), len(got) - 1]:  # zpaq's ratings of a few fragments
        size, hits, o1 = want[i]
        assert tuple(got[i][2:5]) == analyze(o1, size, hits), f"fragment {i} is rated unlike zpaq"
    ends = list(itertools.accumulate(g[0] for g in got[:-1]))
    assert ch.Chunker(*params).cut(c.exact(rest)) == ends, "cut() of the whole data cuts elsewhere"

    # the history of test 4: data, or (bit 2) a length o1_match must refuse; the table: the last o1
    hist, table = rest[:1024].ljust(1024 if not ctl & 4 else 0, b"\0"), got[-1][5]
    try:
        eq, eqnz = ch.o1_match(c.exact(hist), c.exact(table))
    except ValueError:
        assert (len(hist), len(table)) != (1024, 256)
    else:
        pairs = [(a, table[i & 255]) for i, a in enumerate(hist)]
        assert (eq, eqnz) == (sum(a == b for a, b in pairs), sum(a == b and a != 0 for a, b in pairs))


if __name__ == "__main__":
    c.fuzz(TestOneInput)
