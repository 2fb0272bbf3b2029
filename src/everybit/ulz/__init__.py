"""ULZ: a fast byte-aligned LZ77 codec (17-bit window, no entropy coding) for Python.

One-shot API (any buffer-protocol input, no copy of it is made)::

    blob = ulz.compress(data, level=1)        # varint(len(data)) + ULZ sequences
    data = ulz.decompress(blob, max_size=None)

``compress_block``/``decompress_block`` handle raw sequences without the size header, the ``*_into``
variants write into a caller's buffer, and ``open``/``Compressor``/``Decompressor`` handle the framed
``.ulz`` file format (``everybit.ulz.frame.compress``/``decompress`` do whole frames in memory).
Every decoding failure raises ``ULZError`` (a ``ValueError``).
"""

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
    xxh64,
)
from everybit.ulz.frame import (
    Compressor,
    Decompressor,
    ULZFile,
    compress_file,
    decompress_file,
    open,
)

__all__ = [
    "MAX_DISTANCE",
    "MAX_LEVEL",
    "Compressor",
    "Decompressor",
    "ULZError",
    "ULZFile",
    "compress",
    "compress_block",
    "compress_block_into",
    "compress_bound",
    "compress_file",
    "compress_into",
    "decompress",
    "decompress_block",
    "decompress_block_into",
    "decompress_file",
    "decompress_into",
    "open",
    "xxh64",
]
