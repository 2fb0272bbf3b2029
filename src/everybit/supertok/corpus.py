"""Training text: UTF-8 files read as newline-aligned blocks, evenly sampled down to a byte budget."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from everybit.common.errors import InputError
from everybit.common.textfiles import decode_utf8

BLOCK = 1 << 20  # bytes per block: big enough for fast bulk work, small enough to sample evenly


def _blocks(path: Path, size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) blocks of at most ~size bytes, each ending just after a newline when one is near."""
    with open(path, "rb") as f:
        offset, carry = 0, b""
        while True:
            data = carry + f.read(size)
            if not data:
                return
            cut = data.rfind(b"\n", 0, len(data)) + 1 if len(data) >= size else len(data)
            cut = cut or len(data)
            yield offset, data[:cut]
            offset, carry = offset + cut, data[cut:]


def corpus_bytes(files: Sequence[str | Path]) -> int:
    """Total size, checking every file is a readable regular file."""
    total = 0
    for path in map(Path, files):
        if not path.is_file():
            raise InputError(f"{path}: not a file" if path.exists() else f"{path}: no such file")
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: permission denied")
        total += path.stat().st_size
    return total


def read_corpus(
    files: Sequence[str | Path], sample_bytes: int | None = None, block: int = BLOCK
) -> Iterator[str]:
    """Text blocks of all files in order; when the files exceed sample_bytes, an evenly spaced subset of
    blocks of about that size (so training memory stays bounded whatever the input size)."""
    total = corpus_bytes(files)
    keep = 1.0 if not sample_bytes or total <= sample_bytes else sample_bytes / total
    budget = 0.0
    for path in map(Path, files):
        for offset, data in _blocks(path, block):
            budget += keep * len(data)
            if budget >= len(data) or keep == 1.0:
                budget -= len(data)
                yield decode_utf8(data, path, offset)
