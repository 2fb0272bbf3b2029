"""zpaq's -method 0..5: the normalised method, block size and the compressor of a block.

Facts from zpaq 7.15 (docs/imli-notes.md): a one-digit method N becomes "N4" for 0-1 and "N6" for 2-5
(level, then log2 of the block size in MiB); d blocks are compressed with ``"<method>,<redundancy>,<kind>"``,
which ``chunker.BlockPlanner`` computes from the block's fragments; c and h blocks are stored; i blocks
use method "1".
"""

from __future__ import annotations

from collections.abc import Callable

from everybit.common.errors import UsageError
from everybit.imli.blocks import compressed_block, stored_block

METHODS = range(0, 6)
Compressor = Callable[[bytes, bytes, bytes], bytes]


def normalise(method: int) -> str:
    """zpaq's two-digit form: level, then block size as 2^(20+digit) bytes (minus 4 KiB)."""
    if method not in METHODS:
        raise UsageError(f"method must be 0..5, not {method}")
    return f"{method}{4 if method <= 1 else 6}"


def compressor(method_string: str) -> Compressor:
    """``(name, comment, data) -> block bytes`` for a libzpaq method string (level 0 stores)."""
    if method_string.startswith("0"):
        return stored_block
    return lambda name, comment, data: compressed_block(name, comment, data, method_string)


INDEX = compressor("1")  # how zpaq compresses i blocks
