"""The ulz section of ``everybit demo``: ours against lz4, zstd and zlib on Python's own sources.

The sample is the first ``SAMPLE_BYTES`` of the running interpreter's stdlib ``*.py`` files in name
order, so it is the same on every run of one Python version and needs no download. Everything shown is
measured in this run, on one thread except the framed row.
"""

from __future__ import annotations

import importlib
import platform
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from everybit import ulz
from everybit.common.report import Chart, Section, Series, Table
from everybit.common.samples import stdlib_sample

SAMPLE_BYTES = 512 * 1024
MIN_RUN_S = 0.02  # fast codecs are repeated until one timed run lasts this long


@dataclass
class Codec:
    family: str
    setting: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def codecs() -> tuple[list[Codec], list[str]]:
    """Ours and each anchor that is installed; the missing ones as notes."""
    found = [
        Codec("ulz", f"-{lv}", lambda d, lv=lv: ulz.block.compress(d, level=lv), ulz.block.decompress)
        for lv in (1, 5, 9)
    ]
    found.append(
        Codec(
            "ulz",
            "-1 framed, 64 KiB blocks, 2 threads",
            lambda d: ulz.compress(d, level=1, threads=2, block_size=ulz.MIN_BLOCK_SIZE),
            lambda d: ulz.decompress(d, threads=2),
        )
    )
    missing = []
    lz4 = _optional("lz4.block", missing)
    if lz4:
        found.append(Codec("lz4", "default", lz4.compress, lz4.decompress))
        found.append(
            Codec(
                "lz4",
                "HC 12",
                lambda d: lz4.compress(d, mode="high_compression", compression=12),
                lz4.decompress,
            )
        )
    zstd = _optional("zstandard", missing)
    if zstd:
        for lv in (1, 3, 19):
            found.append(
                Codec(
                    "zstd",
                    f"-{lv}",
                    zstd.ZstdCompressor(level=lv).compress,
                    zstd.ZstdDecompressor().decompress,
                )
            )
    found.append(Codec("zlib", "-6", lambda d: zlib.compress(d, 6), zlib.decompress))
    return found, missing


def _optional(name: str, missing: list[str]) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        missing.append(name.split(".")[0])
        return None


def _rate(fn: Callable[[bytes], Any], arg: bytes, nbytes: int) -> float:
    """MB/s of ``fn(arg)``: median of 3 timed runs, each repeated to at least MIN_RUN_S."""
    reps = 1
    while True:
        start = time.perf_counter()
        for _ in range(reps):
            fn(arg)
        took = time.perf_counter() - start
        if took >= MIN_RUN_S:
            break
        reps = max(reps * 2, int(reps * MIN_RUN_S / max(took, 1e-9)) + 1)
    runs = [took]
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(reps):
            fn(arg)
        runs.append(time.perf_counter() - start)
    return nbytes * reps / statistics.median(runs) / 1e6


def demo(ctx: Any) -> Section:
    data = stdlib_sample(SAMPLE_BYTES)
    found, missing = codecs()
    rows, points = [], {}
    for codec in found:
        packed = codec.compress(data)  # also the warm-up
        ok = codec.decompress(packed) == data
        ratio = len(data) / len(packed)
        c_rate = _rate(codec.compress, data, len(data))
        d_rate = _rate(codec.decompress, packed, len(data))
        rows.append([codec.family, codec.setting, len(packed), round(ratio, 3), c_rate, d_rate, ok])
        xs, ys = points.setdefault(codec.family, ([], []))
        xs.append(c_rate)
        ys.append(ratio)
    if not all(row[-1] for row in rows):
        bad = ", ".join(f"{r[0]} {r[1]}" for r in rows if not r[-1])
        raise RuntimeError(f"round trip failed: {bad}")
    note = "MB/s = 10^6 bytes per second, median of 3 runs; one thread unless stated."
    if missing:
        note += f" Not installed, so not shown: {', '.join(missing)}."
    table = Table(
        ["codec", "setting", "bytes", "ratio", "compress MB/s", "decompress MB/s", "round trip"],
        rows,
        title=f"{len(data):,} bytes of Python {platform.python_version()} stdlib sources",
        note=note,
    )
    chart = Chart(
        "ratio vs compress speed",
        [Series(family, xs, ys) for family, (xs, ys) in points.items()],
        kind="scatter",
        xlabel="compress MB/s (log scale)",
        ylabel="compression ratio",
        logx=True,
    )
    ours = {row[1]: row for row in rows if row[0] == "ulz"}
    headline = [
        (f"level {lv}", f"ratio {ours[f'-{lv}'][3]:.2f}x at {ours[f'-{lv}'][4]:,.0f} MB/s") for lv in (1, 9)
    ]
    headline.append(("decompress", f"{ours['-1'][5]:,.0f} MB/s"))
    text = (
        "ULZ at three levels against the installed anchors on the same sample; every output was decoded "
        "and compared with the input."
    )
    return Section("ulz", text=text, headline=headline, tables=[table], charts=[chart])
