"""Anchor codecs on real text: the sizes and speeds every everybit compressor is compared with.

zlib -1/-6/-9 (the deflate of gzip), bz2 -9, xz preset 6, zstd -3/-19, lz4 frame (fast and HC -9), all
single-threaded, in-memory, through their Python bindings. Each is round-trip verified.
"""

from __future__ import annotations

import bz2
import lzma
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import data
from bench.harness import Report, time_call

REPEAT = 3  # timed runs per measurement, after one warm-up; the median is reported


@dataclass(frozen=True)
class Codec:
    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def codecs() -> list[Codec]:
    """The anchor codecs, strongest-known settings users reach for."""
    import lz4.frame
    import zstandard

    def zstd(level: int) -> Codec:
        return Codec(
            f"zstd -{level}",
            zstandard.ZstdCompressor(level=level).compress,
            zstandard.ZstdDecompressor().decompress,
        )

    def deflate(level: int) -> Codec:
        return Codec(f"zlib -{level}", lambda b: zlib.compress(b, level), zlib.decompress)

    return [
        deflate(1),
        deflate(6),
        deflate(9),
        Codec("bz2 -9", lambda b: bz2.compress(b, 9), bz2.decompress),
        Codec("xz -6", lambda b: lzma.compress(b, preset=6), lzma.decompress),
        zstd(3),
        zstd(19),
        Codec("lz4", lz4.frame.compress, lz4.frame.decompress),
        Codec("lz4 HC -9", lambda b: lz4.frame.compress(b, compression_level=9), lz4.frame.decompress),
    ]


def codec_versions() -> str:
    import lz4
    import zstandard

    zstd = ".".join(map(str, zstandard.ZSTD_VERSION))
    return (
        f"zlib {zlib.ZLIB_RUNTIME_VERSION}, libzstd {zstd} (zstandard {zstandard.__version__}), "
        f"liblz4 {lz4.library_version_string()} (lz4 {lz4.__version__}), bz2 and lzma of Python "
        f"{sys.version.split()[0]}"
    )


def measure(codec: Codec, raw: bytes) -> dict[str, Any]:
    """Size and median speeds of one codec on one input; raises if the round trip is not exact."""
    packed = time_call(lambda: codec.compress(raw), repeat=REPEAT)
    blob = packed.result
    unpacked = time_call(lambda: codec.decompress(blob), repeat=REPEAT)
    if unpacked.result != raw:
        raise RuntimeError(f"{codec.name}: round trip changed the data")
    mb = len(raw) / data.MB
    return {
        "codec": codec.name,
        "bytes": len(blob),
        "ratio": len(raw) / len(blob),
        "bits_per_byte": 8 * len(blob) / len(raw),
        "compress_mb_s": mb / packed.median,
        "decompress_mb_s": mb / unpacked.median,
    }


def bench_corpus(label: str, path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    results = []
    for codec in codecs():
        print(f"anchors: {label}: {codec.name}", file=sys.stderr, flush=True)
        results.append(measure(codec, raw))
    return results


COLUMNS = ["codec", "compressed bytes", "ratio", "bits/byte", "compress MB/s", "decompress MB/s"]
_KEYS = ["codec", "bytes", "ratio", "bits_per_byte", "compress_mb_s", "decompress_mb_s"]


def _add_headlines(report: Report, label: str, by_name: dict[str, dict[str, Any]]) -> None:
    gzip9, zlib6 = by_name["zlib -9"], by_name["zlib -6"]
    for name in ("zstd -19", "xz -6"):
        ours = by_name[name]["bytes"]
        report.add_headline(
            f"{name} size, {label}",
            ours,
            "zlib -9 (gzip -9)",
            gzip9["bytes"],
            ratio=ours / gzip9["bytes"],
            unit="B",
        )
    zstd3 = by_name["zstd -3"]["compress_mb_s"]
    report.add_headline(
        f"zstd -3 compress speed, {label}",
        zstd3,
        "zlib -6",
        zlib6["compress_mb_s"],
        ratio=zstd3 / zlib6["compress_mb_s"],
        unit="MB/s",
    )
    lz4_d = by_name["lz4"]["decompress_mb_s"]
    report.add_headline(
        f"lz4 decompress speed, {label}",
        lz4_d,
        "zlib -6",
        zlib6["decompress_mb_s"],
        ratio=lz4_d / zlib6["decompress_mb_s"],
        unit="MB/s",
    )


def run(quick: bool = False) -> Report:
    """Measure every anchor on debtext 10 MB and the stdlib sources (`quick`: debtext 1 MB only)."""
    report = Report("anchors", "Anchor codecs on real text")
    corpora = (
        [("debtext 1 MB", data.debtext_1m())]
        if quick
        else [("debtext 10 MB", data.debtext_10m()), ("stdlib .py", data.stdlib_corpus())]
    )
    note = (
        f"Single-threaded, in memory; MB = 10^6 bytes; speeds are the median of {REPEAT} runs after one "
        f"warm-up, relative to the uncompressed size; ratio = original / compressed; every round trip "
        f"verified. Versions: {codec_versions()}."
    )
    for index, (label, path) in enumerate(corpora):
        meta = data.provenance(path)
        report.add_data(label, path, meta["source"], meta["versions"])
        results = bench_corpus(label, path)
        report.add_table(
            f"{label} ({path.stat().st_size:,} bytes)",
            COLUMNS,
            [[r[k] for k in _KEYS] for r in results],
            note,
        )
        if index == 0:  # headline on the first corpus only, to keep README's table short
            _add_headlines(report, label, {r["codec"]: r for r in results})
    return report
