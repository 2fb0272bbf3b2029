"""bench.imli and bench.data.build_file_tree on tiny fake inputs: the tree builder, the version-2 edits,
tree comparison, command lines and the headline logic. Offline; nothing runs zpaq."""

import itertools
import os

import pytest

from bench import data
from bench import imli as bench_imli
from bench.harness import Report

TEXT = b"".join(f"line {i:04d}: the quick brown fox jumps over the lazy dog\n".encode() for i in range(2000))


@pytest.fixture
def fake_inputs(tmp_path):
    """A fake stdlib (a package, an empty __init__.py, site-packages to skip) and a text with 2 parts."""
    stdlib = tmp_path / "stdlib"
    for rel, body in {
        "abc.py": b"import os\n" * 50,
        "zipfile.py": b"# zip\n" * 300,
        "json/__init__.py": b"",
        "json/decoder.py": b"def decode(s):\n    return s\n" * 40,
        "site-packages/foo.py": b"nope\n",
        "README.txt": b"not python\n",
    }.items():
        path = stdlib / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    text = tmp_path / "text.txt"
    text.write_bytes(TEXT)
    parts = [
        {"part": "alpha", "offset": 0, "bytes": 70_000},
        {"part": "beta", "offset": 70_000, "bytes": 40_000},
    ]
    return stdlib, text, parts


def build(tmp_path, fake_inputs, name="tree"):
    stdlib, text, parts = fake_inputs
    out = tmp_path / name
    out.mkdir()
    meta = data.build_file_tree(out, data._stdlib_files(stdlib), text, parts, piece=(10_000, 40_000))
    return out, meta


def test_tree_builder_layout_pieces_and_mtimes(tmp_path, fake_inputs):
    out, meta = build(tmp_path, fake_inputs)
    files = bench_imli.tree_files(out)
    assert [f for f in files if f.startswith("stdlib/")] == [
        "stdlib/abc.py",
        "stdlib/json/__init__.py",
        "stdlib/json/decoder.py",
        "stdlib/zipfile.py",
    ]
    assert meta["stdlib_files"] == 4 and meta["stdlib_bytes"] == 500 + 1800 + 1120
    pieces = meta["pieces"]
    assert [p["path"] for p in pieces] == [f for f in files if f.startswith("debtext/")]
    assert {p["part"] for p in pieces} == {"alpha", "beta"} and len(pieces) >= 4
    for part in fake_inputs[2]:  # the pieces of a part tile it, each but the part's last ends at a newline
        mine = [p for p in pieces if p["part"] == part["part"]]
        assert mine[0]["offset"] == part["offset"]
        assert sum(p["bytes"] for p in mine) == part["bytes"]
        for p in mine:
            body = (out / p["path"]).read_bytes()
            assert body == TEXT[p["offset"] : p["offset"] + p["bytes"]]
            assert body.endswith(b"\n") or p is mine[-1]
    for dirpath, _, names in os.walk(out):
        assert int(os.stat(dirpath).st_mtime) == data.TREE_MTIME
        assert all(int(os.stat(os.path.join(dirpath, n)).st_mtime) == data.TREE_MTIME for n in names)
    _, text, parts = fake_inputs
    (tmp_path / "short").mkdir()
    with pytest.raises(data.DataUnavailable, match="ends before part 'beta'"):
        data.build_file_tree(tmp_path / "short", [], text, [parts[0], {**parts[1], "bytes": 40_001}])
    again, meta2 = build(tmp_path, fake_inputs, "again")
    assert meta2 == meta
    m1, m2 = bench_imli.write_manifest(out, tmp_path / "a"), bench_imli.write_manifest(again, tmp_path / "b")
    assert m1.read_bytes() == m2.read_bytes() and m1.read_bytes().count(b"\n") == len(files)


def test_stride_pick_and_piece_bounds(fake_inputs):
    files = data._stdlib_files(fake_inputs[0])
    assert data.stride_pick(files, None) == files and data.stride_pick(files, 10**9) == files
    assert data.stride_pick(files, 1800) == files[::2]
    with pytest.raises(ValueError):
        data.stride_pick(files, 0)
    bounds = data.piece_bounds(TEXT, 7, seed="x")
    assert bounds == data.piece_bounds(TEXT, 7, seed="x") != data.piece_bounds(TEXT, 7, seed="y")
    assert bounds[0] == 0 and bounds[-1] == len(TEXT) and len(bounds) == 8
    assert all(a < b for a, b in itertools.pairwise(bounds))
    assert all(TEXT[b - 1 : b] == b"\n" for b in bounds[1:])
    assert data.piece_bounds(b"no newline at all", 3, seed="x") == [0, 17]


def test_edit_plan_is_deterministic_and_sized():
    files = [f"f{i:03d}.txt" for i in range(200)]
    changed, deleted = bench_imli.plan_edits(files)
    assert (changed, deleted) == bench_imli.plan_edits(list(reversed(files)))  # order of the input is moot
    assert (changed, deleted) != bench_imli.plan_edits(files, seed="other")
    assert len(changed) == 10 and len(deleted) == 2
    names = [name for name, _ in changed]
    assert names == sorted(names) and deleted == sorted(deleted) and not set(names) & set(deleted)
    assert {kind for _, kind in changed} <= {"insert", "append"}
    tiny_changed, tiny_deleted = bench_imli.plan_edits(["a", "b", "c"])
    assert len(tiny_changed) == 1 and len(tiny_deleted) == 1
    with pytest.raises(ValueError):
        bench_imli.plan_edits(["only"])


def test_edit_bytes_inserts_mid_file_or_appends():
    body = b"one\ntwo\nthree\nfour\n"
    inserted = bench_imli.edit_bytes(body, "insert", "x.py")
    assert inserted.startswith(b"one\ntwo\nthree\n# imli bench edit") and inserted.endswith(b"four\n")
    assert inserted.count(b"\n") == body.count(b"\n") + 4
    appended = bench_imli.edit_bytes(b"no newline", "append", "x.py")
    assert appended.startswith(b"no newline\n# imli bench edit") and appended.endswith(b"\n")
    assert bench_imli.edit_bytes(b"", "insert", "x") == bench_imli.edit_bytes(b"", "append", "x")
    assert bench_imli.edit_bytes(body, "append", "a") != bench_imli.edit_bytes(body, "append", "b")
    with pytest.raises(ValueError):
        bench_imli.edit_bytes(body, "rot13", "x")


def test_make_version_and_compare_trees(tmp_path, fake_inputs):
    src, _ = build(tmp_path, fake_inputs)
    files = bench_imli.tree_files(src)
    edits = bench_imli.plan_edits(files, change=0.3, delete=0.2)
    v1 = bench_imli.make_version(src, tmp_path / "v1" / "tree")
    v2 = bench_imli.make_version(src, tmp_path / "v2" / "tree", edits)
    assert v1["files"] == len(files) and v1["changed"] == v1["deleted"] == 0
    assert v2["files"] == len(files) - len(edits[1]) and v2["changed"] == len(edits[0])
    assert v2["inserted"] + v2["appended"] == v2["changed"] and v2["bytes_added"] > 0
    assert bench_imli.compare_trees(src, tmp_path / "v1" / "tree") == []
    problems = bench_imli.compare_trees(tmp_path / "v1" / "tree", tmp_path / "v2" / "tree", limit=100)
    assert {f"missing {rel}" for rel in edits[1]} <= set(problems)
    assert {f"content of {rel}" for rel, _ in edits[0]} <= set(problems)
    for rel, _ in edits[0]:
        assert int((tmp_path / "v2" / "tree" / rel).stat().st_mtime) == data.TREE_MTIME + bench_imli.BUMP
    assert int((tmp_path / "v2" / "tree").stat().st_mtime) == data.TREE_MTIME
    touched = {rel for rel, _ in edits[0]}
    same = next(rel for rel in bench_imli.tree_files(tmp_path / "v2" / "tree") if rel not in touched)
    os.utime(tmp_path / "v2" / "tree" / same, (0, 0))
    assert any(p.startswith("mtime of") for p in bench_imli.compare_trees(src, tmp_path / "v2" / "tree", 100))
    assert len(bench_imli.compare_trees(src, tmp_path / "v2" / "tree", limit=2)) == 2


def test_commands_and_zpaq_list_parsing(tmp_path):
    arc = tmp_path / "a.zpaq"
    assert bench_imli.command("zpaq", "add", arc, method=3) == [
        "zpaq",
        "add",
        str(arc),
        "tree",
        "-method",
        "3",
        "-threads",
        "2",
    ]
    assert bench_imli.command("zpaq", "extract", arc, to=tmp_path / "o", until=1)[-2:] == ["-until", "1"]
    imli_add = bench_imli.command("imli", "incr", arc, method=5)
    assert imli_add[-7:] == ["add", str(arc), "tree", "-m", "5", "-T", "2"]
    assert bench_imli.command("imli", "extract", arc, to=tmp_path / "o")[-5:] == [
        str(arc),
        "-o",
        str(tmp_path / "o"),
        "-T",
        "2",
    ]
    with pytest.raises(ValueError):
        bench_imli.command("tar", "add", arc)
    listing = (
        "zpaq v7.15 journaling archiver, compiled Jan  5 2021\n"
        "a.zpaq: 2 versions, 5 files, 4 fragments, 0.1 MB\n\n"
        "- 2024-01-01 00:00:00          339 d0755 tree/\n"
        "- 2024-01-01 00:00:00       300000  0644 tree/a file.txt\n"
        "- 2024-01-02 00:00:00        39504  0644 tree/sub/os.py\n\n"
        "0.339504 MB of 0.339504 MB (4 files) shown\n"
    )
    assert bench_imli._zpaq_list_files(listing) == (2, {"tree/a file.txt", "tree/sub/os.py"})


def test_missing_zpaq_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(bench_imli.shutil, "which", lambda name: None)
    with pytest.raises(data.DataUnavailable, match="apt-get install -y zpaq") as exc:
        bench_imli.require_zpaq()
    assert "\n" not in str(exc.value)


def fake_method(method, imli_sizes, zpaq_sizes, imli_times, zpaq_times):
    def tool(sizes, times):
        runs = {op: [t] for op, t in zip(bench_imli.OPS, times, strict=True)}
        return {
            "size1": sizes[0],
            "size2": sizes[1],
            "growth": sizes[1] - sizes[0],
            "sizes": [list(sizes)],
            "runs": runs,
            "median": {op: r[0] for op, r in runs.items()},
            "cores": dict.fromkeys(bench_imli.OPS, 1.0),
        }

    return {
        "method": method,
        "tree": "full tree",
        "v1": {"bytes": 100 * bench_imli.MB},
        "v2": {"bytes": 101 * bench_imli.MB},
        "tools": {"imli": tool(imli_sizes, imli_times), "zpaq": tool(zpaq_sizes, zpaq_times)},
    }


def test_headline_targets_met_and_missed():
    methods = [
        fake_method(1, (1020, 1122), (1000, 1100), (10, 2, 1, 12.5), (8, 2, 1, 10)),  # all on the line: met
        fake_method(
            2, (1021, 1200), (1000, 1100), (1, 1, 1, 1), (1, 1, 1, 1)
        ),  # size 2.1% over, growth 1.79x
        fake_method(
            3, (900, 1000), (1000, 1100), (13, 1, 1, 5), (10, 1, 1, 10)
        ),  # smaller; add 1.3x too slow
    ]
    checks = [
        {"reader": "zpaq", "writer": "imli", "check": "list", "ok": True, "detail": ""},
        {"reader": "imli", "writer": "zpaq", "check": "list", "ok": True, "detail": ""},
        {"reader": "imli", "writer": "zpaq", "check": "extract", "ok": False, "detail": "content of x"},
    ]
    report = Report("imli", "test")
    bench_imli.add_headlines(report, methods, checks)
    by = {h["metric"]: h for h in report.headline}
    assert len(report.headline) == 3 * 3 + 2 * 2 + 2
    assert by["archive size after first add, -m 1, full tree"]["met"] is True
    assert by["incremental add size growth, -m 1, full tree"]["ratio"] == pytest.approx(1.02)
    assert by["add wall time, -m 1 -T 2, full tree"]["met"] is True  # exactly 1.25x
    assert by["archive size after first add, -m 2, full tree"]["met"] is False
    assert by["incremental add size growth, -m 2, full tree"]["met"] is False
    assert not any("wall time, -m 2" in m for m in by)  # no time target at method 2
    assert by["archive size after first add, -m 3, full tree"]["met"] is True
    assert by["add wall time, -m 3 -T 2, full tree"]["met"] is False
    assert by["extract wall time, -m 3 -T 2, full tree"]["ratio"] == 0.5
    reads = [h for h in report.headline if "reads" in h["metric"]]
    assert [h["met"] for h in reads] == [True, False] and reads[1]["ours"] == "1/2 checks passed"
    sizes, times = bench_imli.size_rows(methods), bench_imli.time_rows(methods)
    assert all(len(r) == len(bench_imli.SIZE_COLUMNS) for r in sizes) and len(times) == 3 * len(
        bench_imli.OPS
    )
    assert all(len(r) == len(bench_imli.TIME_COLUMNS) for r in times)
    assert times[0][7] == pytest.approx(10.0) and times[1][7] is None  # add MB/s; none for incremental
    chart = bench_imli.ratio_chart(methods)
    assert chart.series[0].x == ["-m 1", "-m 2", "-m 3"] and len(chart.series) == 5
