"""Where an archived name may be written: always inside the target folder.

Archived names come from whoever made the archive. An absolute name is made relative to the target
(as ``zpaq x -to`` does), a name with a ``..`` component or an empty one is refused, and no
component on the way may be a symbolic link (an archive could first create ``dir -> /etc`` and then
write ``dir/passwd``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from everybit.common.errors import InputError


def safe_target(root: Path, name: str, checked: set[Path] | None = None) -> Path:
    """``root/name`` for an archived ``name``; InputError if it would leave ``root``.

    ``checked`` remembers folders already found to be real directories inside ``root`` (one extract
    writes many files per folder: each folder is checked once, not once per file)."""
    stripped = name.rstrip("/")
    parts = PurePosixPath(stripped.lstrip("/")).parts
    if len(stripped) >= 2 and stripped[1] == ":":  # a Windows drive letter, as zpaq on Windows stores
        parts = PurePosixPath(stripped[2:].lstrip("/")).parts
    if not parts or any(p in ("..", "") for p in parts) or "\x00" in name:
        raise InputError(f"{name!r}: unsafe name in archive (refused)")
    target = root.joinpath(*parts)
    probe = root
    for part in parts[:-1]:
        probe = probe / part
        if checked is not None and probe in checked:
            continue
        if probe.is_symlink():
            raise InputError(f"{name!r}: path goes through the symbolic link {probe} (refused)")
        if checked is not None and probe.is_dir():
            checked.add(probe)
    if target.is_symlink():
        raise InputError(f"{name!r}: target {target} is a symbolic link (refused)")
    return target


def set_metadata(path: Path, mode: int | None, mtime: float) -> None:
    """Unix permission bits (never set-id bits from an archive) and the modification time."""
    if mode is not None:
        os.chmod(path, mode & 0o777)
    os.utime(path, (mtime, mtime))
