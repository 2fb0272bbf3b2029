"""Extract never writes outside its target: hostile names, symbolic links, existing files, partial files."""

import hashlib
import os
from pathlib import Path

from everybit.common.atomic import TMP_MARK
from everybit.imli.journal import Entry, c_block, d_block_data, h_block_data, i_record, journal_block
from tests.imli.util import imli, needs_zpaq, ok, write, zpaq, zpaq_list

DATE = 20210601120000
FILE = b"u" + (0o100644).to_bytes(2, "little")
DIR = b"u" + (0o040755).to_bytes(2, "little")


def craft(path: Path, files: list[tuple[str, bytes | None]], attr: bytes = FILE) -> Path:
    """A one-version archive, written with imli's own block writers, holding ``files`` as named
    (``None``: a folder) whatever the names say."""
    fragments, entries = [], []
    for name, data in files:
        if data is None:
            entries.append(Entry(name, DATE, DIR, [], 1))
        else:
            fragments.append(data)
            entries.append(Entry(name, DATE, attr, [len(fragments)], 1))
    d = journal_block(DATE, "d", 1, d_block_data(fragments))
    h = journal_block(
        DATE, "h", 1, h_block_data(len(d), [(hashlib.sha1(f).digest(), len(f)) for f in fragments])
    )
    i = journal_block(DATE, "i", 1, b"".join(i_record(e) for e in entries))
    path.write_bytes(c_block(DATE, 1, len(d)) + d + h + i)
    return path


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if TMP_MARK in p.name]


HOSTILE = [
    ("ok/good.txt", b"good\n"),
    ("../evil.txt", b"evil\n"),
    ("ok/../../evil2.txt", b"evil\n"),
    ("../evildir/", None),
    ("/abs/file.txt", b"absolute\n"),
    ("C:/win/file.txt", b"drive letter\n"),
]


def test_hostile_names_are_refused_or_kept_inside(tmp_path):
    craft(tmp_path / "hostile.zpaq", HOSTILE)
    (tmp_path / "out").mkdir()
    res = imli("x", "hostile.zpaq", "-o", "out", cwd=tmp_path)
    assert res.code == 1
    assert sorted(res.errors) == [
        "imli: error: '../evil.txt': unsafe name in archive (refused)",
        "imli: error: '../evildir/': unsafe name in archive (refused)",
        "imli: error: 'ok/../../evil2.txt': unsafe name in archive (refused)",
    ]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "hostile.zpaq",
        "out/abs/file.txt",  # absolute names land inside the target, as with zpaq x -to
        "out/ok/good.txt",
        "out/win/file.txt",
    ]
    assert not (tmp_path / "evildir").exists()
    assert res.lines[-1] == "hostile.zpaq: extracted 3 files of version 1 into out, 3 failed"


def test_names_through_symbolic_links_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside)
    (out / "victim").symlink_to(outside / "victim")
    craft(tmp_path / "s.zpaq", [("link/passwd", b"pwned\n"), ("victim", b"pwned\n"), ("fine.txt", b"ok\n")])
    res = imli("x", "s.zpaq", "-o", "out", "-f", cwd=tmp_path)
    assert res.code == 1
    assert len(res.errors) == 2 and all("symbolic link" in line for line in res.errors)
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_bytes() == b"precious\n"
    assert (out / "victim").is_symlink() and (out / "fine.txt").read_bytes() == b"ok\n"


def test_existing_files_need_force_and_are_replaced_atomically(tmp_path):
    write(tmp_path, "t/a.txt", b"archived\n")
    write(tmp_path, "t/b.txt", b"archived too\n")
    ok("a", "o.zpaq", "t", cwd=tmp_path)
    out = tmp_path / "out"
    write(out, "t/a.txt", b"local edit\n")
    res = imli("x", "o.zpaq", "-o", "out", cwd=tmp_path)
    assert res.code == 1
    assert res.errors == ["imli: error: out/t/a.txt: already exists (use --force to overwrite)"]
    assert (out / "t/a.txt").read_bytes() == b"local edit\n"
    assert (out / "t/b.txt").read_bytes() == b"archived too\n"  # the others are still extracted

    os.link(out / "t/a.txt", tmp_path / "alias")  # a second name for the old file's inode
    ok("x", "o.zpaq", "-o", "out", "-f", cwd=tmp_path)
    assert (out / "t/a.txt").read_bytes() == b"archived\n"
    assert (tmp_path / "alias").read_bytes() == b"local edit\n"  # replaced by rename, never rewritten
    assert no_temp_files(tmp_path)


def test_set_id_bits_are_not_restored(tmp_path):
    craft(tmp_path / "suid.zpaq", [("tool", b"#!/bin/sh\n")], attr=b"u" + (0o104755).to_bytes(2, "little"))
    ok("x", "suid.zpaq", "-o", "out", cwd=tmp_path)
    assert (tmp_path / "out/tool").stat().st_mode & 0o7777 == 0o755


@needs_zpaq
def test_crafted_archive_is_valid_zpaq(tmp_path):
    craft(tmp_path / "c.zpaq", [("d/", None), ("d/x.txt", b"x\n"), ("y.txt", b"")])
    assert zpaq_list("c.zpaq", cwd=tmp_path) == {"d/": "dir", "d/x.txt": (2, 0o644), "y.txt": (0, 0o644)}
    zpaq("x", "c.zpaq", "-test", cwd=tmp_path)
