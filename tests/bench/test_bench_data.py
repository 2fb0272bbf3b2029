"""bench.data: cached atomic builds, the debtext recipe and clear failures, all offline."""

import gzip
import json
import os
import stat
import sys

import pytest

from bench import data
from bench.__main__ import main
from bench.data import DataUnavailable


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("EVERYBIT_CACHE", str(folder))
    return folder


def fake_tools(tmp_path, monkeypatch, **scripts):
    """PATH holding only the given fake commands (name -> shell body), so no real apt is ever reached."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        script = bindir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bindir))


def count_builds(monkeypatch):
    calls = []
    real = data._build

    def spy(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(data, "_build", spy)
    return calls


def assert_one_clear_line(message):
    assert "\n" not in message and message.strip() == message and len(message) < 300


def test_debtext_without_apt_fails_in_one_line(tmp_path, monkeypatch, cache):
    fake_tools(tmp_path, monkeypatch)  # empty PATH: no apt-cache, no apt-get
    with pytest.raises(DataUnavailable) as info:
        data.debtext()
    message = str(info.value)
    assert_one_clear_line(message)
    assert message.startswith("debtext: `apt-cache` not found")
    assert not list(cache.iterdir())  # no half-built corpus, no temp leftovers


def test_debtext_apt_failure_names_command_and_fix(tmp_path, monkeypatch):
    fake_tools(tmp_path, monkeypatch, **{"apt-cache": "echo 'E: mirror unreachable' >&2; exit 100"})
    with pytest.raises(DataUnavailable) as info:
        data.debtext()
    message = str(info.value)
    assert_one_clear_line(message)
    assert "apt-cache search" in message and "E: mirror unreachable" in message
    assert "apt-get update" in message


def test_main_reports_data_failure_as_one_line(tmp_path, monkeypatch, capsys):
    fake_tools(tmp_path, monkeypatch)
    results = tmp_path / "results"
    monkeypatch.setattr("bench.harness.RESULTS_DIR", results)
    assert main(["anchors", "--quick"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bench: error: debtext: ") and err.count("\n") == 1
    assert not results.exists()


def test_main_unknown_tool_and_list(capsys):
    assert main(["no-such-tool"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown tool no-such-tool" in err and "anchors" in err
    assert main(["--list"]) == 0
    assert "anchors" in capsys.readouterr().out.split()


def test_newest_package_compares_versions_numerically(tmp_path, monkeypatch):
    listing = "linux-doc - meta\nlinux-doc-6.9 - docs\nlinux-doc-6.12 - docs\nlinux-doc-6.1 - docs"
    fake_tools(tmp_path, monkeypatch, **{"apt-cache": f"printf '{listing}\\n'"})
    assert data.newest_package(r"linux-doc-[0-9]+\.[0-9]+", "t") == "linux-doc-6.12"


def write(path, content, gz=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if gz else content)


def fake_debtext_roots(root):
    """Unpacked-package trees shaped like the real ones, with the traps the recipe must avoid."""
    write(root / "dict-gcide/usr/share/dictd/gcide.dict.dz", b"GCIDE|", gz=True)
    write(root / "dict-gcide/usr/share/dictd/gcide.index", b"not text")
    write(root / "dict-wn/usr/share/dictd/wn.dict.dz", b"WN|", gz=True)
    linux = root / "linux-doc-6.12/usr/share/doc/linux-doc-6.12"
    write(linux / "html/_sources/b/x.rst.txt", b"LB|")
    write(linux / "html/_sources/a.rst.txt", b"LA|")
    write(linux / "html/other.txt", b"NOT-SOURCE|")
    py = root / "python3.11-doc/usr/share/doc"
    write(py / "python3.11/html/_sources/lib.rst.txt", b"PY|")
    (py / "python3.11-doc").mkdir()
    os.symlink("../python3.11/html", py / "python3.11-doc/html")  # must not be read twice
    write(root / "perl-doc/usr/share/perl/5.36.0/pod/perlre.pod", b"POD|")
    write(root / "jargon-text/usr/share/doc/jargon-text/jargon.txt.gz", b"JARGON|", gz=True)
    games = "usr/share/games/fortunes"
    write(root / "fortunes-min" / games / "riddles", b"RIDDLES|")
    write(root / "fortunes" / games / "art", b"ART|")
    write(root / "fortunes" / games / "art.dat", b"index")
    os.symlink("art", root / "fortunes" / games / "art.u8")
    names = ["dict-gcide", "dict-wn", "linux-doc-6.12", "python3.11-doc", "perl-doc", "jargon-text"]
    return {name: root / name for name in [*names, "fortunes-min", "fortunes"]}


def test_collect_debtext_follows_the_recipe(tmp_path):
    roots = fake_debtext_roots(tmp_path)
    packages = {"linux-doc": "linux-doc-6.12", "python-doc": "python3.11-doc"}
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        parts = data.collect_debtext(roots, out, packages)
    assert out_path.read_bytes() == b"GCIDE|WN|LA|LB|PY|POD|JARGON|ART|RIDDLES|"
    assert [p["part"] for p in parts][:2] == ["gcide", "wordnet"]
    assert {p["part"]: p["files"] for p in parts}["linux-doc"] == 2
    assert sum(p["bytes"] for p in parts) == out_path.stat().st_size


def test_collect_debtext_missing_part_is_an_error(tmp_path):
    roots = fake_debtext_roots(tmp_path)
    (roots["perl-doc"] / "usr/share/perl/5.36.0/pod/perlre.pod").unlink()
    packages = {"linux-doc": "linux-doc-6.12", "python-doc": "python3.11-doc"}
    with open(tmp_path / "out.txt", "wb") as out, pytest.raises(DataUnavailable, match="perl-doc"):
        data.collect_debtext(roots, out, packages)


def fake_stdlib(root):
    write(root / "os.py", b"OS\n")
    write(root / "json/__init__.py", b"JSON\n")
    write(root / "json/__pycache__/x.py", b"CACHE\n")
    write(root / "site-packages/numpy/core.py", b"THIRD PARTY\n")
    write(root / "abc.py", b"ABC\n")
    write(root / "README.txt", b"not python\n")
    os.symlink("os.py", root / "os_link.py")
    return root


def test_stdlib_corpus_builds_once_and_is_sorted(tmp_path, monkeypatch, cache):
    stdlib = fake_stdlib(tmp_path / "lib")
    builds = count_builds(monkeypatch)
    first = data.stdlib_corpus(stdlib)
    assert first.read_bytes() == b"ABC\nJSON\nOS\n"
    meta = data.provenance(first)
    assert meta["versions"] == {"python": sys.version.split()[0]}
    assert meta["py_files"] == 3 and meta["bytes"] == 12 and len(meta["sha256"]) == 64
    mtime = first.stat().st_mtime_ns
    assert data.stdlib_corpus(stdlib) == first
    assert len(builds) == 1 and first.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, f"{meta['name']}.json"])


def test_incomplete_cache_is_rebuilt(tmp_path, monkeypatch):
    stdlib = fake_stdlib(tmp_path / "lib")
    builds = count_builds(monkeypatch)
    corpus = data.stdlib_corpus(stdlib)
    corpus.write_bytes(b"ABC\n")  # truncated, as if a copy had been cut short
    assert data.stdlib_corpus(stdlib).read_bytes() == b"ABC\nJSON\nOS\n"
    data.provenance(corpus)  # present again
    (corpus.parent / f"{data.provenance(corpus)['name']}.json").unlink()  # no sidecar = not finished
    data.stdlib_corpus(stdlib)
    assert len(builds) == 3


def test_interrupted_build_leaves_nothing(cache):
    def build(out):
        out.write_bytes(b"half a corpus")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data._cached("broken", "broken.txt", build)
    assert list(cache.iterdir()) == []
    with pytest.raises(DataUnavailable, match="not built yet"):
        data.provenance("broken")


def fake_debtext(monkeypatch, corpus):
    """Replace the apt build by one writing corpus["parts"] (recipe order) as a tiny debtext."""

    def fake_build(out):
        out.write_bytes(b"".join(corpus["parts"]))
        sizes = [len(text) for text in corpus["parts"]]
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        parts = [
            {"part": part, "packages": [], "files": 1, "offset": offset, "bytes": size}
            for (part, _, _), offset, size in zip(data.DEBTEXT_RECIPE, offsets, sizes, strict=True)
        ]
        return {"source": "fake", "versions": {"dict-gcide": "1"}, "parts": parts}

    monkeypatch.setattr(data, "_build_debtext", fake_build)


# Seven parts of 40, 30, 20, 10, 5, 3 and 2 bytes (110 in all), each a run of one letter.
SEVEN = [bytes([c]) * n for c, n in zip(b"ABCDEFG", (40, 30, 20, 10, 5, 3, 2), strict=True)]


def test_proportional_chunks_sum_exactly_and_follow_shares():
    lengths = [40, 30, 20, 10, 5, 3, 2]
    assert data.proportional_chunks(lengths, 110) == lengths
    assert data.proportional_chunks(lengths, 0) == [0] * 7
    assert data.proportional_chunks(lengths, 11) == [4, 3, 2, 1, 1, 0, 0]  # 0.5 beats 0.3 and 0.2
    for size in range(111):
        chunks = data.proportional_chunks(lengths, size)
        assert sum(chunks) == size
        assert all(0 <= c <= n and abs(c - size * n / 110) < 1 for c, n in zip(chunks, lengths, strict=True))
    assert data.proportional_chunks([1, 1, 1], 2) == [1, 1, 0]  # ties: earlier parts first
    with pytest.raises(ValueError):
        data.proportional_chunks(lengths, 111)


def test_debtext_slice_takes_each_part_in_proportion(monkeypatch):
    corpus = {"parts": SEVEN}
    fake_debtext(monkeypatch, corpus)
    piece = data.debtext_slice(22)
    assert piece.read_bytes() == b"A" * 8 + b"B" * 6 + b"C" * 4 + b"D" * 2 + b"E" + b"F"
    meta = data.provenance(piece)
    assert meta["parent_sha256"] == data.provenance("debtext")["sha256"]
    assert meta["versions"] == {"dict-gcide": "1"}
    assert [c["part"] for c in meta["chunks"]] == [part for part, _, _ in data.DEBTEXT_RECIPE]
    assert [c["bytes"] for c in meta["chunks"]] == [8, 6, 4, 2, 1, 1, 0]
    assert [c["debtext_offset"] for c in meta["chunks"]] == [0, 40, 70, 90, 100, 105, 108]
    assert [c["offset"] for c in meta["chunks"]] == [0, 8, 14, 18, 20, 21, 22]
    assert data.debtext_slice(110).read_bytes() == b"".join(SEVEN)
    with pytest.raises(ValueError):
        data.debtext_slice(111)
    corpus["parts"] = [p.lower() for p in SEVEN]  # a new corpus of the same size: the slice must follow
    (piece.parent / "debtext.json").unlink()
    assert data.debtext_slice(22).read_bytes() == b"a" * 8 + b"b" * 6 + b"c" * 4 + b"d" * 2 + b"e" + b"f"


def test_debtext_records_part_offsets_and_upgrades_old_sidecars(monkeypatch, cache):
    fake_debtext(monkeypatch, {"parts": SEVEN})
    builds = count_builds(monkeypatch)
    corpus = data.debtext()
    meta = data.provenance("debtext")
    assert [(p["offset"], p["bytes"]) for p in meta["parts"]] == [
        (0, 40),
        (40, 30),
        (70, 20),
        (90, 10),
        (100, 5),
        (105, 3),
        (108, 2),
    ]
    old = {**meta, "parts": [{k: v for k, v in p.items() if k != "offset"} for p in meta["parts"]]}
    (cache / "debtext.json").write_text(json.dumps(old))  # a sidecar from before offsets were recorded
    mtime = corpus.stat().st_mtime_ns
    assert data.debtext() == corpus
    assert data.provenance("debtext") == meta  # offsets derived, the corpus left alone
    assert len(builds) == 1 and corpus.stat().st_mtime_ns == mtime
    broken = {**meta, "parts": meta["parts"][:-1]}  # parts that do not tile the corpus: rebuild
    (cache / "debtext.json").write_text(json.dumps(broken))
    data.debtext()
    assert len(builds) == 2 and data.provenance("debtext")["parts"] == meta["parts"]


def test_old_prefix_slice_is_rebuilt(monkeypatch, cache):
    fake_debtext(monkeypatch, {"parts": SEVEN})
    piece = data.debtext_slice(22)
    meta = data.provenance(piece)
    old = {k: v for k, v in meta.items() if k != "chunks"}
    (cache / f"{meta['name']}.json").write_text(json.dumps(old))
    piece.write_bytes(b"A" * 22)  # what the old prefix slice held
    assert data.debtext_slice(22).read_bytes().startswith(b"A" * 8 + b"B")


def test_skimage_missing_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(DataUnavailable) as info:
        data.skimage_photos()
    assert_one_clear_line(str(info.value))
    assert "pip install scikit-image" in str(info.value)


def test_provenance_sidecar_is_json_next_to_data(tmp_path, cache):
    corpus = data.stdlib_corpus(fake_stdlib(tmp_path / "lib"))
    sidecar = json.loads((cache / f"{corpus.stem}.json").read_text())
    assert sidecar == data.provenance(corpus) and sidecar["path"] == corpus.name
