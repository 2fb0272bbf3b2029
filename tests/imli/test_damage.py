"""Damaged archives: the damage is named (block offset, files affected) and everything else is recovered."""

import json

import pytest

from everybit.imli.archive import Archive
from tests.imli.util import BASE_TIME, ZPAQ, imli, noise, ok, text, write, zpaq


@pytest.fixture
def two_versions(tmp_path):
    """v1: a.txt and b.bin in one d block; v2: c.txt in another."""
    write(tmp_path, "t/a.txt", text(40_000, 1))
    write(tmp_path, "t/b.bin", noise(30_000, 2))
    ok("a", "dmg.zpaq", "t", cwd=tmp_path)
    write(tmp_path, "t/c.txt", text(20_000, 3), when=BASE_TIME + 60)
    ok("a", "dmg.zpaq", "t", cwd=tmp_path)
    return tmp_path


def flip(path, offset, count=4):
    blob = bytearray(path.read_bytes())
    for k in range(count):
        blob[offset + k] ^= 0x5A
    path.write_bytes(bytes(blob))


def d_block_of(tmp_path, name):
    journal = Archive(tmp_path / "dmg.zpaq").journal()
    entry = journal.state()[name]
    frag = journal.fragments[entry.fragments[0]]
    return frag.block, frag.block_size


def test_flipped_d_block_names_files_and_recovers_the_rest(two_versions):
    tmp = two_versions
    offset, size = d_block_of(tmp, "t/a.txt")
    flip(tmp / "dmg.zpaq", offset + size // 2)

    res = imli("t", "dmg.zpaq", cwd=tmp)
    assert res.code == 1
    assert res.lines == ["dmg.zpaq: 2 versions, 3 files tested: 2 damaged"]
    # one line per damaged block, naming the files it takes with it
    assert len(res.errors) == 1
    assert res.errors[0].startswith(f"imli: error: dmg.zpaq: d block at offset {offset}: SHA-1")
    assert res.errors[0].endswith(("(2 files: t/a.txt, t/b.bin)", "(2 files: t/b.bin, t/a.txt)"))

    doc = json.loads(imli("t", "dmg.zpaq", "--json", cwd=tmp).out)
    assert doc["ok"] is False and doc["tested"] == 3
    assert sorted(f["path"] for f in doc["failed"]) == ["t/a.txt", "t/b.bin"]

    res = imli("x", "dmg.zpaq", "-o", "out", cwd=tmp)
    assert res.code == 1 and len(res.errors) == 1
    assert (tmp / "out/t/c.txt").read_bytes() == (tmp / "t/c.txt").read_bytes()
    assert not (tmp / "out/t/a.txt").exists() and not (tmp / "out/t/b.bin").exists()  # no partial files
    assert res.lines[-1] == "dmg.zpaq: extracted 1 file of version 2 into out, 2 failed"

    if ZPAQ:
        assert zpaq("x", "dmg.zpaq", "-test", cwd=tmp, check=False).returncode != 0  # zpaq agrees


def test_damaged_index_stops_reading_and_add_refuses(two_versions):
    tmp = two_versions
    size = (tmp / "dmg.zpaq").stat().st_size
    flip(tmp / "dmg.zpaq", size - 40)  # inside the last version's i block
    before = (tmp / "dmg.zpaq").read_bytes()

    # readers print what they could read, then one error line naming the damaged block: exit 1
    res = imli("l", "dmg.zpaq", cwd=tmp)
    assert res.code == 1 and res.lines[-1].endswith("(version 1 of 1)")
    assert len(res.errors) == 1
    assert res.errors[0].startswith("imli: error: dmg.zpaq: i block")
    assert res.errors[0].endswith("(only the versions before it were read)")
    res = imli("t", "dmg.zpaq", cwd=tmp)
    assert res.code == 1 and len(res.errors) == 1 and "i block" in res.errors[0]

    write(tmp, "t/d.txt", b"more\n", when=BASE_TIME + 120)
    res = imli("a", "dmg.zpaq", "t", cwd=tmp)
    assert res.code == 1 and len(res.errors) == 1
    assert res.errors[0].startswith("imli: error: dmg.zpaq: i block")
    assert res.errors[0].endswith("(not appending: the archive is damaged there)")
    assert (tmp / "dmg.zpaq").read_bytes() == before


def test_truncated_archive(two_versions):
    tmp = two_versions
    data = (tmp / "dmg.zpaq").read_bytes()
    v2 = Archive(tmp / "dmg.zpaq").versions()[1].offset
    (tmp / "dmg.zpaq").write_bytes(data[: v2 + 300])
    res = imli("x", "dmg.zpaq", "-o", "out", cwd=tmp)  # version 1 restored, then exit 1
    assert res.code == 1 and len(res.errors) == 1 and "damaged data at offset" in res.err
    assert sorted(p.name for p in (tmp / "out/t").iterdir()) == ["a.txt", "b.bin"]


def test_not_an_archive(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"hello, this is not an archive at all\n")
    res = imli("l", "notes.txt", cwd=tmp_path)
    assert (res.code, res.errors) == (
        1,
        ["imli: error: notes.txt: encrypted, or not a ZPAQ archive (no key given)"],
    )
    (tmp_path / "z.zpaq").write_bytes(b"zPQ" + bytes(500))
    res = imli("l", "z.zpaq", cwd=tmp_path)
    assert res.code == 1 and res.errors[0].startswith("imli: error: z.zpaq: not a ZPAQ archive")
    res = imli("t", "missing.zpaq", cwd=tmp_path)
    assert (res.code, res.errors) == (1, ["imli: error: missing.zpaq: no such archive"])
