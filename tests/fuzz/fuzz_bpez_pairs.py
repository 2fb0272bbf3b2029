"""Fuzz target: bpez's byte-pair coder, the C module ``everybit.bpez._bpez`` (``pair_decode``,
``pair_encode``).

Input layout: 1 control byte ``c``, 2 bytes LE ``size`` (mod ``MAX_SIZE + 1``), 1 byte ``k``, then a cycle
table T of ``3 k`` bytes (``3 k + c % 3`` when bit 7 of ``c`` is set: a table of a bad length), then the
rest R.

- ``pair_decode(R, T, size)`` returns exactly what a plain Python expansion of the table gives (each byte
  value's meaning tracked through the cycles, as the format says) when that is ``size`` bytes, and
  raises ``BPEZError`` otherwise; nothing else.
- ``pair_encode(R, max_cycles, min_count)`` (both from ``c``) returns a block no longer than R and a table
  of whole cycles, at most ``max_cycles``; ``pair_decode`` of the result gives R back, and one byte more
  or less of declared size raises.

Buffers are exact-size (``_common.exact``) so an overread shows, and the table is passed misaligned.
"""

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

bp = c.load_extension("everybit.bpez._bpez")

MAX_SIZE = 4096  # declared sizes; a Python expansion of up to 511 meanings stays cheap


def expand(block: bytes, table: bytes, size: int) -> bytes | None:
    """What ``block`` decodes to with ``table``, or None when that is not exactly ``size`` bytes."""
    if len(table) % 3 or len(table) // 3 > bp.MAX_CYCLES:
        return None
    meaning: list[bytes | None] = [bytes([v]) for v in range(256)]
    for i in range(0, len(table), 3):
        a, b = meaning[table[i]], meaning[table[i + 1]]
        # a meaning longer than size can never fit: drop it (the C decoder saturates its length)
        meaning[table[i + 2]] = a + b if a is not None and b is not None and len(a) + len(b) <= size else None
    out = bytearray()
    for v in block:
        m = meaning[v]
        if m is None or len(out) + len(m) > size:
            return None
        out += m
    return bytes(out) if len(out) == size else None


def decode(block: bytes, table: bytes, size: int) -> bytes | Exception:
    try:
        return bp.pair_decode(c.exact(block), c.misaligned(table), size)
    except bp.BPEZError as exc:
        return exc


def TestOneInput(data: bytes) -> None:
    if len(data) < 4:
        data = data.ljust(4, b"\0")
    ctl, size, k = data[0], int.from_bytes(data[1:3], "little") % (MAX_SIZE + 1), data[3]
    tlen = 3 * k + (ctl % 3 if ctl & 0x80 else 0)
    table, rest = data[4 : 4 + tlen], data[4 + tlen :]

    got = decode(rest, table, size)
    want = expand(rest, table, size)
    if want is None:
        assert isinstance(got, bp.BPEZError), "pair_decode accepted a block its table does not fit"
    else:
        assert got == want, "pair_decode disagrees with the table's expansion"

    max_cycles, min_count = ctl & 0x3F if ctl & 0x40 else bp.MAX_CYCLES, 2 + (ctl >> 4 & 3)
    enc, tab = bp.pair_encode(c.exact(rest), max_cycles, min_count)
    cycles = len(tab) // 3
    assert len(tab) % 3 == 0 and cycles <= min(max_cycles, bp.MAX_CYCLES), (len(tab), max_cycles)
    assert len(enc) <= len(rest), "pair_encode made the block longer"
    assert decode(enc, tab, len(rest)) == rest, "pair_encode output does not decode to its input"
    if rest:
        assert isinstance(decode(enc, tab, len(rest) - 1), bp.BPEZError), "a block decoded into one byte less"
    assert isinstance(decode(enc, tab, len(rest) + 1), bp.BPEZError), "a block decoded short of its size"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
