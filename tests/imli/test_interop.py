"""imli and the real zpaq 7.15 binary read and extend each other's archives, methods 0 to 5, keys too."""

import json
import os
import shutil

import pytest

from tests.imli.util import (
    BASE_TIME,
    imli,
    make_tree,
    needs_zpaq,
    noise,
    ok,
    settle,
    small_tree,
    snapshot,
    text,
    write,
    zpaq,
    zpaq_list,
    zpaq_versions,
)

pytestmark = needs_zpaq


def files_of(tree_snapshot: dict) -> dict:
    """What both tools must agree on: names, sizes and modes."""
    return {
        name: "dir" if entry[0] == "dir" else (len(entry[0]), entry[1])
        for name, entry in tree_snapshot.items()
    }


def imli_listing(archive: str, *opts: str, cwd) -> dict:
    doc = json.loads(ok("list", archive, "--json", *opts, cwd=cwd).out)
    return {
        f["path"]: "dir" if f["type"] == "dir" else (f["size"], f["mode"])
        for f in doc["files"]
        if not f["deleted"]
    }


@pytest.mark.parametrize("method", range(6))
def test_zpaq_writes_imli_reads(tmp_path, method):
    (small_tree if method >= 4 else make_tree)(tmp_path / "tree")
    want = snapshot(tmp_path / "tree")
    zpaq("a", "z.zpaq", "tree", f"-m{method}", cwd=tmp_path)

    listing = imli_listing("z.zpaq", cwd=tmp_path)
    assert listing == {"tree/": "dir", **{f"tree/{k}": v for k, v in files_of(want).items()}}
    assert ok("test", "z.zpaq", cwd=tmp_path).lines[-1].endswith("tested: all OK")
    ok("x", "z.zpaq", "-o", "out", cwd=tmp_path)
    assert snapshot(tmp_path / "out" / "tree") == want


@pytest.mark.parametrize("method", range(6))
def test_imli_writes_zpaq_reads(tmp_path, method):
    (small_tree if method >= 4 else make_tree)(tmp_path / "tree")
    want = snapshot(tmp_path / "tree")
    ok("a", "i.zpaq", "tree", "-m", str(method), cwd=tmp_path)

    listed = zpaq_list("i.zpaq", cwd=tmp_path)
    assert {k: v for k, v in listed.items() if v != "dir"} == {
        f"tree/{k}": v for k, v in files_of(want).items() if v != "dir"
    }
    assert {k for k, v in listed.items() if v == "dir"} == {"tree/"} | {
        f"tree/{k}" for k, v in want.items() if v[0] == "dir"
    }
    zpaq("x", "i.zpaq", "-test", cwd=tmp_path)
    zpaq("x", "i.zpaq", "-to", "out", cwd=tmp_path)
    assert snapshot(tmp_path / "out" / "tree") == want


def change_tree(root, step):
    """Version ``step`` of the tree: an edited file, a new one, a deleted one."""
    write(root, "docs/readme.txt", text(60_000, 1) + b"edit %d\n" % step, when=BASE_TIME + 100 * step)
    write(root, f"new/file{step}.txt", b"new in step %d\n" % step, when=BASE_TIME + 100 * step)
    victims = {1: "bin/run.sh", 2: "private/secret.txt", 3: "nested/a/b/c/deep.txt"}
    (root / victims[step]).unlink()


def test_appending_both_ways_and_rollback(tmp_path):
    tree = make_tree(tmp_path / "tree")
    states = [snapshot(tree)]
    ok("a", "mixed.zpaq", "tree", "-m", "2", cwd=tmp_path)  # version 1: imli
    change_tree(tree, 1)
    states.append(snapshot(tree))
    zpaq("a", "mixed.zpaq", "tree", "-m1", cwd=tmp_path)  # version 2: zpaq appends to imli's archive
    change_tree(tree, 2)
    states.append(snapshot(tree))
    add = ok("a", "mixed.zpaq", "tree", cwd=tmp_path)  # version 3: imli appends to zpaq's update
    assert "- tree/private/secret.txt" in add.lines
    assert add.lines[-1].startswith("mixed.zpaq: version 3: ")
    change_tree(tree, 3)
    states.append(snapshot(tree))
    zpaq("a", "mixed.zpaq", "tree", "-m3", cwd=tmp_path)  # version 4: zpaq again

    assert zpaq_versions("mixed.zpaq", cwd=tmp_path) == 4
    versions = json.loads(ok("versions", "mixed.zpaq", "--json", cwd=tmp_path).out)["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert [v["deleted"] for v in versions] == [0, 1, 1, 1]
    for n, want in enumerate(states, 1):
        ok("x", "mixed.zpaq", "--until", str(n), "-o", f"imli{n}", cwd=tmp_path)
        assert snapshot(tmp_path / f"imli{n}" / "tree") == want
        zpaq("x", "mixed.zpaq", "-until", str(n), "-to", f"zpaq{n}", cwd=tmp_path)
        assert snapshot(tmp_path / f"zpaq{n}" / "tree") == want
    ok("test", "mixed.zpaq", cwd=tmp_path)
    zpaq("x", "mixed.zpaq", "-test", cwd=tmp_path)


def test_rollback_by_date_and_deletions(tmp_path):
    tree = make_tree(tmp_path / "tree")
    ok("a", "d.zpaq", "tree", cwd=tmp_path)
    (tree / "bin" / "random.bin").unlink()
    add = ok("a", "d.zpaq", "tree", cwd=tmp_path)
    assert "- tree/bin/random.bin" in add.lines
    deleted = ok("delete", "d.zpaq", "tree/docs", cwd=tmp_path)
    assert deleted.lines[-1] == "d.zpaq: version 3: 5 -removed"  # docs/, 2 folders, 3 files

    assert "tree/bin/random.bin" not in zpaq_list("d.zpaq", cwd=tmp_path)
    assert not any(n.startswith("tree/docs") for n in zpaq_list("d.zpaq", cwd=tmp_path))
    assert "tree/bin/random.bin" in zpaq_list("d.zpaq", "-until", "1", cwd=tmp_path)
    assert "tree/docs/readme.txt" in imli_listing("d.zpaq", "--until", "2", cwd=tmp_path)
    assert "tree/docs/readme.txt" not in imli_listing("d.zpaq", cwd=tmp_path)

    dates = [v["date"] for v in json.loads(ok("versions", "d.zpaq", "--json", cwd=tmp_path).out)["versions"]]
    assert dates == sorted(set(dates))  # strictly increasing, as zpaq keeps them
    first = dates[0].replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
    listing = ok("l", "d.zpaq", "--until", first, cwd=tmp_path)
    assert listing.lines[-1].endswith("(version 1 of 3)")
    assert ok("l", "d.zpaq", "--until", "20000101", cwd=tmp_path).lines[-1].endswith("(version 0 of 3)")

    everything = ok("l", "d.zpaq", "--all", cwd=tmp_path).lines
    assert sum("deleted" in line and "tree/docs/" in line for line in everything) == 5
    assert any(line.endswith("2 tree/bin/random.bin") and "deleted" in line for line in everything)


def test_dedup_identical_and_shifted_files(tmp_path):
    from everybit.imli.archive import Archive

    blob = noise(1_500_000, 7)
    write(tmp_path, "t/a.bin", blob)
    write(tmp_path, "t/b.bin", blob)  # identical: shares every fragment
    settle(tmp_path / "t")
    ok("a", "dd.zpaq", "t", "-m", "0", cwd=tmp_path)
    one = os.path.getsize(tmp_path / "dd.zpaq")
    assert one < len(blob) * 1.01

    journal = Archive(tmp_path / "dd.zpaq").journal()
    state = journal.state()
    assert state["t/a.bin"].fragments == state["t/b.bin"].fragments
    assert len(state["t/a.bin"].fragments) > 10  # content-defined, about 64 KiB each

    shifted = blob[:700_000] + b"inserted bytes!" * 7 + blob[700_000:]
    write(tmp_path, "t/c.bin", shifted)
    settle(tmp_path / "t")
    add = ok("a", "dd.zpaq", "t", "-m", "0", cwd=tmp_path)
    assert add.lines == ["+ t/c.bin", add.lines[-1]]
    grown = os.path.getsize(tmp_path / "dd.zpaq") - one
    assert grown < 300_000  # about one or two fragments, not 1.5 MB
    state = Archive(tmp_path / "dd.zpaq").journal().state()
    old, new = set(state["t/a.bin"].fragments), state["t/c.bin"].fragments
    assert sum(f in old for f in new) >= len(new) - 3

    zpaq("x", "dd.zpaq", "-to", "out", cwd=tmp_path)
    assert (tmp_path / "out/t/c.bin").read_bytes() == shifted
    assert (tmp_path / "out/t/b.bin").read_bytes() == blob


def test_unchanged_files_are_not_stored_again(tmp_path):
    make_tree(tmp_path / "tree")
    ok("a", "u.zpaq", "tree", cwd=tmp_path)
    size = os.path.getsize(tmp_path / "u.zpaq")
    again = ok("a", "u.zpaq", "tree", cwd=tmp_path)
    assert again.lines == ["u.zpaq: no changes, still at version 1"]
    assert os.path.getsize(tmp_path / "u.zpaq") == size
    (tmp_path / "tree/bin/run.sh").chmod(0o700)  # a new mode alone is a change
    assert ok("a", "u.zpaq", "tree", cwd=tmp_path).lines[0] == "+ tree/bin/run.sh"
    assert zpaq_list("u.zpaq", cwd=tmp_path)["tree/bin/run.sh"][1] == 0o700


def test_encryption_both_ways(tmp_path):
    tree = make_tree(tmp_path / "tree")
    want = snapshot(tree)
    ok("a", "ik.zpaq", "tree", "--key", "s3cret pass", cwd=tmp_path)
    assert b"readme" not in (tmp_path / "ik.zpaq").read_bytes()
    zpaq("x", "ik.zpaq", "-key", "s3cret pass", "-to", "z", cwd=tmp_path)
    assert snapshot(tmp_path / "z/tree") == want
    assert zpaq("l", "ik.zpaq", "-key", "wrong", cwd=tmp_path, check=False).returncode != 0

    zpaq("a", "zk.zpaq", "tree", "-key", "пароль", "-m2", cwd=tmp_path)
    ok("x", "zk.zpaq", "--key", "пароль", "-o", "i", cwd=tmp_path)
    assert snapshot(tmp_path / "i/tree") == want

    # each appends to the other's encrypted archive
    write(tree, "later.txt", b"added later\n", when=BASE_TIME + 500)
    zpaq("a", "ik.zpaq", "tree", "-key", "s3cret pass", cwd=tmp_path)
    write(tree, "later2.txt", b"added later still\n", when=BASE_TIME + 600)
    ok("a", "zk.zpaq", "tree", "--key", "пароль", cwd=tmp_path)
    assert "tree/later.txt" in imli_listing("ik.zpaq", "--key", "s3cret pass", cwd=tmp_path)
    assert zpaq_list("zk.zpaq", "-key", "пароль", cwd=tmp_path)["tree/later2.txt"] == (18, 0o644)
    ok("test", "ik.zpaq", "--key", "s3cret pass", cwd=tmp_path)
    zpaq("x", "zk.zpaq", "-key", "пароль", "-test", cwd=tmp_path)

    wrong = imli("l", "zk.zpaq", "--key", "nope", cwd=tmp_path)
    assert (wrong.code, wrong.errors) == (1, ["imli: error: zk.zpaq: wrong key or not an encrypted archive"])
    before = (tmp_path / "zk.zpaq").read_bytes()
    for args in (["l", "zk.zpaq"], ["a", "zk.zpaq", "tree"]):  # no key: refused, never truncated
        res = imli(*args, cwd=tmp_path)
        assert res.code == 1 and "encrypted, or not a ZPAQ archive (no key given)" in res.err
    assert (tmp_path / "zk.zpaq").read_bytes() == before


def test_purge_keeps_one_version(tmp_path):
    tree = make_tree(tmp_path / "tree")
    want = snapshot(tree)
    ok("a", "p.zpaq", "tree", cwd=tmp_path)
    shutil.rmtree(tree / "docs")
    ok("a", "p.zpaq", "tree", cwd=tmp_path)
    res = ok("purge", "p.zpaq", "-o", "one.zpaq", "--until", "1", "-m", "2", cwd=tmp_path)
    assert res.lines[0].startswith("one.zpaq: version 1 of p.zpaq (8 files), ")
    assert zpaq_versions("one.zpaq", cwd=tmp_path) == 1
    zpaq("x", "one.zpaq", "-to", "out", cwd=tmp_path)
    assert {k: v for k, v in snapshot(tmp_path / "out/tree").items() if v[0] != "dir"} == {
        k: v for k, v in want.items() if v[0] != "dir"
    }
    again = imli("purge", "p.zpaq", "-o", "one.zpaq", cwd=tmp_path)
    assert again.code == 1 and again.errors == [
        "imli: error: one.zpaq: already exists (use --force to overwrite)"
    ]
    ok("purge", "p.zpaq", "-o", "one.zpaq", "-f", cwd=tmp_path)
    assert "tree/docs/readme.txt" not in zpaq_list("one.zpaq", cwd=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if "everybit-tmp" in p.name] == []
