"""Raw ULZ blocks, as ``lz4.block``: one-shot calls with a tiny per-call cost, for messages and records.

``compress`` writes the original size (a varint) then the ULZ sequences, so ``decompress`` needs nothing
else; ``compress_block``/``decompress_block`` handle bare sequences, for callers that store the size
themselves; the ``*_into`` variants write into the caller's buffer. Layout: docs/ulz-format.md, "Sequence
format". Files and streams use the framed format instead: ``everybit.ulz.compress``/``open``.

Every input may be any buffer (a non-contiguous one is copied first). Every decoding failure raises
``ULZError`` (a ``CorruptDataError``, so a ``ValueError``) naming the input and output offsets.
"""

from __future__ import annotations

# The C functions themselves, not Python wrappers: a wrapper would double the ~0.1 us a 100-byte call costs.
# The C core gives them keyword-only options, signatures that inspect (and help()) read, a copy of any
# non-contiguous input, and no bound for a max_size past what the platform can hold.
from everybit.ulz._ulz import (
    MAX_DISTANCE,
    MAX_LEVEL,
    ULZError,
    compress,
    compress_block,
    compress_block_into,
    compress_bound,
    compress_into,
    decompress,
    decompress_block,
    decompress_block_into,
    decompress_into,
)

__all__ = [
    "MAX_DISTANCE",
    "MAX_LEVEL",
    "ULZError",
    "compress",
    "compress_block",
    "compress_block_into",
    "compress_bound",
    "compress_into",
    "decompress",
    "decompress_block",
    "decompress_block_into",
    "decompress_into",
]
