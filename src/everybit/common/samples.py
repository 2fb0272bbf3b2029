"""Built-in inputs for demos: real text every machine with Python has, read the same way everywhere."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from everybit.common.errors import DataUnavailableError


def stdlib_files(limit: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of the stdlib's top-level ``*.py`` files in name order, until ``limit`` bytes are had."""
    found, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        data = path.read_bytes()
        found.append((path.name, data))
        size += len(data)
        if size >= limit:
            return found
    raise DataUnavailableError(f"the Python standard library sources hold under {limit:,} bytes here")


def stdlib_sample(limit: int) -> bytes:
    """Exactly ``limit`` bytes of those files, concatenated."""
    return b"".join(data for _, data in stdlib_files(limit))[:limit]
