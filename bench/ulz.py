"""ULZ against the fast codecs: sizes and speeds on real text, per-call cost on small messages, and
multi-thread scaling of the framed format.

Anchors, in the same run on the same inputs: python-lz4 (`lz4.block` default, HC -9 and -12), zstandard
(-1, -3, -19), snappy (cramjam, raw), zlib (-1, -6) and ISA-L (`isal_zlib` -1, -3). Every codec is called
through its fastest one-shot Python API with the uncompressed size known where the API can use it, and every
round trip is verified (a mismatch raises). Also writes `ulz-tradeoff.png` and `ulz-tradeoff.html` (ratio
against compress speed, both corpora) next to the results.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, perf_counter_ns, process_time
from typing import Any

from bench import data, harness
from bench.harness import Report, sha256_file

MB = data.MB
REPEAT = 5  # interleaved compress rounds per big corpus, after one warm-up; the median is reported
DECOMPRESS_REPEAT = 15  # decompression is ~10x faster: more rounds cost little and steady the median
MESSAGES = 200  # small messages per corpus and size
MESSAGE_SIZES = (100, 4096)
CALLS = {100: 100, 4096: 20}  # calls per message in one tight timed loop
THREAD_REPEAT = 9  # interleaved -T 1 / -T 2 rounds (each ~0.3 s on 100 MB)


class RoundTripError(RuntimeError):
    """A codec did not give back the bytes it was given."""


def _check(name: str, out: Any, raw: bytes) -> None:
    if (out if isinstance(out, bytes) else bytes(out)) != raw:
        raise RoundTripError(f"{name}: round trip changed the data ({len(raw):,} bytes in)")


# ---------------------------------------------------------------- big inputs


@dataclass(frozen=True)
class Codec:
    """A one-shot codec: `compress(raw) -> blob`, `decompress(blob, size) -> raw` (size: the original's)."""

    name: str
    family: str
    compress: Callable[[bytes], Any]
    decompress: Callable[[Any, int], Any]


def ulz_codec(level: int) -> Codec:
    from everybit.ulz import block

    return Codec(
        f"ulz -{level}", "ulz", lambda b: block.compress_block(b, level=level), block.decompress_block
    )


def anchor_codecs() -> list[Codec]:
    """The anchors, each through its fastest one-shot call."""
    import cramjam
    import lz4.block
    import zstandard
    from isal import isal_zlib

    def lz4_hc(level: int) -> Codec:
        return Codec(
            f"lz4 HC -{level}",
            "lz4",
            lambda b: lz4.block.compress(b, mode="high_compression", compression=level, store_size=False),
            lambda c, n: lz4.block.decompress(c, uncompressed_size=n),
        )

    def zstd(level: int) -> Codec:
        cctx, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
        return Codec(f"zstd -{level}", "zstd", cctx.compress, lambda c, n: dctx.decompress(c))

    def deflate(name: str, module: Any, level: int) -> Codec:
        return Codec(
            f"{name} -{level}",
            name,
            lambda b: module.compress(b, level),
            lambda c, n: module.decompress(c, bufsize=n),
        )

    return [
        Codec(
            "lz4",
            "lz4",
            lambda b: lz4.block.compress(b, store_size=False),
            lambda c, n: lz4.block.decompress(c, uncompressed_size=n),
        ),
        lz4_hc(9),
        lz4_hc(12),
        zstd(1),
        zstd(3),
        zstd(19),
        Codec("snappy", "snappy", cramjam.snappy.compress_raw, lambda c, n: cramjam.snappy.decompress_raw(c)),
        deflate("zlib", zlib, 1),
        deflate("zlib", zlib, 6),
        deflate("isal", isal_zlib, 1),
        deflate("isal", isal_zlib, 3),
    ]


def bench_corpus(
    label: str,
    raw: bytes,
    codecs: Sequence[Codec],
    *,
    repeat: int = REPEAT,
    decompress_repeat: int = DECOMPRESS_REPEAT,
) -> list[dict[str, Any]]:
    """Size and speeds of every codec on one input. Each codec is warmed up and its round trip verified
    (RoundTripError if not exact); then `repeat` rounds each compress once with every codec in turn, and
    `decompress_repeat` rounds decompress likewise. Interleaving spreads a busy neighbour's load over all
    codecs alike, so the ratios between them stay fair; the median and the best run are reported."""
    n, mb = len(raw), len(raw) / MB
    blobs = []
    for codec in codecs:
        print(f"ulz: {label}: warm-up and check {codec.name}", file=sys.stderr, flush=True)
        blob = codec.compress(raw)
        _check(codec.name, codec.decompress(blob, n), raw)
        blobs.append(blob)
    packed: list[list[float]] = [[] for _ in codecs]
    unpacked: list[list[float]] = [[] for _ in codecs]
    for r in range(repeat):
        print(f"ulz: {label}: compress round {r + 1}/{repeat}", file=sys.stderr, flush=True)
        for codec, blob, runs in zip(codecs, blobs, packed, strict=True):
            start = perf_counter()
            again = codec.compress(raw)
            runs.append(perf_counter() - start)
            if len(again) != len(blob):
                raise RoundTripError(f"{codec.name}: two compressions of the same input differ in size")
    for _ in range(decompress_repeat):
        for codec, blob, runs in zip(codecs, blobs, unpacked, strict=True):
            start = perf_counter()
            codec.decompress(blob, n)
            runs.append(perf_counter() - start)
    return [
        {
            "codec": codec.name,
            "family": codec.family,
            "bytes": len(blob),
            "ratio": n / len(blob),
            "compress_mb_s": mb / statistics.median(c),
            "decompress_mb_s": mb / statistics.median(d),
            "best_compress_mb_s": mb / min(c),
            "best_decompress_mb_s": mb / min(d),
            "compress_runs": repeat,
            "decompress_runs": decompress_repeat,
            "verified": True,
        }
        for codec, blob, c, d in zip(codecs, blobs, packed, unpacked, strict=True)
    ]


def measure(codec: Codec, raw: bytes, **kwargs: Any) -> dict[str, Any]:
    """`bench_corpus` for one codec."""
    return bench_corpus(codec.name, raw, [codec], **kwargs)[0]


CORPUS_COLUMNS = [
    "codec",
    "compressed bytes",
    "ratio",
    "compress MB/s",
    "decompress MB/s",
    "size / lz4",
    "compress / lz4",
    "decompress / lz4",
    "best compress MB/s",
    "best decompress MB/s",
    "verified",
]


def corpus_rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    """Table rows, with every codec's size and speeds relative to lz4 default."""
    lz4 = next(r for r in results if r["codec"] == "lz4")
    return [
        [
            r["codec"],
            r["bytes"],
            r["ratio"],
            r["compress_mb_s"],
            r["decompress_mb_s"],
            r["bytes"] / lz4["bytes"],
            r["compress_mb_s"] / lz4["compress_mb_s"],
            r["decompress_mb_s"] / lz4["decompress_mb_s"],
            r["best_compress_mb_s"],
            r["best_decompress_mb_s"],
            r["verified"],
        ]
        for r in results
    ]


# ---------------------------------------------------------------- small messages


@dataclass(frozen=True)
class CallCodec:
    """A codec for small messages, as two Python statements timed in a tight loop: `compress` over `m`
    (the message), `decompress` over `c` (its compressed form) and `n` (its size). `names` binds the
    functions they call (as loop locals, like timeit does)."""

    name: str
    compress: str
    decompress: str
    names: dict[str, Any]


OURS_CALL = "ulz -1 block.compress_block (known size)"  # the public API: what the headline measures


def call_codecs() -> list[CallCodec]:
    import cramjam
    import lz4.block
    import zstandard
    from isal import isal_zlib

    from everybit.ulz import block

    def zstd(level: int) -> CallCodec:
        names = {
            "compress": zstandard.ZstdCompressor(level=level).compress,
            "decompress": zstandard.ZstdDecompressor().decompress,
        }
        return CallCodec(f"zstd -{level} (reused contexts)", "compress(m)", "decompress(c)", names)

    bare = {"compress": block.compress_block, "decompress": block.decompress_block}
    header = {"compress": block.compress, "decompress": block.decompress}
    lz4_names = {"compress": lz4.block.compress, "decompress": lz4.block.decompress}
    snappy = {"compress": cramjam.snappy.compress_raw, "decompress": cramjam.snappy.decompress_raw}
    return [
        CallCodec(OURS_CALL, "compress(m)", "decompress(c, n)", bare),
        CallCodec("ulz -1 block.compress (size header)", "compress(m)", "decompress(c)", header),
        CallCodec(
            "lz4.block (store_size=False)",
            "compress(m, store_size=False)",
            "decompress(c, uncompressed_size=n)",
            lz4_names,
        ),
        zstd(1),
        CallCodec("snappy raw (cramjam)", "compress(m)", "decompress(c)", snappy),
        CallCodec(
            "zlib -1",
            "compress(m, 1)",
            "decompress(c)",
            {"compress": zlib.compress, "decompress": zlib.decompress},
        ),
        CallCodec(
            "isal -1",
            "compress(m, 1)",
            "decompress(c)",
            {"compress": isal_zlib.compress, "decompress": isal_zlib.decompress},
        ),
    ]


def make_loop(stmt: str, names: dict[str, Any]) -> Callable[[Sequence[tuple], int], list[int]]:
    """Compile `loop(items, number) -> [ns per item]`: for each (m, c, n) item, perf_counter_ns around
    `number` runs of `stmt`, everything it uses bound as locals."""
    params = "".join(f", {key}={key}" for key in names)
    source = (
        f"def loop(items, number, _now=_now, _repeat=_repeat{params}):\n"
        "    times = []\n"
        "    for m, c, n in items:\n"
        "        t0 = _now()\n"
        "        for _ in _repeat(None, number):\n"
        f"            {stmt}\n"
        "        times.append(_now() - t0)\n"
        "    return times\n"
    )
    namespace = {**names, "_now": perf_counter_ns, "_repeat": itertools.repeat}
    exec(compile(source, f"<ulz bench loop: {stmt}>", "exec"), namespace)
    return namespace["loop"]


def cut_messages(raw: bytes, size: int, count: int, seed: int) -> list[bytes]:
    """`count` messages of `size` bytes at fixed, seeded offsets into `raw`."""
    rng = random.Random(seed)
    return [raw[o : o + size] for o in (rng.randrange(len(raw) - size + 1) for _ in range(count))]


def measure_calls(codec: CallCodec, messages: Sequence[bytes], number: int) -> dict[str, Any]:
    """Per-call µs of compress and decompress, each the median over the messages of (time of `number`
    calls in a tight loop) / `number`, garbage collector off. Every message's round trip is verified."""
    items = []
    for m in messages:
        c = eval(codec.compress, dict(codec.names), {"m": m})
        out = eval(codec.decompress, dict(codec.names), {"c": c, "n": len(m)})
        _check(codec.name, out, m)
        items.append((m, c, len(m)))
    result: dict[str, Any] = {
        "codec": codec.name,
        "bytes": sum(len(c) for _, c, _ in items),
        "raw_bytes": sum(n for _, _, n in items),
        "verified": True,
    }
    for op, stmt in (("compress", codec.compress), ("decompress", codec.decompress)):
        loop = make_loop(stmt, codec.names)
        loop(items[:10], number)  # warm-up
        enabled = gc.isenabled()
        gc.disable()
        try:
            times = loop(items, number)
        finally:
            if enabled:
                gc.enable()
        per_call = [t / number / 1000 for t in times]
        result[f"{op}_us_all"] = per_call
        result[f"{op}_us"] = statistics.median(per_call)
    return result


def pool_calls(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One codec's results on several message sets combined: medians over all the messages."""
    pooled: dict[str, Any] = {"codec": results[0]["codec"], "verified": all(r["verified"] for r in results)}
    pooled["bytes"] = sum(r["bytes"] for r in results)
    pooled["raw_bytes"] = sum(r["raw_bytes"] for r in results)
    for op in ("compress", "decompress"):
        pooled[f"{op}_us_all"] = [t for r in results for t in r[f"{op}_us_all"]]
        pooled[f"{op}_us"] = statistics.median(pooled[f"{op}_us_all"])
    return pooled


CALL_COLUMNS = [
    "messages",
    "codec",
    "ratio",
    "compress µs/call",
    "decompress µs/call",
    "compress / lz4",
    "decompress / lz4",
    "verified",
]


def call_rows(label: str, results: list[dict[str, Any]]) -> list[list[Any]]:
    lz4 = next(r for r in results if r["codec"].startswith("lz4"))
    return [
        [
            label,
            r["codec"],
            r["raw_bytes"] / r["bytes"],
            r["compress_us"],
            r["decompress_us"],
            r["compress_us"] / lz4["compress_us"],
            r["decompress_us"] / lz4["decompress_us"],
            r["verified"],
        ]
        for r in results
    ]


# ---------------------------------------------------------------- threads


THREADS_API = "everybit.ulz.compress_file(src, dst, level=1, threads=T)"


def bench_threads(
    path: Path, threads: Sequence[int] = (1, 2), repeat: int = THREAD_REPEAT
) -> list[dict[str, Any]]:
    """Compress `path` with `THREADS_API` at each thread count: one warm-up each, then `repeat` rounds that
    run every thread count once in turn (interleaved, so a neighbour's load hits them alike); reports the
    median and the best wall time and the CPU time the process got (cores used = CPU / wall). The output is
    verified once per thread count."""
    from everybit import ulz

    size = path.stat().st_size
    with tempfile.TemporaryDirectory(prefix="everybit-ulz-bench-") as tmp:
        dst, back = Path(tmp) / "out.ulz", Path(tmp) / "back"
        raw = path.read_bytes()

        def once(t: int) -> int:
            """Compress with t threads; returns the compressed size."""
            return ulz.compress_file(path, dst, level=1, threads=t, overwrite=True)[1]

        out_bytes = {t: once(t) for t in threads}  # warm-up
        wall: dict[int, list[float]] = {t: [] for t in threads}
        cpu: dict[int, list[float]] = {t: [] for t in threads}
        load = os.getloadavg()[0]
        for i in range(repeat):
            print(f"ulz: threads: round {i + 1}/{repeat}", file=sys.stderr, flush=True)
            for t in threads:
                w0, c0 = perf_counter(), process_time()
                once(t)
                wall[t].append(perf_counter() - w0)
                cpu[t].append(process_time() - c0)
        for t in threads:
            once(t)
            ulz.decompress_file(dst, back, overwrite=True)
            if back.read_bytes() != raw:
                raise RoundTripError(f"ulz -T {t}: round trip changed the data")
    results = []
    for t in threads:
        median, best = statistics.median(wall[t]), min(wall[t])
        results.append(
            {
                "threads": t,
                "bytes": out_bytes[t],
                "seconds": median,
                "mb_s": size / MB / median,
                "best_mb_s": size / MB / best,
                "cores_used": statistics.median(c / w for c, w in zip(cpu[t], wall[t], strict=True)),
                "runs": repeat,
                "load_before": load,
                "verified": True,
            }
        )
    return results


CLI = [sys.executable, "-m", "everybit", "-q", "ulz"]


def bench_cli(path: Path, threads: Sequence[int] = (1, 2), repeat: int = 3) -> list[dict[str, Any]]:
    """Wall time of `ulz -T N -c FILE > out` (process start included): one warm-up per N, then `repeat`
    interleaved rounds, median."""
    size = path.stat().st_size
    wall: dict[int, list[float]] = {t: [] for t in threads}
    with tempfile.TemporaryDirectory(prefix="everybit-ulz-cli-") as tmp:
        out = Path(tmp) / "out.ulz"

        def once(t: int) -> float:
            with open(out, "wb") as handle:
                start = perf_counter()
                subprocess.run([*CLI, "-T", str(t), "-c", str(path)], stdout=handle, check=True)
                return perf_counter() - start

        for t in threads:
            once(t)
            with open(out, "rb") as handle:
                back = subprocess.run(
                    [*CLI, "-d", "-c"], stdin=handle, capture_output=True, check=True
                ).stdout
            if back != path.read_bytes():
                raise RoundTripError(f"ulz CLI -T {t}: round trip changed the data")
        for _ in range(repeat):
            for t in threads:
                wall[t].append(once(t))
    return [
        {"threads": t, "seconds": statistics.median(wall[t]), "mb_s": size / MB / statistics.median(wall[t])}
        for t in threads
    ]


# ---------------------------------------------------------------- headline, plot, run


def add_headlines(
    report: Report,
    corpora: dict[str, dict[str, dict[str, Any]]],
    calls_100: dict[str, dict[str, Any]] | None,
    threads: list[dict[str, Any]] | None,
    threads_label: str,
) -> None:
    """The issue's targets, each with met true/false. `corpora`: label -> codec name -> result."""
    if calls_100:
        ours, lz4 = calls_100[OURS_CALL], calls_100["lz4.block (store_size=False)"]
        for op in ("compress", "decompress"):
            report.add_headline(
                f"100 B messages: {op} per call (ulz.block.{op}_block vs lz4.block)",
                ours[f"{op}_us"],
                "python-lz4 lz4.block",
                lz4[f"{op}_us"],
                ratio=ours[f"{op}_us"] / lz4[f"{op}_us"],
                target="<= 1x lz4",
                met=ours[f"{op}_us"] <= lz4[f"{op}_us"],
                unit="µs",
            )
    for label, by in corpora.items():
        one, lz4 = by["ulz -1"], by["lz4"]
        report.add_headline(
            f"ulz -1 size, {label}",
            one["bytes"],
            "lz4 default",
            lz4["bytes"],
            ratio=one["bytes"] / lz4["bytes"],
            target="< lz4",
            met=one["bytes"] < lz4["bytes"],
            unit="B",
        )
        speed = one["compress_mb_s"] / lz4["compress_mb_s"]
        report.add_headline(
            f"ulz -1 compress speed, {label}",
            one["compress_mb_s"],
            "lz4 default",
            lz4["compress_mb_s"],
            ratio=speed,
            target=">= 0.6x lz4",
            met=speed >= 0.6,
            unit="MB/s",
        )
    for label, by in corpora.items():
        nine, hc = by["ulz -9"], by["lz4 HC -12"]
        report.add_headline(
            f"ulz -9 size, {label}",
            nine["bytes"],
            "lz4 HC -12",
            hc["bytes"],
            ratio=nine["bytes"] / hc["bytes"],
            target="< lz4 HC -12",
            met=nine["bytes"] < hc["bytes"],
            unit="B",
        )
    for label, by in corpora.items():
        ours = by["ulz -1"]["decompress_mb_s"]
        for anchor, factor in (("lz4", 0.6), ("zstd -3", 1.0)):
            theirs = by[anchor]["decompress_mb_s"]
            report.add_headline(
                f"decompress speed (ulz -1 output), {label}",
                ours,
                anchor,
                theirs,
                ratio=ours / theirs,
                target=f">= {factor:g}x {anchor}",
                met=ours >= factor * theirs,
                unit="MB/s",
            )
    if threads:
        t1 = next(r for r in threads if r["threads"] == 1)
        t2 = next(r for r in threads if r["threads"] == 2)
        report.add_headline(
            f"-T 2 compress speed, {threads_label}",
            t2["mb_s"],
            "-T 1",
            t1["mb_s"],
            ratio=t2["mb_s"] / t1["mb_s"],
            target=">= 1.7x -T 1",
            met=t2["mb_s"] >= 1.7 * t1["mb_s"],
            unit="MB/s",
        )


_PLOT_GROUPS = (
    ("ulz", ("ulz",)),
    ("lz4", ("lz4",)),
    ("zstd", ("zstd",)),
    ("snappy/zlib/isal", ("snappy", "zlib", "isal")),
)


def tradeoff_chart(corpora: dict[str, list[dict[str, Any]]]) -> Any:
    """Ratio against compress MB/s (log x), one series per (codec group, corpus): 8 series, 8 colours."""
    from everybit.common.report import Chart, Series

    series = []
    for label, results in corpora.items():
        for group, families in _PLOT_GROUPS:
            points = [r for r in results if r["family"] in families]
            series.append(
                Series(
                    f"{group}, {label}", [r["compress_mb_s"] for r in points], [r["ratio"] for r in points]
                )
            )
    return Chart(
        "Compression ratio vs compress speed (single thread)",
        series,
        kind="scatter",
        xlabel="compress MB/s (log)",
        ylabel="ratio (original / compressed)",
        logx=True,
    )


def save_plot(corpora: dict[str, list[dict[str, Any]]], folder: Path) -> tuple[Path, Path]:
    """Write ulz-tradeoff.png and ulz-tradeoff.html (the SVG plus a table naming every point)."""
    chart = tradeoff_chart(corpora)
    png = chart.save_png(folder / "ulz-tradeoff.png")
    rows = [
        [label, r["codec"], r["ratio"], r["compress_mb_s"], r["decompress_mb_s"]]
        for label, results in corpora.items()
        for r in results
    ]
    page = harness.chart_page(
        folder / "ulz-tradeoff.html",
        "ulz: ratio vs compress speed",
        chart,
        note="Generated by <code>python -m bench ulz</code>; hover a point for its values. Points:",
        tables=[(["corpus", "codec", "ratio", "compress MB/s", "decompress MB/s"], rows)],
    )
    return png, page


def _codec_versions() -> str:
    import cramjam
    import isal
    import lz4
    import zstandard

    from everybit.ulz import _ulz

    zstd = ".".join(map(str, zstandard.ZSTD_VERSION))
    source = Path(_ulz.__file__).with_name("_ulz.c")
    ours = f"ulz C core built from _ulz.c sha256 {sha256_file(source)[:16]}, " if source.exists() else ""
    return (
        f"{ours}liblz4 {lz4.library_version_string()} (lz4 {lz4.__version__}), libzstd {zstd} (zstandard "
        f"{zstandard.__version__}), cramjam {cramjam.__version__}, isal {isal.__version__}, zlib "
        f"{zlib.ZLIB_RUNTIME_VERSION}"
    )


def _prefix_file(src: Path, size: int, folder: Path) -> Path:
    """The first `size` bytes of `src` as a file (named for its origin), so its provenance can be recorded."""
    out = folder / f"{src.stem}-first{size // MB}MB.txt"
    with open(src, "rb") as handle:
        out.write_bytes(handle.read(size))
    return out


# glibc mallopt() parameters and their static defaults.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_DEFAULT_THRESHOLD = 128 * 1024


@contextmanager
def steady_malloc() -> Iterator[bool]:
    """Pin glibc's malloc (mmap threshold 32 MiB, trim threshold 1 GiB) for the duration, so that a
    multi-megabyte output buffer freed by one call is reused by the next instead of being mmap'ed and
    page-faulted afresh. Otherwise glibc's dynamic thresholds make a codec's speed depend on the heap's
    history: python-lz4's decompress (which allocates twice and copies) measured 1,000 to 3,900 MB/s on
    the same 10 MB. Yields whether it applied (False off glibc); restores the static defaults after."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        yield False
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    pinned = mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1 and mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    try:
        yield pinned
    finally:
        mallopt(_M_MMAP_THRESHOLD, _DEFAULT_THRESHOLD)
        mallopt(_M_TRIM_THRESHOLD, _DEFAULT_THRESHOLD)


def run(quick: bool = False) -> Report:
    """Full: debtext 10 MB and the first 10 MB of the stdlib sources, ulz levels 1-9, 100 MB for threads.
    `quick`: 1 MB of each, levels 1, 5 and 9, 10 MB for threads, fewer runs and messages. Runs under
    `steady_malloc`."""
    with steady_malloc() as pinned:
        return _run(quick, pinned)


def _run(quick: bool, pinned: bool) -> Report:
    report = Report("ulz", "ULZ against lz4, zstd, snappy, zlib and ISA-L")
    size = 1 * MB if quick else 10 * MB
    levels = (1, 5, 9) if quick else tuple(range(1, 10))
    repeat, drepeat = (3, 5) if quick else (REPEAT, DECOMPRESS_REPEAT)
    messages = 30 if quick else MESSAGES
    calls = {n: max(5, c // 5) for n, c in CALLS.items()} if quick else CALLS
    codecs = [ulz_codec(level) for level in levels] + anchor_codecs()

    with tempfile.TemporaryDirectory(prefix="everybit-ulz-bench-") as tmp:
        stdlib = data.stdlib_corpus()
        inputs = [
            (f"debtext {size // MB} MB", data.debtext_1m() if quick else data.debtext_10m(), None),
            (f"stdlib {size // MB} MB", _prefix_file(stdlib, size, Path(tmp)), stdlib),
        ]
        results: dict[str, list[dict[str, Any]]] = {}
        call_results: dict[int, dict[str, list[dict[str, Any]]]] = {n: {} for n in MESSAGE_SIZES}
        for label, path, parent in inputs:
            if parent is None:
                meta = data.provenance(path)
                report.add_data(label, path, meta["source"], meta["versions"])
            else:
                meta = data.provenance(parent)
                source = f"first {size:,} bytes of {parent.name} (sha256 {meta['sha256']}): {meta['source']}"
                report.add_data(label, path, source, meta["versions"])
            raw = path.read_bytes()
            results[label] = bench_corpus(label, raw, codecs, repeat=repeat, decompress_repeat=drepeat)
            for n in MESSAGE_SIZES:
                print(f"ulz: {label}: {n} B messages", file=sys.stderr, flush=True)
                cut = cut_messages(raw, n, messages, seed=n)
                call_results[n][label] = [measure_calls(c, cut, calls[n]) for c in call_codecs()]

    note = (
        f"Single thread, in memory, one-shot calls with the size known where the API takes it "
        f"(ulz.block.compress_block/decompress_block(size), lz4.block store_size=False/uncompressed_size, "
        f"zstd with reused contexts, cramjam snappy raw, zlib/isal_zlib decompress bufsize=size). "
        f"MB = 10^6 bytes, of the uncompressed size; after one warm-up per codec, {repeat} compress rounds "
        f"and {drepeat} decompress rounds each run every codec once in turn (interleaved, so a busy "
        f"neighbour slows all codecs alike); speeds are the median run, 'best' the fastest; ratio = "
        f"original / compressed; every round trip verified. The machine's 2 cores are shared with other "
        f"work, so speeds are noisy. "
        + (
            "glibc malloc pinned (mmap threshold 32 MiB, no trimming) so output buffers are reused, not "
            "page-faulted afresh per call; without it python-lz4's decompress swings 1,000-3,900 MB/s on "
            "the same data with heap history. "
            if pinned
            else "malloc not pinned (not glibc): allocation effects may vary run to run. "
        )
        + f"Versions: {_codec_versions()}."
    )
    plot = (
        "Ratio vs compress speed, all codecs, both corpora: ![ratio vs compress speed](ulz-tradeoff.png) "
        "(interactive SVG with every point named: [ulz-tradeoff.html](ulz-tradeoff.html))."
    )
    for index, (label, rows) in enumerate(results.items()):
        report.add_table(label, CORPUS_COLUMNS, corpus_rows(rows), note if index == 0 else plot)

    call_table, pooled_100 = [], {}
    for n in MESSAGE_SIZES:
        for label, rows in call_results[n].items():
            call_table += call_rows(f"{n} B, {label}", rows)
        pooled = [pool_calls(group) for group in zip(*call_results[n].values(), strict=True)]
        call_table += call_rows(f"{n} B, both", pooled)
        if n == 100:
            pooled_100 = {r["codec"]: r for r in pooled}
    report.add_table(
        "Small messages: per-call time",
        CALL_COLUMNS,
        call_table,
        f"{messages} messages per corpus and size, cut at fixed seeded offsets; per-call time = median over "
        f"the messages of (perf_counter_ns around {calls[100]} calls for 100 B, {calls[4096]} for 4 KB, "
        "in a tight loop, functions bound as locals, GC off) / calls. 'both' pools the two corpora's "
        "messages. `ulz.block`'s functions are the C extension's own (keyword-only options and signatures "
        "included), with no Python wrapper between. Every message's round trip verified.",
    )

    threads_path = data.debtext_10m() if quick else data.debtext_slice(100 * MB)
    threads_label = f"{threads_path.stat().st_size // MB} MB debtext"
    meta = data.provenance(threads_path)
    report.add_data(f"threads input ({threads_label})", threads_path, meta["source"], meta["versions"])
    thread_repeat = 3 if quick else THREAD_REPEAT
    threads = bench_threads(threads_path, repeat=thread_repeat)
    columns = [
        "threads",
        "compressed bytes",
        "median s",
        "MB/s (median)",
        "MB/s (best)",
        "cores used",
        "verified",
    ]
    rows = [
        [
            f"-T {r['threads']}",
            r["bytes"],
            r["seconds"],
            r["mb_s"],
            r["best_mb_s"],
            r["cores_used"],
            r["verified"],
        ]
        for r in threads
    ]
    t1, t2 = threads[0], threads[1]
    rows.append(
        ["-T 2 / -T 1", None, None, t2["mb_s"] / t1["mb_s"], t2["best_mb_s"] / t1["best_mb_s"], None, None]
    )
    report.add_table(
        f"Threads: level 1 on {threads_label}",
        columns,
        rows,
        f"Timed through `{THREADS_API}`; one warm-up each, then {thread_repeat} rounds alternating -T 1 "
        f"and -T 2 (median and best wall time); cores used = process CPU time / wall time (median); input "
        f"in the page cache, output to a temporary file. The machine's {os.cpu_count()} logical cores are "
        f"shared with other work (1-minute load average {t1['load_before']:.2f} when this started), so -T 2 "
        "gets both only when the neighbours are idle: 'cores used' below 2 means it did not.",
    )
    cli_repeat = 1 if quick else 5
    cli = bench_cli(threads_path, repeat=cli_repeat)
    cli_rows = [[f"ulz -T {r['threads']} -c FILE > out", r["seconds"], r["mb_s"]] for r in cli]
    cli_rows.append(["-T 2 / -T 1", None, cli[1]["mb_s"] / cli[0]["mb_s"]])
    report.add_table(
        f"ulz CLI: level 1 on {threads_label}",
        ["command", "median s", "MB/s"],
        cli_rows,
        f"`python -m everybit -q ulz -T N -c FILE`, stdout to a file; wall time including interpreter "
        f"start; one warm-up each, then {cli_repeat} rounds alternating -T 1 and -T 2, median; output "
        "verified with `ulz -d -c`.",
    )

    by_name = {label: {r["codec"]: r for r in rows} for label, rows in results.items()}
    add_headlines(report, by_name, pooled_100, threads, threads_label)
    save_plot(results, harness.RESULTS_DIR)
    return report
