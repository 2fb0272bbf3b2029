"""The bpez section of ``everybit demo``: ours against gzip -9 (zlib) on Python's own sources.

The sample is the first ``SAMPLE_BYTES`` of the running interpreter's stdlib ``*.py`` files in name
order, so it is the same on every run of one Python version and needs no download. Everything shown is
measured in this run; every output is decoded and compared with the input.
"""

from __future__ import annotations

import platform
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import deflate

from everybit import bpez
from everybit.common.parallel import available_cores
from everybit.common.report import Chart, Section, Series, Table
from everybit.common.samples import stdlib_sample

SAMPLE_BYTES = 1 << 20
RUNS = 3  # timed runs per codec and direction; the median is shown


@dataclass
class Codec:
    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def _decoder(threads: int) -> Callable[[bytes], bytes]:
    return lambda blob: bpez.decompress(blob, threads=threads)


def codecs(size: int) -> list[Codec]:
    """Ours and the anchors; ``size`` is the sample's (libdeflate's decoder wants it)."""
    cores = available_cores()
    return [
        Codec("bpez -9, 1 thread", lambda d: bpez.compress(d, level=9, threads=1), _decoder(threads=1)),
        Codec(
            f"bpez -9, 256K blocks, {cores} threads",
            lambda d: bpez.compress(d, level=9, block_size=1 << 18, threads=0),
            _decoder(threads=0),
        ),
        Codec("bpez -6, 1 thread", lambda d: bpez.compress(d, level=6, threads=1), _decoder(threads=1)),
        Codec("gzip -9 (zlib)", lambda d: zlib.compress(d, 9), zlib.decompress),
        Codec("gzip -6 (zlib)", lambda d: zlib.compress(d, 6), zlib.decompress),
        # the same deflate bpez uses, without the BPE pre-pass: what the pre-pass itself gains
        Codec(
            "libdeflate -10, no BPE",
            lambda d: deflate.zlib_compress(d, 10),
            lambda b: deflate.zlib_decompress(b, size),
        ),
    ]


def _seconds(fn: Callable[[bytes], Any], arg: bytes) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def demo(ctx: Any) -> Section:
    data = stdlib_sample(SAMPLE_BYTES)
    rows = []
    for codec in codecs(len(data)):
        packed = codec.compress(data)  # also the warm-up
        ok = codec.decompress(packed) == data
        c_s, d_s = _seconds(codec.compress, data), _seconds(codec.decompress, packed)
        rows.append([codec.name, len(packed), round(len(data) / len(packed), 3), c_s * 1e3, d_s * 1e3, ok])
    if not all(row[-1] for row in rows):
        raise RuntimeError("round trip failed: " + ", ".join(r[0] for r in rows if not r[-1]))
    gzip9 = next(r for r in rows if r[0] == "gzip -9 (zlib)")
    for row in rows:
        row.insert(2, round(100 * (1 - row[1] / gzip9[1]), 2))
    table = Table(
        ["codec", "bytes", "% smaller than gzip -9", "ratio", "compress ms", "decompress ms", "round trip"],
        rows,
        title=f"{len(data):,} bytes of Python {platform.python_version()} stdlib sources",
        note=f"Times: median of {RUNS} runs in this process; bpez at the default 1 MiB blocks unless stated.",
    )
    names = [r[0] for r in rows]
    size_chart = Chart(
        "compressed size",
        [Series("KiB", names, [r[1] / 1024 for r in rows])],
        kind="bar",
        ylabel="KiB (lower is better)",
    )
    time_chart = Chart(
        "compress and decompress time",
        [Series("compress", names, [r[4] for r in rows]), Series("decompress", names, [r[5] for r in rows])],
        kind="bar",
        ylabel="milliseconds (lower is better)",
    )
    ours = rows[0]
    headline = [
        ("vs gzip -9", f"{ours[2]:.1f}% smaller ({ours[1]:,} vs {gzip9[1]:,} bytes)"),
        ("compress", f"{ours[4]:.0f} ms on 1 thread (gzip -9: {gzip9[4]:.0f} ms)"),
        ("decompress", f"{ours[5]:.1f} ms (gzip -9: {gzip9[5]:.1f} ms)"),
    ]
    text = (
        "bpez (byte-pair substitution, then deflate, per block) against gzip -9 and against the same deflate "
        "without the BPE pre-pass; every output was decoded and compared with the input."
    )
    return Section("bpez", text=text, headline=headline, tables=[table], charts=[size_chart, time_chart])
