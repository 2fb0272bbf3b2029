"""One block of bpez: the BPE pre-pass, deflate, and the choice of how to store the block.

``encode`` returns ``(method, table, payload)``:

- ``STORED`` (0): payload is the raw block (nothing else made it smaller);
- ``DEFLATE`` (1): payload is a raw deflate stream of the block;
- ``BPE_DEFLATE`` (2): the block went through byte-pair substitution (``table``: 3 bytes per cycle,
  pair high, pair low, replacement, in the order applied) and then deflate.

Deflate is libdeflate's (bundled by the ``deflate`` package, called through ``libdeflate.py`` so
threads run in parallel): at the same level it writes 1-5% smaller streams than
zlib, and they are ordinary deflate that zlib reads. bpez level 9 uses libdeflate level 10, the start of
its near-optimal parsing (level 12 gains under 0.1% more for 2x the time); levels 1-8 map to 1-8.
"""

from __future__ import annotations

from everybit.bpez import libdeflate
from everybit.bpez._bpez import MAX_CYCLES, BPEZError, pair_decode, pair_encode
from everybit.common.errors import CorruptDataError

__all__ = [
    "BPE_DEFLATE",
    "DEFLATE",
    "MAX_CYCLES",
    "MAX_LEVEL",
    "STORED",
    "BPEZError",
    "crc32",
    "decode",
    "encode",
]

STORED, DEFLATE, BPE_DEFLATE = 0, 1, 2
MAX_LEVEL = 9
_LIBDEFLATE_LEVEL = {**{lv: lv for lv in range(1, 9)}, 9: 10}
# Plain deflate is tried too when BPE may not have paid: after few cycles (its pairs may have cost
# deflate more matches than they saved), or when the table is a noticeable share of the output (very
# repetitive data, which deflate alone handles well and fast).
_FEW_CYCLES = 16
_TABLE_SHARE = 0.02

crc32 = libdeflate.crc32

Buffer = bytes | bytearray | memoryview


def encode(raw: Buffer, level: int = 9) -> tuple[int, bytes, bytes]:
    """The smallest way to store ``raw`` at ``level`` (1-9): ``(method, table, payload)``."""
    if level not in _LIBDEFLATE_LEVEL:
        raise ValueError(f"level must be 1..9, not {level}")
    lib_level = _LIBDEFLATE_LEVEL[level]
    pairs, table = pair_encode(raw)
    best = (BPE_DEFLATE, table, libdeflate.compress(pairs, lib_level)) if table else None
    if best is None or len(table) // 3 < _FEW_CYCLES or len(table) > _TABLE_SHARE * _size(best):
        plain = (DEFLATE, b"", libdeflate.compress(raw, lib_level))
        if best is None or _size(plain) <= _size(best):
            best = plain
    if _size(best) >= len(raw):
        return STORED, b"", bytes(raw)
    return best


def _size(choice: tuple[int, bytes, bytes]) -> int:
    return len(choice[1]) + len(choice[2])


def decode(method: int, table: Buffer, payload: Buffer, size: int) -> bytes | bytearray:
    """Exactly ``size`` bytes of the block, or ``BPEZError`` saying what failed."""
    if method == STORED:
        if len(payload) != size:
            raise BPEZError(f"stored block holds {len(payload):,} bytes, expected {size:,}")
        return bytes(payload)
    if method not in (DEFLATE, BPE_DEFLATE):
        raise BPEZError(f"unknown block method {method}")
    if method == DEFLATE and len(table):
        raise BPEZError("a plain deflate block carries a cycle table")
    try:
        # BPE only shrinks a block, so its deflated form is never longer than the block itself
        inflated = libdeflate.decompress(payload, size)
    except CorruptDataError as exc:
        raise BPEZError(str(exc)) from None
    if method == DEFLATE:
        if len(inflated) != size:
            raise BPEZError(f"deflate data gives {len(inflated):,} bytes, expected {size:,}")
        return inflated  # a fresh buffer of its own: no need to copy it into a bytes
    return pair_decode(inflated, table, size)
