"""ULZ: a fast byte-aligned LZ77 codec (17-bit window, no entropy coding) for Python.

The ``.ulz`` format, in the shape of python-zstandard (any buffer in, keyword-only options)::

    blob = ulz.compress(data, level=1, threads=0)   # one frame; threads=0: every core
    data = ulz.decompress(blob)                      # every frame of a .ulz file

``Compressor``/``Decompressor`` stream like ``bz2``'s, ``open`` gives a binary file object,
``compress_file``/``decompress_file`` do whole files in bounded memory, and the output is the same for
every thread count. Raw blocks with a tiny per-call cost, as ``lz4.block``, are ``everybit.ulz.block``.
Every decoding failure raises ``ULZError`` (a ``CorruptDataError``, so a ``ValueError``). Formats:
docs/ulz-format.md.
"""

from everybit.ulz import block
from everybit.ulz.block import MAX_DISTANCE, MAX_LEVEL, ULZError
from everybit.ulz.frame import ULZ, Compressor, Decompressor, ULZFile, xxh64

compress, decompress, open = ULZ.compress, ULZ.decompress, ULZ.open
compress_file, decompress_file = ULZ.compress_file, ULZ.decompress_file
DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE = (
    ULZ.default_block_size,
    ULZ.min_block_size,
    ULZ.max_block_size,
)
SUFFIX = ULZ.suffix

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "MAX_DISTANCE",
    "MAX_LEVEL",
    "MIN_BLOCK_SIZE",
    "SUFFIX",
    "ULZ",
    "Compressor",
    "Decompressor",
    "ULZError",
    "ULZFile",
    "block",
    "compress",
    "compress_file",
    "decompress",
    "decompress_file",
    "open",
    "xxh64",
]
