"""bpez against gzip, pigz, zlib, zstd, bzip2 and xz: size, compress and decompress time, peak memory.

Same run, same inputs: ours through its CLI (`python -m everybit bpez -c -T N FILE > out`, interpreter
start-up included) at -T 1 and -T 2, and through its in-process API (`everybit.bpez.compress/decompress`);
anchors `gzip -9`, `pigz -9 -p 2`, `zstd -3`, `zstd -19`, `bzip2 -9`, `xz -6` (Debian CLIs, each a
subprocess writing to a file) and zlib -9 in process. Every round trip is verified (a mismatch raises
`RoundTripError`). Peak RSS of each CLI is its own `ru_maxrss`, read through GNU time (see `run_measured`).
Also writes `bpez-size.png` and `bpez-size.html` (size relative to gzip -9, per codec and corpus).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from bench import data, harness
from bench.harness import TIME, Report, Sample, run_measured, sha256_file

MB = data.MB
MIB = 1 << 20
BLOCK = 1 << 20  # bpez's default block size: every bpez row uses it (and the default level, 9)
REPEAT = 3  # timed runs per codec after one warm-up; the median is reported
# Bound on a bpez process's peak RSS above the interpreter baseline: MEMORY_FACTOR x block x threads. The
# format keeps one block per thread in flight plus the one being read, and a thread coding a 1 MiB block
# holds the block, the pair coder's private copy and tables, its output, and libdeflate's near-optimal
# match finder (about 5.5 MiB at any block size).
MEMORY_FACTOR = 8
# command -> the Debian package that provides it
DEBIAN_PACKAGES = {
    "gzip": "gzip",
    "pigz": "pigz",
    "zstd": "zstd",
    "bzip2": "bzip2",
    "xz": "xz-utils",
    TIME: "time",
}
# On the full corpus these anchors take minutes: 1 timed run each, no warm-up.
SLOW = ("zstd -19", "bzip2 -9", "xz -6")
SIZE_TARGETS = {"debtext": 0.92, "stdlib": 0.88}  # bpez size / gzip -9 size, at most
SWEEP_BLOCKS = (256 << 10, 1 << 20, 4 << 20)  # block sizes of the peak-memory sweep


class RoundTripError(RuntimeError):
    """A codec did not give back the bytes it was given."""


class MissingTool(data.DataUnavailable):
    """A command the benchmark runs is not installed; the message names the Debian package."""


def require_tools(commands: Sequence[str] = tuple(DEBIAN_PACKAGES)) -> None:
    """Raise MissingTool (one line naming the Debian packages to install) if any command is absent."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        packages = " ".join(dict.fromkeys(DEBIAN_PACKAGES.get(c, c) for c in missing))
        names = ", ".join(f"`{c}`" for c in missing)
        raise MissingTool(f"bpez benchmark: {names} not found; run `apt-get install -y {packages}`")


# ---------------------------------------------------------------- codecs


@dataclass(frozen=True)
class CliCodec:
    """A command-line codec: `compress + [FILE]` and `decompress + [FILE + suffix]` write to stdout."""

    name: str
    family: str
    compress: tuple[str, ...]
    decompress: tuple[str, ...]
    suffix: str
    threads: int = 1
    ours: bool = False
    plot: str | None = None  # its bar's label in the size chart (None: not drawn)


@dataclass(frozen=True)
class ApiCodec:
    """An in-process codec: `compress(raw) -> blob`, `decompress(blob, size) -> raw`."""

    name: str
    family: str
    compress: Callable[[bytes], Any]
    decompress: Callable[[Any, int], Any]
    threads: int = 1
    ours: bool = False
    plot: str | None = None


Codec = CliCodec | ApiCodec


def bpez_cli(threads: int) -> CliCodec:
    """Ours as users run it: `python -m everybit bpez -c -T N FILE` (default level 9, 1 MiB blocks)."""
    base = (sys.executable, "-m", "everybit", "bpez")
    return CliCodec(
        f"bpez -T{threads} (CLI)",
        "bpez",
        (*base, "-c", "-T", str(threads)),
        (*base, "-d", "-c", "-T", str(threads)),
        ".bpez",
        threads,
        ours=True,
        plot="bpez -9" if threads == 1 else None,
    )


def bpez_api(threads: int) -> ApiCodec:
    from everybit import bpez

    return ApiCodec(
        f"bpez -T{threads} (API)",
        "bpez",
        lambda b: bpez.compress(b, threads=threads),
        lambda c, n: bpez.decompress(c, threads=threads),
        threads,
        ours=True,
    )


def anchor_codecs() -> list[Codec]:
    """The anchors: Debian CLIs (zstd and xz pinned to one thread, pigz given two) and zlib -9 in process."""

    def cli(
        name: str, family: str, compress: str, decompress: str, suffix: str, threads: int = 1
    ) -> CliCodec:
        return CliCodec(
            name, family, tuple(compress.split()), tuple(decompress.split()), suffix, threads, plot=name
        )

    return [
        cli("gzip -9", "gzip", "gzip -9 -c", "gzip -d -c", ".gz"),
        cli("pigz -9 -p2", "gzip", "pigz -9 -p 2 -c", "pigz -d -p 2 -c", ".gz", threads=2),
        ApiCodec(
            "zlib -9 (in process)",
            "gzip",
            lambda b: zlib.compress(b, 9),
            lambda c, n: zlib.decompress(c, bufsize=max(n, 1)),
            plot="zlib -9",
        ),
        cli("zstd -3", "zstd", "zstd -3 -T1 -q -c", "zstd -d -q -c", ".zst"),
        cli("zstd -19", "zstd", "zstd -19 -T1 -q -c", "zstd -d -q -c", ".zst"),
        cli("bzip2 -9", "bzip2", "bzip2 -9 -c", "bzip2 -d -c", ".bz2"),
        cli("xz -6", "xz", "xz -6 -T1 -c", "xz -d -T1 -c", ".xz"),
    ]


def all_codecs() -> list[Codec]:
    return [bpez_cli(1), bpez_cli(2), bpez_api(1), bpez_api(2), *anchor_codecs()]


# ---------------------------------------------------------------- one corpus


@dataclass
class _Runner:
    """Runs one codec on one input; keeps its compressed form and the timed samples."""

    codec: Codec
    src: Path
    raw: bytes
    work: Path
    peak_rss: bool = True
    size: int | None = None
    blob: Any = None
    compress_runs: list[Sample] = field(default_factory=list)
    decompress_runs: list[Sample] = field(default_factory=list)

    @property
    def _stem(self) -> Path:
        return self.work / re.sub(r"[^A-Za-z0-9]+", "_", self.codec.name).strip("_")

    @property
    def blob_path(self) -> Path:
        assert isinstance(self.codec, CliCodec)
        return self._stem.with_name(self._stem.name + self.codec.suffix)

    def compress(self, timed: bool = True) -> Sample:
        codec = self.codec
        if isinstance(codec, CliCodec):
            sample = run_measured([*codec.compress, str(self.src)], self.blob_path, peak_rss=self.peak_rss)
            size = self.blob_path.stat().st_size
        else:
            w0, c0 = perf_counter(), process_time()
            self.blob = codec.compress(self.raw)
            sample = Sample(perf_counter() - w0, process_time() - c0, None)
            size = len(self.blob)
        if self.size is not None and size != self.size:
            raise RoundTripError(f"{codec.name}: two compressions of the same input differ in size")
        self.size = size
        if timed:
            self.compress_runs.append(sample)
        return sample

    def decompress(self, timed: bool = True) -> Sample:
        codec, n = self.codec, len(self.raw)
        if isinstance(codec, CliCodec):
            out = self._stem.with_name(self._stem.name + ".out")
            sample = run_measured([*codec.decompress, str(self.blob_path)], out, peak_rss=self.peak_rss)
            back = out.read_bytes()
            out.unlink()
        else:
            w0, c0 = perf_counter(), process_time()
            back = codec.decompress(self.blob, n)
            sample = Sample(perf_counter() - w0, process_time() - c0, None)
        if back != self.raw:
            raise RoundTripError(
                f"{codec.name}: round trip changed the data ({n:,} bytes in, {len(back):,} out)"
            )
        if timed:
            self.decompress_runs.append(sample)
        return sample

    def result(self, warmup: bool) -> dict[str, Any]:
        n, codec = len(self.raw), self.codec
        out: dict[str, Any] = {
            "codec": codec.name,
            "family": codec.family,
            "interface": "CLI" if isinstance(codec, CliCodec) else "in process",
            "threads": codec.threads,
            "ours": codec.ours,
            "plot": codec.plot,
            "bytes": self.size,
            "ratio": n / self.size if self.size else None,
            "warmup": warmup,
            "verified": True,
        }
        for op, runs in (("compress", self.compress_runs), ("decompress", self.decompress_runs)):
            walls = [s.seconds for s in runs]
            rss = [s.peak_rss for s in runs if s.peak_rss is not None]
            out[f"{op}_s"] = statistics.median(walls)
            out[f"{op}_best_s"] = min(walls)
            out[f"{op}_cpu_s"] = statistics.median(s.cpu_seconds for s in runs)
            out[f"{op}_runs"] = len(runs)
            out[f"{op}_rss"] = max(rss) if rss else None
        return out


def _log(message: str) -> None:
    print(f"bpez: {message}", file=sys.stderr, flush=True)


def bench_corpus(
    label: str,
    path: Path,
    codecs: Sequence[Codec],
    *,
    repeat: int = REPEAT,
    single: Sequence[str] = (),
    peak_rss: bool = True,
) -> list[dict[str, Any]]:
    """Size, times and peak RSS of every codec on the file `path`. Each codec is warmed up once (compress,
    decompress, verify), then `repeat` rounds compress once with every codec in turn, and `repeat` rounds
    decompress likewise: interleaved, so a busy neighbour's load hits all codecs alike. Codecs named in
    `single` get no warm-up and one timed run each way. Every decompression is verified byte for byte
    (RoundTripError), and every compression must give the same size as the first."""
    raw = path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="everybit-bpez-bench-") as tmp:
        runners = [_Runner(c, path, raw, Path(tmp), peak_rss) for c in codecs]
        for r in runners:
            if r.codec.name not in single:
                _log(f"{label}: warm-up and check {r.codec.name}")
                r.compress(timed=False)
                r.decompress(timed=False)
        for i in range(repeat):
            _log(f"{label}: compress round {i + 1}/{repeat}")
            for r in runners:
                if i == 0 or r.codec.name not in single:
                    r.compress()
        for i in range(repeat):
            _log(f"{label}: decompress round {i + 1}/{repeat}")
            for r in runners:
                if i == 0 or r.codec.name not in single:
                    r.decompress()
        return [r.result(warmup=r.codec.name not in single) for r in runners]


def bpez_baseline(threads: int, repeat: int = 3) -> dict[str, int]:
    """Peak RSS of the bpez CLI on an empty input (interpreter, imports, thread pool; no block data),
    compressing and decompressing: the median of `repeat` runs each, bytes."""
    codec = bpez_cli(threads)
    with tempfile.TemporaryDirectory(prefix="everybit-bpez-base-") as tmp:
        empty, blob, out = Path(tmp) / "empty", Path(tmp) / "empty.bpez", Path(tmp) / "out"
        empty.write_bytes(b"")
        comp = [run_measured([*codec.compress, str(empty)], blob).peak_rss or 0 for _ in range(repeat)]
        dec = [run_measured([*codec.decompress, str(blob)], out).peak_rss or 0 for _ in range(repeat)]
        if out.read_bytes() != b"":
            raise RoundTripError(f"{codec.name}: an empty input did not round-trip")
    return {"compress": int(statistics.median(comp)), "decompress": int(statistics.median(dec))}


def memory_sweep(
    path: Path,
    baselines: dict[int, dict[str, int]],
    blocks: Sequence[int] = SWEEP_BLOCKS,
    threads: Sequence[int] = (1, 2),
) -> list[dict[str, Any]]:
    """Peak RSS of `bpez -c -B BLOCK -T N FILE` for each block size and thread count (one run each; the
    output is verified by decompressing it in process): how the peak scales with block size x threads."""
    from everybit import bpez

    raw = path.read_bytes()
    results = []
    with tempfile.TemporaryDirectory(prefix="everybit-bpez-sweep-") as tmp:
        out = Path(tmp) / "out.bpez"
        for block in blocks:
            for t in threads:
                _log(f"memory sweep: -B {block >> 10}K -T {t}")
                sample = run_measured([*bpez_cli(t).compress, "-B", str(block), str(path)], out)
                if bpez.decompress(out.read_bytes()) != raw:
                    raise RoundTripError(f"bpez -b {block} -T {t}: round trip changed the data")
                over = (sample.peak_rss or 0) - baselines[t]["compress"]
                results.append(
                    {
                        "block": block,
                        "threads": t,
                        "seconds": sample.seconds,
                        "peak_rss": sample.peak_rss,
                        "over": over,
                        "bound": memory_bound(t, block),
                    }
                )
    return results


SWEEP_COLUMNS = [
    "block KiB",
    "threads",
    "compress s",
    "peak RSS MiB",
    "over baseline MiB",
    "over / (block x threads)",
    "bound MiB",
    "within bound",
    "verified",
]


def sweep_rows(results: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["block"] >> 10,
            r["threads"],
            r["seconds"],
            _mib(r["peak_rss"]),
            _mib(r["over"]),
            r["over"] / (r["block"] * r["threads"]),
            _mib(r["bound"]),
            r["over"] <= r["bound"],
            True,
        ]
        for r in results
    ]


# ---------------------------------------------------------------- tables, headline, plot

CORPUS_COLUMNS = [
    "codec",
    "interface",
    "compressed bytes",
    "ratio",
    "size / gzip -9",
    "compress s",
    "compress / gzip -9",
    "decompress s",
    "decompress / gzip -d",
    "compress cores used",
    "peak RSS compress MiB",
    "peak RSS decompress MiB",
    "timed runs",
    "verified",
]


def _mib(value: int | None) -> float | None:
    return None if value is None else value / MIB


def corpus_rows(results: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Table rows; size and compress time relative to gzip -9, decompress time to `gzip -d` of its output."""
    gz = next(r for r in results if r["codec"] == "gzip -9")
    rows = []
    for r in results:
        runs = f"{r['compress_runs']}+{r['decompress_runs']}" + ("" if r["warmup"] else ", no warm-up")
        rows.append(
            [
                r["codec"],
                r["interface"],
                r["bytes"],
                r["ratio"],
                r["bytes"] / gz["bytes"],
                r["compress_s"],
                r["compress_s"] / gz["compress_s"],
                r["decompress_s"],
                r["decompress_s"] / gz["decompress_s"],
                r["compress_cpu_s"] / r["compress_s"] if r["compress_s"] else None,
                _mib(r["compress_rss"]),
                _mib(r["decompress_rss"]),
                runs,
                r["verified"],
            ]
        )
    return rows


MEMORY_COLUMNS = [
    "input",
    "codec",
    "baseline MiB (compress / decompress)",
    "peak compress MiB",
    "peak decompress MiB",
    "max over baseline MiB",
    "bound MiB",
    "within bound",
]


def memory_bound(threads: int, block: int = BLOCK) -> int:
    """The bound on peak RSS above the interpreter baseline, bytes."""
    return MEMORY_FACTOR * block * threads


def memory_over(result: dict[str, Any], baseline: dict[str, int]) -> int:
    """Peak RSS above the empty-input baseline, the worse of compress and decompress, bytes."""
    return max(
        result["compress_rss"] - baseline["compress"], result["decompress_rss"] - baseline["decompress"]
    )


def memory_rows(
    corpora: dict[str, dict[str, dict[str, Any]]], baselines: dict[int, dict[str, int]]
) -> list[list[Any]]:
    rows = []
    for label, by in corpora.items():
        for r in by.values():
            if not (r["ours"] and r["interface"] == "CLI"):
                continue
            base, bound = baselines[r["threads"]], memory_bound(r["threads"])
            over = memory_over(r, base)
            rows.append(
                [
                    label,
                    r["codec"],
                    f"{base['compress'] / MIB:.1f} / {base['decompress'] / MIB:.1f}",
                    _mib(r["compress_rss"]),
                    _mib(r["decompress_rss"]),
                    _mib(over),
                    _mib(bound),
                    over <= bound,
                ]
            )
    return rows


def size_target(label: str) -> float:
    """The size target (fraction of gzip -9) of a corpus, from its label's first word."""
    return SIZE_TARGETS[label.split()[0]]


def add_headlines(
    report: Report,
    corpora: dict[str, dict[str, dict[str, Any]]],
    baselines: dict[int, dict[str, int]] | None,
    memory_label: str | None,
) -> None:
    """The issue's targets, each with met true/false. `corpora`: label -> codec name -> result."""
    for label, by in corpora.items():
        ours, gz = by["bpez -T1 (CLI)"], by["gzip -9"]
        target = size_target(label)
        ratio = ours["bytes"] / gz["bytes"]
        report.add_headline(
            f"bpez size, {label}",
            ours["bytes"],
            "gzip -9",
            gz["bytes"],
            ratio=ratio,
            target=f"<= {target:g}x gzip -9",
            met=ratio <= target,
            unit="B",
        )
    for label, by in corpora.items():
        gz = by["gzip -9"]
        for threads, factor, target in ((1, 1.5, "<= 1.5x gzip -9"), (2, 1.0, "< 1x gzip -9 (faster)")):
            ours = by[f"bpez -T{threads} (CLI)"]
            ratio = ours["compress_s"] / gz["compress_s"]
            report.add_headline(
                f"bpez -T{threads} compress time (CLI), {label}",
                ours["compress_s"],
                "gzip -9",
                gz["compress_s"],
                ratio=ratio,
                target=target,
                met=ratio <= factor if threads == 1 else ratio < factor,
                unit="s",
            )
    for label, by in corpora.items():
        ours, gz = by["bpez -T1 (CLI)"], by["gzip -9"]
        ratio = ours["decompress_s"] / gz["decompress_s"]
        report.add_headline(
            f"bpez -T1 decompress time (CLI), {label}",
            ours["decompress_s"],
            "gzip -d",
            gz["decompress_s"],
            ratio=ratio,
            target="<= 2x gzip -d",
            met=ratio <= 2,
            unit="s",
        )
    if baselines and memory_label:
        by = corpora[memory_label]
        for threads in sorted(baselines):
            over, bound = (
                memory_over(by[f"bpez -T{threads} (CLI)"], baselines[threads]),
                memory_bound(threads),
            )
            report.add_headline(
                f"bpez -T{threads} peak RSS over interpreter baseline, {memory_label}",
                round(over / MIB, 1),
                f"{MEMORY_FACTOR} x block x threads",
                round(bound / MIB, 1),
                ratio=over / bound,
                target=f"<= {MEMORY_FACTOR} x 1 MiB x {threads}",
                met=over <= bound,
                unit="MiB",
            )


def size_chart(corpora: dict[str, list[dict[str, Any]]]) -> Any:
    """Compressed size / gzip -9, one bar per codec (categories) and corpus (series)."""
    from everybit.common.report import Chart, Series

    series = []
    for label, results in corpora.items():
        gz = next(r for r in results if r["codec"] == "gzip -9")
        drawn = [r for r in results if r["plot"]]
        series.append(Series(label, [r["plot"] for r in drawn], [r["bytes"] / gz["bytes"] for r in drawn]))
    return Chart(
        "Compressed size relative to gzip -9 (lower is smaller)",
        series,
        kind="bar",
        ylabel="size / gzip -9 size",
    )


def save_plot(corpora: dict[str, list[dict[str, Any]]], folder: Path) -> tuple[Path, Path]:
    """Write bpez-size.png and bpez-size.html (the SVG plus a table of every bar)."""
    chart = size_chart(corpora)
    png = chart.save_png(folder / "bpez-size.png")
    rows = []
    for label, results in corpora.items():
        gz = next(r for r in results if r["codec"] == "gzip -9")
        rows += [
            [label, r["plot"], r["bytes"], r["bytes"] / gz["bytes"], r["ratio"]] for r in results if r["plot"]
        ]
    targets = ", ".join(f"{k} {v:g}" for k, v in SIZE_TARGETS.items())
    page = harness.chart_page(
        folder / "bpez-size.html",
        "bpez: size relative to gzip -9",
        chart,
        note=f"Generated by <code>python -m bench bpez</code>; hover a bar for its value. bpez targets "
        f"(size / gzip -9, at most): {targets}. Bars:",
        tables=[(["corpus", "codec", "bytes", "size / gzip -9", "ratio (original / compressed)"], rows)],
    )
    return png, page


# ---------------------------------------------------------------- run


def _tool_version(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"\d+\.\d+(?:\.\d+)?", proc.stdout + proc.stderr)
    return found[0] if found else "?"


def _versions() -> str:
    from everybit.bpez import _bpez

    source = Path(_bpez.__file__).with_name("_bpez.c")
    ours = f"bpez C core from _bpez.c sha256 {sha256_file(source)[:16]}, " if source.exists() else ""
    try:
        libdeflate = f"deflate (libdeflate binding) {importlib.metadata.version('deflate')}, "
    except importlib.metadata.PackageNotFoundError:
        libdeflate = ""
    tools = {
        "gzip": ["gzip", "--version"],
        "pigz": ["pigz", "--version"],
        "zstd": ["zstd", "--version"],
        "bzip2": ["bzip2", "--help"],
        "xz": ["xz", "--version"],
    }
    clis = ", ".join(f"{name} {_tool_version(argv)}" for name, argv in tools.items())
    return f"{ours}{libdeflate}{clis}, zlib {zlib.ZLIB_RUNTIME_VERSION}"


def _prefix_file(src: Path, size: int, folder: Path) -> Path:
    """The first `size` bytes of `src` as a file (named for its origin), so its provenance can be recorded."""
    out = folder / f"{src.stem}-first{size // MB}MB.txt"
    with open(src, "rb") as handle:
        out.write_bytes(handle.read(size))
    return out


def _check_ours() -> None:
    try:
        from everybit import bpez
        from everybit.bpez import cli  # noqa: F401
    except ImportError as exc:
        raise data.DataUnavailable(f"bpez benchmark: everybit.bpez cannot be imported ({exc})") from None
    if not callable(getattr(bpez, "compress", None)):
        raise data.DataUnavailable("bpez benchmark: everybit.bpez has no compress() yet")


def run(quick: bool = False) -> Report:
    """Full: debtext 10 MB, the first 10 MB of the stdlib sources, and the whole debtext corpus (~123 MB;
    the slow anchors get one run there). `quick`: 1 MB of debtext and of the stdlib sources only."""
    require_tools()
    _check_ours()
    report = Report("bpez", "bpez against gzip, pigz, zlib, zstd, bzip2 and xz")
    size = 1 * MB if quick else 10 * MB
    started = perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    loads: dict[str, float] = {}
    sizes: dict[str, int] = {}
    paths: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="everybit-bpez-bench-") as tmp:
        stdlib = data.stdlib_corpus()
        inputs = [
            (f"debtext {size // MB} MB", data.debtext_1m() if quick else data.debtext_10m(), None),
            (f"stdlib {size // MB} MB", _prefix_file(stdlib, size, Path(tmp)), stdlib),
        ]
        if not quick:
            full = data.debtext()
            inputs.append((f"debtext {full.stat().st_size / MB:.0f} MB (full)", full, None))
        for label, path, parent in inputs:
            if parent is None:
                meta = data.provenance(path)
                report.add_data(label, path, meta["source"], meta["versions"])
            else:
                meta = data.provenance(parent)
                source = f"first {size:,} bytes of {parent.name} (sha256 {meta['sha256']}): {meta['source']}"
                report.add_data(label, path, source, meta["versions"])
            single = SLOW if label.endswith("(full)") else ()
            loads[label], sizes[label] = os.getloadavg()[0], path.stat().st_size
            results[label] = bench_corpus(label, path, all_codecs(), single=single)
            paths[label] = path
        _log("interpreter baselines (empty input)")
        baselines = {t: bpez_baseline(t) for t in (1, 2)}
        memory_label = max(sizes, key=sizes.__getitem__)  # the largest input (the first of equals)
        sweep = memory_sweep(paths[memory_label], baselines)
    elapsed = perf_counter() - started

    load_text = ", ".join(f"{label} {load:.2f}" for label, load in loads.items())
    note = (
        "Ours: `python -m everybit bpez -c -T N FILE > out` and `-d -c -T N FILE.bpez > out` (default level "
        "9, 1 MiB blocks; wall time includes interpreter start-up and imports), and in process "
        "`everybit.bpez.compress(data, threads=N)` / `decompress(blob, threads=N)`. Anchors as Debian CLIs, "
        "`CMD -c FILE > out` and `CMD -d -c FILE.ext > out` (zstd and xz pinned to -T1; pigz -p 2 both "
        "ways), plus `zlib.compress(data, 9)` / `zlib.decompress` in process. Every CLI is a subprocess "
        "writing to a file in /tmp, input in the page cache. Times: wall clock, after one warm-up per "
        f"codec, {REPEAT} compress rounds then {REPEAT} decompress rounds, each running every codec once "
        "in turn (interleaved, so a busy neighbour slows all alike); the median is reported. "
        + (
            ""
            if quick
            else f"On the full corpus {', '.join(SLOW)} get no warm-up and 1 timed run each way (they "
            "take minutes); all other codecs the same 1 + 3. "
        )
        + "'decompress / gzip -d' compares with `gzip -d` of the gzip -9 file; 'cores used' = child CPU "
        "(user + system) / wall (GNU time counts CPU in 10 ms steps: runs of a few ms read 0). Peak RSS: "
        "each CLI child's own ru_maxrss via GNU time `%M` (this "
        "process's wait4 would report the parent's high-water mark: Linux copies it into a forked child at "
        "exec); not measured in process. Every decompression verified byte for byte, every compression's "
        f"size checked against the first. The machine's {os.cpu_count()} logical cores are shared with "
        f"other work, so times are noisy (1-minute load average at the start of each input: {load_text}). "
        f"Whole run: {elapsed / 60:.1f} min. Versions: {_versions()}."
    )
    plot = (
        "Size relative to gzip -9, all codecs and inputs: ![size / gzip -9](bpez-size.png) "
        "(SVG with every bar named: [bpez-size.html](bpez-size.html))."
    )
    for index, (label, rows) in enumerate(results.items()):
        report.add_table(label, CORPUS_COLUMNS, corpus_rows(rows), note if index == 0 else plot)

    by_name = {label: {r["codec"]: r for r in rows} for label, rows in results.items()}
    report.add_table(
        "bpez peak memory",
        MEMORY_COLUMNS,
        memory_rows(by_name, baselines),
        "Peak RSS of the bpez CLI process (max over its runs) minus its baseline: the median peak RSS of the "
        "same command on an empty input (interpreter, imports, thread pool, no block data; "
        f"{baselines[1]['compress'] / MIB:.1f} MiB at -T1 compressing). Bound = {MEMORY_FACTOR} x block size "
        f"x threads ({MEMORY_FACTOR} MiB per thread at 1 MiB blocks): the format keeps one block per thread "
        "in flight plus the one being read, and a thread coding a 1 MiB block holds the block, the pair "
        "coder's private copy and tables (~1.4 MiB), its output, and libdeflate's near-optimal match finder "
        "(~5.5 MiB whatever the block size). 'max over baseline' is the worse of compress and decompress. A "
        "bounded pipeline shows as a peak that does not grow with the input.",
    )
    report.add_table(
        f"bpez peak memory by block size (compress, {memory_label})",
        SWEEP_COLUMNS,
        sweep_rows(sweep),
        "`python -m everybit bpez -c -B BLOCK -T N FILE > out`, one run each (output verified by "
        "`everybit.bpez.decompress`); over baseline = peak RSS minus the -T N compress baseline above; "
        f"bound = {MEMORY_FACTOR} x block x threads. 'over / (block x threads)' is the constant the "
        "measurement implies: if it falls as blocks grow, part of the peak is a fixed cost per thread, "
        "not proportional to the block size.",
    )
    add_headlines(report, by_name, baselines, memory_label)
    save_plot(results, harness.RESULTS_DIR)
    return report
