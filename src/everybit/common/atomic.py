"""Atomic output files: a reader sees the old file or the complete new one, never a half-written one.

The data goes to a temporary file in the target's own folder (so the final rename stays on one file
system), is flushed and fsynced, then renamed over the target and the folder entry is fsynced too.
On any failure, Ctrl-C included, the temporary file is removed and the previous file is untouched.
A process killed outright (SIGKILL, power loss) can leave a ``.<name>.everybit-tmp-*`` file behind,
but never a damaged target.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from everybit.common.errors import OutputError

TMP_MARK = ".everybit-tmp-"


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _default_mode(target: Path) -> int:
    """Keep an existing file's permissions; otherwise what open() would give (0o666 minus umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    # Without this the rename itself may not survive a crash on some file systems.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new private file next to the target (tempfile.mkstemp's job, without its import cost)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name}{TMP_MARK}{os.urandom(6).hex()}"
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: cannot find a free temporary name")


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], *, overwrite: bool = True, mode: int | None = None, fsync: bool = True
) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only when the ``with`` block ends without error.

    ``overwrite=False`` refuses (``OutputError``) when ``path`` exists, checked again at the rename.
    ``mode`` sets the permission bits (default: those of the file being replaced, else umask's).
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise OutputError(f"{target}: already exists (use --force to overwrite)")
    if target.is_dir():
        raise OutputError(f"{target}: is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    perms = _default_mode(target) if mode is None else mode
    try:
        fd, tmp = _create_temp(folder, target.name)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create a file there ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, perms)
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile: no silent clobbering
            tmp.unlink()
        if fsync:
            _fsync_dir(folder)
    except FileExistsError as exc:
        raise OutputError(f"{target}: already exists (use --force to overwrite)") from exc
    except OSError as exc:
        # A full disk or quota fails inside write(), which names no file: name the output here.
        if exc.filename is None and exc.errno in _WRITE_ERRNOS:
            raise OutputError(f"{target}: {exc.strerror}") from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes | bytearray | memoryview, **kw: object
) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_write`` for the options)."""
    with atomic_write(path, **kw) as fh:  # type: ignore[arg-type]
        fh.write(data)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A fresh folder to fill that becomes ``path`` only when the ``with`` block ends without error.

    For outputs made of several files (a tokenizer or model folder): readers see the old folder or the
    complete new one. ``overwrite=False`` refuses a ``path`` that exists, unless it is an empty folder.
    """
    import shutil  # here, not at the top: codec CLIs import this module and start-up time counts

    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputError(f"{target}: already exists and is not empty (use --force to overwrite)")
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{target.name}{TMP_MARK}{os.urandom(6).hex()}"
        tmp.mkdir()
    except OSError as exc:
        raise OutputError(f"{target}: cannot create a folder there ({exc.strerror})") from exc
    old = parent / f".{target.name}{TMP_MARK}old-{os.urandom(6).hex()}"
    try:
        yield tmp
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
        _fsync_dir(parent)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
