"""bpez: a byte-pair-encoding pre-pass in front of deflate, smaller than gzip -9, checksummed, parallel.

The ``.bpez`` format, in the shape of python-zstandard (any buffer in, keyword-only options)::

    blob = bpez.compress(data, level=9, block_size=1 << 20, threads=0)   # threads=0: every core
    data = bpez.decompress(blob)

``open``/``BPEZFile`` give streaming file objects, ``Compressor``/``Decompressor`` streaming codecs like
``bz2``'s, ``compress_file``/``decompress_file`` whole files in bounded memory. The output is the same
for every thread count. Decoding also reads the files of the original ``bpez.py`` (no magic; detected
automatically). Every decoding failure raises ``BPEZError`` (a ``CorruptDataError``, so a
``ValueError``) naming the block and offset. Format: docs/bpez-format.md.
"""

from everybit.bpez.core import BPEZError
from everybit.bpez.format import BPEZ, BPEZFile, Compressor, Decompressor

compress, decompress, open = BPEZ.compress, BPEZ.decompress, BPEZ.open
compress_file, decompress_file = BPEZ.compress_file, BPEZ.decompress_file
MIN_LEVEL, MAX_LEVEL, DEFAULT_LEVEL = BPEZ.min_level, BPEZ.max_level, BPEZ.default_level
MIN_BLOCK_SIZE, MAX_BLOCK_SIZE = BPEZ.min_block_size, BPEZ.max_block_size
DEFAULT_BLOCK_SIZE, SUFFIX = BPEZ.default_block_size, BPEZ.suffix

__all__ = [
    "BPEZ",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_LEVEL",
    "MAX_BLOCK_SIZE",
    "MAX_LEVEL",
    "MIN_BLOCK_SIZE",
    "MIN_LEVEL",
    "SUFFIX",
    "BPEZError",
    "BPEZFile",
    "Compressor",
    "Decompressor",
    "compress",
    "compress_file",
    "decompress",
    "decompress_file",
    "open",
]
