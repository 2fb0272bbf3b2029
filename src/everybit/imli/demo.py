"""The imli section of ``everybit demo``: two versions of a tree, a rollback, sizes against zip and tar.gz.

The tree is built in the scratch folder from the running interpreter's stdlib ``*.py`` files (the same on
every run of one Python version, no download): a few folders of sources plus a copy of one of them, so
deduplication has something to find. Version 2 edits some files, deletes one and adds one. Everything
shown is measured in this run.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

from everybit.common.report import Chart, Section, Series, Table
from everybit.common.samples import stdlib_files
from everybit.imli.archive import Archive

TREE_BYTES = 1 << 20  # of distinct sources; the copied folder comes on top
STAMP = 1_704_067_200  # 2024-01-01 00:00:00 UTC: the files' dates, so what changed is known
FOLDERS = 4


def _write_tree(root: Path, files: dict[str, bytes], newer: set[str] | frozenset = frozenset()) -> None:
    """``files`` under ``root``, dated STAMP (a day later for the names in ``newer``), as a user's files
    would be: an add stores what changed since the last one by date, size and mode."""
    shutil.rmtree(root, ignore_errors=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        when = STAMP + 86_400 if name in newer else STAMP
        os.utime(path, (when, when))
    for folder in [*sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True), root]:
        os.utime(folder, (STAMP, STAMP))


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def versions_of_tree() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The files of version 1 and version 2 (relative names -> contents)."""
    sources = stdlib_files(TREE_BYTES)
    v1 = {f"src/pkg{i % FOLDERS}/{name}": data for i, (name, data) in enumerate(sources)}
    v1.update(
        {f"copy/{name[len('src/') :]}": data for name, data in v1.items() if name.startswith("src/pkg0/")}
    )
    v1["notes/empty.txt"] = b""
    v2 = dict(v1)
    names = sorted(n for n in v1 if n.startswith("src/"))
    for name in names[1:6]:  # an edit in the middle of a few files: most of their fragments stay
        data = v1[name]
        v2[name] = data[: len(data) // 2] + b"# edited for version 2\n" + data[len(data) // 2 :]
    del v2[names[-1]]
    v2["notes/changes.txt"] = b"version 2: five files edited, one removed, this one added\n"
    return v1, v2


def _zip_size(files: dict[str, bytes]) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return len(buf.getvalue())


def _targz_size(root: Path) -> int:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tf:
        tf.add(root, arcname=root.name)
    return len(buf.getvalue())


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def demo(ctx: Any) -> Section:
    work = Path(ctx.scratch) / "imli"
    tree = work / "tree"
    v1, v2 = versions_of_tree()
    quiet = getattr(ctx, "quiet", True)

    # Two versions of one archive, method 1 (zpaq's default).
    archive = Archive(work / "backup.zpaq")
    _write_tree(tree, v1)
    (r1, t1) = _timed(archive.add, [tree], method=1, quiet=quiet)
    size1 = archive.path.stat().st_size
    v1_zip, v1_tgz = _zip_size(v1), _targz_size(tree)
    _write_tree(tree, v2, newer={n for n, d in v2.items() if v1.get(n) != d})
    (r2, t2) = _timed(archive.add, [tree], method=1, quiet=quiet)
    size2 = archive.path.stat().st_size
    history = archive.versions()

    # Roll back: extract version 1 and compare it with what was archived.
    restore = work / "restore"
    (res, t_x) = _timed(archive.extract, to=restore, until=1, quiet=quiet)
    back = _read_tree(restore / tree.relative_to(tree.anchor))
    if res.failed or back != v1:
        raise RuntimeError(f"rollback to version 1 differs from version 1 ({len(res.failed)} files failed)")
    test = archive.test(quiet=quiet)
    if test.failed:
        raise RuntimeError(f"imli test failed: {test.failed[0]}")

    # One snapshot of version 2 in each format.
    raw2 = sum(len(d) for d in v2.values())
    rows = []
    for method in (0, 1, 2, 3):
        single = Archive(work / f"v2-m{method}.zpaq")
        (_, secs) = _timed(single.add, [tree], method=method, quiet=quiet)
        rows.append([f"imli -m {method}", single.path.stat().st_size, secs])
    (zip_bytes, zip_s) = _timed(_zip_size, v2)
    (tgz_bytes, tgz_s) = _timed(_targz_size, tree)
    rows += [["zip (deflate -6)", zip_bytes, zip_s], ["tar.gz (-6)", tgz_bytes, tgz_s]]
    sizes = Table(
        ["format", "bytes", "ratio", "seconds"],
        [[name, n, round(raw2 / n, 3), round(s, 3)] for name, n, s in rows],
        title=f"One snapshot of version 2: {len(v2)} files, {raw2:,} bytes",
        note="imli deduplicates the copied folder; zip and tar.gz store it twice. Seconds: one run.",
    )

    both_zip, both_tgz = v1_zip + zip_bytes, v1_tgz + tgz_bytes
    history_table = Table(
        ["version", "date (UTC)", "+added", "-deleted", "bytes in", "archive bytes after", "seconds"],
        [
            [v.number, _fmt_date(v.date), len(r.added), len(r.deleted), r.bytes_in, size, round(s, 3)]
            for v, r, size, s in zip(history, (r1, r2), (size1, size2), (t1, t2), strict=True)
        ],
        title="imli add, method 1: version 1, then version 2 of the same tree",
        note=(
            f"Version 2 added {size2 - size1:,} bytes to the archive; a second zip would add "
            f"{zip_bytes:,} and a second tar.gz {tgz_bytes:,}. Extracting version 1 again (rollback) took "
            f"{t_x:.3f} s and gave back every file byte for byte."
        ),
    )
    chart = Chart(
        "bytes to keep both versions",
        [Series("bytes", ["imli (2 versions)", "2 x zip", "2 x tar.gz"], [size2, both_zip, both_tgz])],
        kind="bar",
        ylabel="bytes",
    )
    m1 = next(r for r in rows if r[0] == "imli -m 1")
    headline = [
        ("two versions", f"{size2:,} B vs zip {both_zip:,} B, tar.gz {both_tgz:,} B"),
        ("version 2 cost", f"{size2 - size1:,} B"),
        ("one snapshot -m 1", f"{m1[1]:,} B in {m1[2]:.2f} s"),
    ]
    text = (
        "imli archived a generated tree of Python sources twice (version 2 edits five files, deletes one, "
        "adds one), rolled back to version 1 and checked it byte for byte, then tested every fragment. "
        "The archives are in the ZPAQ journaling format that zpaq 7.15 reads."
    )
    return Section("imli", text=text, headline=headline, tables=[history_table, sizes], charts=[chart])


def _fmt_date(date: int) -> str:
    d = f"{date:014d}"
    return f"{d[:4]}-{d[4:6]}-{d[6:8]} {d[8:10]}:{d[10:12]}:{d[12:]}"
