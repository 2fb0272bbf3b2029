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


def target_path(root: str | os.PathLike[str], name: str) -> str:
    """Where archived ``name`` goes under ``root`` (no file system access); InputError if it would
    leave ``root``. Paths are strings: pathlib cost more than the checks on trees of small files."""
    stripped = name.rstrip("/")
    if len(stripped) >= 2 and stripped[1] == ":":  # a Windows drive letter, as zpaq on Windows stores
        stripped = stripped[2:]
    parts = [p for p in stripped.split("/") if p not in ("", ".")]  # as PurePosixPath reads the name
    if not parts or ".." in parts or "\x00" in name:
        raise InputError(f"{name!r}: unsafe name in archive (refused)")
    return os.path.join(os.fspath(root), *parts)


def check_target(root: str | os.PathLike[str], name: str, target: str, checked: set[str] | None) -> None:
    """InputError when a folder on the way from ``root`` to ``target`` (or ``target`` itself) is a
    symbolic link. ``checked`` remembers folders already found to be real directories (one extract
    writes many files per folder: each folder is checked once, not once per file)."""
    top = os.fspath(root)
    probe = os.path.dirname(target)
    todo = []
    while len(probe) > len(top) and (checked is None or probe not in checked):
        todo.append(probe)
        probe = os.path.dirname(probe)
    for folder in reversed(todo):
        if os.path.islink(folder):
            raise InputError(f"{name!r}: path goes through the symbolic link {folder} (refused)")
        if checked is not None and os.path.isdir(folder):
            checked.add(folder)
    if os.path.islink(target):
        raise InputError(f"{name!r}: target {target} is a symbolic link (refused)")


def safe_target(root: str | os.PathLike[str], name: str, checked: set[str] | None = None) -> Path:
    """``root/name`` for an archived ``name``, checked: InputError if it would leave ``root``."""
    target = target_path(root, name)
    check_target(root, name, target, checked)
    return Path(target)


def set_metadata(path: Path, mode: int | None, mtime: float) -> None:
    """Unix permission bits (never set-id bits from an archive) and the modification time."""
    if mode is not None:
        os.chmod(path, mode & 0o777)
    os.utime(path, (mtime, mtime))
