"""Shared helpers of the imli tests: sample trees, snapshots, the real zpaq binary, the CLI in-process."""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from everybit.common.cli import run_tool
from tests.helpers import ROOT

ZPAQ = shutil.which("zpaq") or ("/usr/bin/zpaq" if os.path.exists("/usr/bin/zpaq") else None)
needs_zpaq = pytest.mark.skipif(ZPAQ is None, reason="the zpaq binary is not installed")

BASE_TIME = 1_622_548_800  # 2021-06-01 12:00:00 UTC: files get fixed dates, so "changed" is deterministic


def text(n: int, seed: int = 0) -> bytes:
    """``n`` bytes of compressible, deterministic text."""
    rng = random.Random(seed)
    words = b"archive journal fragment block version deduplicate zpaq imli the of and to a".split()
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])


def noise(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def write(root: Path, name: str, data: bytes, mode: int = 0o644, when: int = BASE_TIME) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, (when, when))
    return path


def make_tree(root: Path, scale: int = 1) -> Path:
    """A tree with text, binary, unicode names, an empty file, an empty folder and several modes.
    ``scale`` multiplies the bigger files (1: about 300 KB)."""
    write(root, "docs/readme.txt", text(60_000 * scale, 1))
    write(root, "docs/café €.txt", "unicode: café, 日本語\n".encode())
    write(root, "docs/日本語/ファイル.txt", text(3_000, 2))
    write(root, "bin/random.bin", noise(150_000 * scale, 3))
    write(root, "bin/run.sh", b"#!/bin/sh\necho hello\n", mode=0o755)
    write(root, "private/secret.txt", b"top secret\n", mode=0o600)
    write(root, "nested/a/b/c/deep.txt", text(5_000, 4))
    write(root, "empty.txt", b"")
    (root / "emptydir").mkdir(parents=True, exist_ok=True)
    (root / "private").chmod(0o700)
    return settle(root)


def settle(root: Path, when: int = BASE_TIME) -> Path:
    """Give ``root`` and every folder under it a fixed date (creating or removing a file re-dates its
    folder, so a test that crosses a second would otherwise see the folder as changed)."""
    for folder in [*sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True), root]:
        os.utime(folder, (when, when))
    return root


def small_tree(root: Path) -> Path:
    """A tree of about 25 KB (for zpaq's slow methods 4 and 5)."""
    write(root, "docs/readme.txt", text(16_000, 1))
    write(root, "docs/café €.txt", "unicode: café, 日本語\n".encode())
    write(root, "bin/random.bin", noise(6_000, 3))
    write(root, "bin/run.sh", b"#!/bin/sh\necho hello\n", mode=0o755)
    write(root, "empty.txt", b"")
    (root / "emptydir").mkdir(parents=True, exist_ok=True)
    return settle(root)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root``: (content, mode, mtime) for files, ("dir", mode) for folders."""
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISDIR(st.st_mode):
            out[name + "/"] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[name] = (path.read_bytes(), stat.S_IMODE(st.st_mode), int(st.st_mtime))
    return out


# ---------------------------------------------------------------------------------------------- zpaq


def zpaq(*args: str, cwd: Path, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [ZPAQ, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"zpaq {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


_ZPAQ_LINE = re.compile(r"^- (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\d+) ([d ])(\d{4}) (.+)$")


def zpaq_list(archive: str, *opts: str, cwd: Path) -> dict[str, tuple[int, int] | str]:
    """``zpaq l``: name -> (size, mode) for files, "dir" for folders."""
    out: dict[str, tuple[int, int] | str] = {}
    for line in zpaq("l", archive, *opts, cwd=cwd).stdout.splitlines():
        found = _ZPAQ_LINE.match(line)
        if found:
            _, size, kind, mode, name = found.groups()
            out[name] = "dir" if kind == "d" else (int(size), int(mode, 8))
    return out


def zpaq_versions(archive: str, *opts: str, cwd: Path) -> int:
    head = zpaq("l", archive, *opts, cwd=cwd).stdout
    return int(re.search(r"(\d+) versions, \d+ files", head)[1])  # after "Incomplete transaction ignored"


# ---------------------------------------------------------------------------------------------- imli


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def errors(self) -> list[str]:
        return self.err.splitlines()


def imli(*args: str, cwd: Path) -> Result:
    """``imli ARGS`` run in this process (fast), in folder ``cwd``; never raises SystemExit."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run_tool("imli", [str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(old)
    out.flush()
    err.flush()
    decode = lambda s: s.buffer.getvalue().decode("utf-8", "surrogateescape")  # noqa: E731
    return Result(code, decode(out), decode(err))


def ok(*args: str, cwd: Path) -> Result:
    """``imli ARGS`` that must succeed."""
    res = imli(*args, cwd=cwd)
    assert res.code == 0, f"imli {' '.join(map(str, args))} exited {res.code}: {res.err}"
    return res


def imli_proc(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    """The real ``imli`` entry point in a child process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env["EVERYBIT_NO_PROGRESS"] = "1"
    runner = "from everybit.imli.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", runner, *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=kw.pop("stderr", subprocess.PIPE),
        **kw,
    )
