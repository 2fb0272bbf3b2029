"""The ``imli`` command: verbs and aliases, output formats, JSON, exit codes, keys, odd names."""

import json
import os
import subprocess

import pytest

from tests.helpers import run_everybit
from tests.imli.util import (
    BASE_TIME,
    ZPAQ,
    imli,
    imli_proc,
    make_tree,
    needs_zpaq,
    ok,
    settle,
    snapshot,
    write,
    zpaq,
    zpaq_list,
)


@pytest.fixture
def archived(tmp_path):
    make_tree(tmp_path / "tree")
    ok("a", "a.zpaq", "tree", cwd=tmp_path)
    return tmp_path


def test_aliases_do_what_their_verbs_do(archived):
    for short, long in (("l", "list"), ("t", "test"), ("c", "compare")):
        args = ["a.zpaq", "tree"] if short == "c" else ["a.zpaq"]
        assert imli(short, *args, cwd=archived) == imli(long, *args, cwd=archived)
    write(archived, "tree/more.txt", b"more\n")
    settle(archived / "tree")
    assert ok("add", "a.zpaq", "tree", cwd=archived).lines[0] == "+ tree/more.txt"
    assert ok("d", "a.zpaq", "tree/more.txt", cwd=archived).lines[0] == "- tree/more.txt"
    ok("x", "a.zpaq", "tree/docs", "-o", "x1", cwd=archived)
    ok("extract", "a.zpaq", "tree/docs", "-o", "x2", cwd=archived)
    assert snapshot(archived / "x1") == snapshot(archived / "x2")
    assert sorted(p.name for p in (archived / "x1/tree").iterdir()) == ["docs"]  # only what was asked


def test_list_lines(archived):
    res = ok("l", "a.zpaq", cwd=archived)
    assert "- 2021-06-01 12:00:00       150000  0644    1 tree/bin/random.bin" in res.lines
    assert "- 2021-06-01 12:00:00           21  0755    1 tree/bin/run.sh" in res.lines
    assert "- 2021-06-01 12:00:00            0  0644    1 tree/empty.txt" in res.lines
    assert any(line.endswith(" d0700    1 tree/private/") for line in res.lines)
    assert res.lines[-1] == "8 files, 10 dirs, 218,058 bytes (version 1 of 1)"
    only = ok("l", "a.zpaq", "tree/bin", cwd=archived).lines
    assert [line.rsplit(" ", 1)[-1] for line in only[:-1]] == [
        "tree/bin/",
        "tree/bin/random.bin",
        "tree/bin/run.sh",
    ]


def test_json_documents(archived):
    listing = json.loads(ok("l", "a.zpaq", "--json", cwd=archived).out)
    assert (listing["version"], listing["versions"], listing["total_size"]) == (1, 1, 218_058)
    by_path = {f["path"]: f for f in listing["files"]}
    assert by_path["tree/bin/run.sh"] == {
        "path": "tree/bin/run.sh",
        "type": "file",
        "size": 21,
        "date": "2021-06-01T12:00:00Z",
        "version": 1,
        "version_date": by_path["tree/bin/run.sh"]["version_date"],
        "mode": 0o755,
        "deleted": False,
    }
    assert by_path["tree/emptydir/"]["type"] == "dir"

    versions = json.loads(ok("versions", "a.zpaq", "--json", cwd=archived).out)
    [v1] = versions["versions"]
    assert (v1["version"], v1["added"], v1["deleted"], v1["data_bytes"]) == (1, 18, 0, 218_058)
    assert v1["archive_bytes"] == versions["archive_bytes"] == os.path.getsize(archived / "a.zpaq")

    tested = json.loads(ok("t", "a.zpaq", "--json", cwd=archived).out)
    assert tested == {"archive": "a.zpaq", "versions": 1, "ok": True, "tested": 8, "failed": []}


def test_versions_table(archived):
    (archived / "tree/empty.txt").unlink()
    os.utime(archived / "tree", (BASE_TIME + 5, BASE_TIME + 5))
    ok("a", "a.zpaq", "tree", cwd=archived)
    lines = ok("versions", "a.zpaq", cwd=archived).lines
    assert lines[0].split() == ["version", "date", "(UTC)", "+added", "-deleted", "data", "stored"]
    assert lines[1].split()[3:6] == ["18", "0", "218,058"]
    assert lines[2].split()[3:6] == ["1", "1", "0"]  # the folder, re-dated; the deletion
    assert lines[-1] == f"2 versions, {os.path.getsize(archived / 'a.zpaq'):,} bytes"


def test_quiet_prints_nothing(tmp_path):
    make_tree(tmp_path / "tree")
    assert ok("a", "q.zpaq", "tree", "-q", cwd=tmp_path).out == ""
    assert ok("-q", "x", "q.zpaq", "-o", "out", cwd=tmp_path).out == ""
    assert snapshot(tmp_path / "out/tree") == snapshot(tmp_path / "tree")


def test_compare(archived):
    assert ok("c", "a.zpaq", "tree", cwd=archived).lines == ["no differences from version 1"]
    os.utime(archived / "tree/docs/readme.txt", (BASE_TIME + 9, BASE_TIME + 9))
    (archived / "tree/bin/run.sh").chmod(0o700)
    (archived / "tree/empty.txt").unlink()
    write(archived, "tree/new.txt", b"new\n")
    settle(archived / "tree")
    res = imli("c", "a.zpaq", "tree", cwd=archived)
    assert res.code == 1
    assert res.lines == [
        "# tree/bin/run.sh: mode differs",
        "# tree/docs/readme.txt: date differs",
        "- tree/empty.txt: not on disk",
        "+ tree/new.txt: not in archive",
        "4 differences from version 1",
    ]


def test_errors_are_one_line(archived):
    cases = [
        (["l", "nope.zpaq"], 1, "imli: error: nope.zpaq: no such archive"),
        (["x", "a.zpaq", "no/such/file"], 1, "imli: error: a.zpaq: version 1 has no file under no/such/file"),
        (["d", "a.zpaq", "nothing"], 1, "imli: error: a.zpaq: no archived file under nothing"),
        (["a", "a.zpaq", "missing-dir"], 1, "imli: error: missing-dir: No such file or directory"),
        (["l", "a.zpaq", "--key", "pw"], 1, "imli: error: a.zpaq: wrong key or not an encrypted archive"),
        (
            ["a", "a.zpaq", "tree", "-m", "6"],
            2,
            "imli: error: argument -m/--method: method must be 0..5, not '6'",
        ),
        (
            ["x", "a.zpaq", "--until", "yesterday"],
            2,
            "imli: error: argument --until: expected a version number",
        ),
        (["l", "a.zpaq", "--until", "19000000"], 2, "imli: error: --until 19000000: not a version number"),
        (["t", "a.zpaq", "-T", "x"], 2, "imli: error: argument -T/--threads: threads must be a number >= 0"),
        (["purge", "a.zpaq"], 2, "imli: error: the following arguments are required: -o/--output"),
        ([], 2, "imli: error: the following arguments are required: VERB"),
        (["zip", "a.zpaq"], 2, "imli: error: argument VERB: invalid choice: 'zip'"),
    ]
    for args, code, start in cases:
        res = imli(*args, cwd=archived)
        assert (res.code, len(res.errors)) == (code, 1), (args, res.errors)
        assert res.errors[0].startswith(start), (args, res.errors)


def test_entry_points(archived):
    res = run_everybit("imli", "versions", str(archived / "a.zpaq"))
    assert res.returncode == 0 and res.stdout.splitlines()[-1].startswith("1 version, ")
    res = run_everybit("imli", "list", str(archived / "missing.zpaq"))
    assert res.returncode == 1 and res.stderr.startswith("everybit: error: ")
    proc = imli_proc("--help", cwd=archived)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    for verb in (
        "add (a)",
        "extract (x)",
        "list (l)",
        "test (t, check)",
        "compare (c)",
        "delete (d)",
        "purge",
        "versions",
        "diff",
        "prune",
    ):
        assert verb.encode() in out


@needs_zpaq
def test_key_is_asked_for(tmp_path):
    make_tree(tmp_path / "tree")

    def run(*args, answers):
        proc = imli_proc(*args, cwd=tmp_path, stdin=subprocess.PIPE, start_new_session=True)  # no terminal
        out, err = proc.communicate(answers, timeout=60)
        return proc.returncode, out.decode(), err.decode()

    code, _, err = run("a", "k.zpaq", "tree", "--key", answers=b"one\ntwo\n")
    assert code == 2 and "the passwords differ" in err and not (tmp_path / "k.zpaq").exists()
    code, out, _ = run("a", "k.zpaq", "tree", "--key", answers=b"pass word\npass word\n")
    assert code == 0 and "version 1" in out
    assert "tree/bin/run.sh" in zpaq_list("k.zpaq", "-key", "pass word", cwd=tmp_path)
    code, out, _ = run("l", "k.zpaq", "--key", answers=b"pass word\n")
    assert code == 0 and "tree/bin/run.sh" in out
    code, _, err = run("l", "k.zpaq", "--key", answers=b"wrong\n")
    assert code == 1 and err.splitlines()[-1] == "imli: error: k.zpaq: wrong key or not an encrypted archive"


def test_names_that_are_not_utf8(tmp_path):
    root = os.fsencode(tmp_path)
    os.makedirs(os.path.join(root, b"t"))
    with open(os.path.join(root, b"t", b"caf\xe9.txt"), "wb") as fh:  # Latin-1 name
        fh.write(b"latin-1\n")
    ok("a", "n.zpaq", "t", cwd=tmp_path)
    assert "t/caf\udce9.txt" in ok("l", "n.zpaq", cwd=tmp_path).out
    ok("x", "n.zpaq", "-o", "out", cwd=tmp_path)
    assert os.listdir(os.path.join(root, b"out", b"t")) == [b"caf\xe9.txt"]
    if ZPAQ:
        zpaq("x", "n.zpaq", "-to", "z", cwd=tmp_path)
        assert os.listdir(os.path.join(root, b"z", b"t")) == [b"caf\xe9.txt"]


def test_charter_spellings(archived):
    """docs/cli.md: -o/--out and -o/--output, -T, binary sizes, -v; the old --to warns and still works."""
    ok("x", "a.zpaq", "tree/bin", "-o", "o1", "-T", "0", "--max-memory", "1.5G", cwd=archived)
    old = ok("x", "a.zpaq", "tree/bin", "--to", "o2", cwd=archived)
    assert old.errors == [
        "imli extract: warning: --to is deprecated, use -o/--out (the old spelling goes in the next release)"
    ]
    assert snapshot(archived / "o1") == snapshot(archived / "o2")
    old = ok("purge", "a.zpaq", "--to", "p.zpaq", cwd=archived)
    assert "use -o/--output" in old.errors[0] and (archived / "p.zpaq").exists()
    checked = ok("t", "a.zpaq", "-v", cwd=archived).lines
    assert "= tree/bin/run.sh" in checked and checked[-1].endswith("8 files tested: all OK")
    res = imli("t", "a.zpaq", "--max-memory", "64k", cwd=archived)
    assert res.code == 2 and res.errors[0].startswith("imli: error: argument --max-memory: ")
    assert "at least 1M" in res.errors[0]


def test_an_existing_output_is_refused_by_every_verb_that_writes_one(archived):
    """extract, purge and prune exit 1 naming the output; add and delete append to their archive."""
    ok("x", "a.zpaq", "-o", "out", cwd=archived)
    (archived / "new.zpaq").write_bytes(b"")
    cases = [
        (["x", "a.zpaq", "tree/bin/run.sh", "-o", "out"], "out/tree/bin/run.sh: already exists"),
        (["purge", "a.zpaq", "-o", "new.zpaq"], "new.zpaq: already exists (use --force to overwrite)"),
        (["prune", "a.zpaq", "-o", "new.zpaq", "--keep-last", "1"], "new.zpaq: already exists"),
    ]
    for args, message in cases:
        res = imli(*args, cwd=archived)
        assert res.code == 1 and res.errors[-1].startswith(f"imli: error: {message}"), (args, res.errors)
    assert (archived / "new.zpaq").read_bytes() == b""
    ok("purge", "a.zpaq", "-o", "new.zpaq", "-f", cwd=archived)


def test_version(archived):
    proc = imli_proc("--version", cwd=archived)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.decode().startswith("imli (everybit ")
