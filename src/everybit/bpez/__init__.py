"""bpez: a byte-pair-encoding pre-pass in front of deflate, smaller than gzip -9, checksummed, parallel.

One-shot API (any buffer-protocol input)::

    blob = bpez.compress(data, level=9, block_size=1 << 20, threads=0)   # threads=0: every core
    data = bpez.decompress(blob, threads=0)

``open``/``BPEZFile`` give streaming file objects, ``Compressor``/``Decompressor`` streaming codecs like
``bz2``'s, ``compress_file``/``decompress_file`` whole files in bounded memory. The output is the same
for every thread count. Decoding also reads the files of the original ``bpez.py`` (no magic; detected
automatically). Every decoding failure raises ``BPEZError`` (a ``CorruptDataError``, so a
``ValueError``) naming the block and offset. Format: docs/bpez-format.md.
"""

from everybit.bpez.core import BPEZError
from everybit.bpez.format import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_LEVEL,
    MAX_BLOCK_SIZE,
    MAX_LEVEL,
    MIN_BLOCK_SIZE,
    SUFFIX,
    BPEZFile,
    Compressor,
    Decompressor,
    compress,
    compress_file,
    decompress,
    decompress_file,
    open,
)

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_LEVEL",
    "MAX_BLOCK_SIZE",
    "MAX_LEVEL",
    "MIN_BLOCK_SIZE",
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
