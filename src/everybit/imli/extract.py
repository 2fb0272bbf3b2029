"""Where an archived name may be written: always inside the target folder.

Archived names come from whoever made the archive. An absolute name is made relative to the target
(as ``zpaq x -to`` does), a name with a ``..`` component or an empty one is refused, and no
component on the way may be a symbolic link (an archive could first create ``dir -> /etc`` and then
write ``dir/passwd``).
"""

from __future__ import annotations

import os
from pathlib import Path

from everybit.common.errors import InputError


def safe_target(root: Path, name: str, checked: set[str] | None = None) -> Path:
    """``root/name`` for an archived ``name``; InputError if it would leave ``root``.

    ``checked`` remembers folders already found to be real directories inside ``root`` (one extract
    writes many files per folder: each folder is checked once, not once per file). Paths are handled
    as strings: pathlib cost more than the checks themselves on trees of many small files."""
    stripped = name.rstrip("/")
    if len(stripped) >= 2 and stripped[1] == ":":  # a Windows drive letter, as zpaq on Windows stores
        stripped = stripped[2:]
    parts = [p for p in stripped.split("/") if p not in ("", ".")]  # as PurePosixPath reads the name
    if not parts or ".." in parts or "\x00" in name:
        raise InputError(f"{name!r}: unsafe name in archive (refused)")
    probe = os.fspath(root)
    for part in parts[:-1]:
        probe = os.path.join(probe, part)
        if checked is not None and probe in checked:
            continue
        if os.path.islink(probe):
            raise InputError(f"{name!r}: path goes through the symbolic link {probe} (refused)")
        if checked is not None and os.path.isdir(probe):
            checked.add(probe)
    target = os.path.join(probe, parts[-1])
    if os.path.islink(target):
        raise InputError(f"{name!r}: target {target} is a symbolic link (refused)")
    return Path(target)


def set_metadata(path: Path, mode: int | None, mtime: float) -> None:
    """Unix permission bits (never set-id bits from an archive) and the modification time."""
    if mode is not None:
        os.chmod(path, mode & 0o777)
    os.utime(path, (mtime, mtime))
