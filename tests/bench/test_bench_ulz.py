"""bench.ulz's measurement helpers on tiny inputs: round trips verified, broken codecs caught loudly."""

import platform
import sys
import zlib

import pytest

pytest.importorskip("zstandard")
pytest.importorskip("lz4")
pytest.importorskip("cramjam")
pytest.importorskip("isal")
pytest.importorskip("everybit.ulz._ulz")

from bench import ulz as bench_ulz
from bench.harness import Report

TEXT = b"It was the best of times, it was the worst of times; " * 300 + bytes(range(256)) * 4


def test_every_codec_round_trips_and_compresses():
    codecs = [bench_ulz.ulz_codec(level) for level in (1, 5, 9)] + bench_ulz.anchor_codecs()
    results = [bench_ulz.measure(c, TEXT, repeat=1, decompress_repeat=1) for c in codecs]
    names = {r["codec"] for r in results}
    assert {"ulz -1", "ulz -9", "lz4", "lz4 HC -12", "zstd -3", "snappy", "zlib -6", "isal -3"} <= names
    for r in results:
        assert r["verified"] and 0 < r["bytes"] < len(TEXT) / 4, r
        assert r["ratio"] == pytest.approx(len(TEXT) / r["bytes"])
        assert r["compress_mb_s"] > 0 and r["decompress_mb_s"] > 0
    rows = bench_ulz.corpus_rows(results)
    lz4_row = next(row for row in rows if row[0] == "lz4")
    assert lz4_row[5:8] == [1.0, 1.0, 1.0] and all(len(row) == len(bench_ulz.CORPUS_COLUMNS) for row in rows)


def test_broken_codec_fails_loudly():
    lossy = bench_ulz.Codec("lossy", "x", zlib.compress, lambda c, n: zlib.decompress(c)[:-1])
    with pytest.raises(bench_ulz.RoundTripError, match="lossy"):
        bench_ulz.measure(lossy, TEXT, repeat=1, decompress_repeat=1)
    flipped = bench_ulz.CallCodec(
        "flipped",
        "compress(m)",
        "decompress(c)[::-1]",
        {"compress": zlib.compress, "decompress": zlib.decompress},
    )
    with pytest.raises(bench_ulz.RoundTripError, match="flipped"):
        bench_ulz.measure_calls(flipped, [b"abcdef" * 10], number=1)


def test_small_messages_are_seeded_and_timed_per_call():
    messages = bench_ulz.cut_messages(TEXT, 100, 12, seed=100)
    assert messages == bench_ulz.cut_messages(TEXT, 100, 12, seed=100)
    assert len(messages) == 12 and all(len(m) == 100 and m in TEXT for m in messages)
    results = [bench_ulz.measure_calls(c, messages, number=3) for c in bench_ulz.call_codecs()]
    names = [r["codec"] for r in results]
    assert bench_ulz.OURS_CALL in names
    assert any("lz4" in name for name in names)
    for r in results:
        assert r["verified"] and r["raw_bytes"] == 1200
        assert len(r["compress_us_all"]) == 12 and 0 < r["compress_us"] < 10_000
        assert 0 < r["decompress_us"] < 10_000
    pooled = bench_ulz.pool_calls([results[0], results[0]])
    assert len(pooled["compress_us_all"]) == 24 and pooled["compress_us"] == results[0]["compress_us"]
    rows = bench_ulz.call_rows("100 B", results)
    assert len(rows) == len(results) and all(len(row) == len(bench_ulz.CALL_COLUMNS) for row in rows)


def test_make_loop_runs_the_statement_number_times():
    seen = []
    loop = bench_ulz.make_loop("record(m, c, n)", {"record": lambda *a: seen.append(a)})
    times = loop([(b"a", b"b", 1), (b"c", b"d", 2)], 3)
    assert len(times) == 2 and all(isinstance(t, int) and t >= 0 for t in times)
    assert seen == [(b"a", b"b", 1)] * 3 + [(b"c", b"d", 2)] * 3


def corpus(ulz1, ulz9, lz4, hc12, zstd3):
    """codec -> result, from (bytes, compress MB/s, decompress MB/s) triples."""
    named = {"ulz -1": ulz1, "ulz -9": ulz9, "lz4": lz4, "lz4 HC -12": hc12, "zstd -3": zstd3}
    return {
        name: {"codec": name, "bytes": b, "compress_mb_s": c, "decompress_mb_s": d}
        for name, (b, c, d) in named.items()
    }


def test_headlines_follow_the_issue_targets():
    report = Report("ulz", "t")
    corpora = {
        "a": corpus((90, 400, 2000), (70, 10, 3000), (100, 600, 3000), (75, 20, 3000), (60, 300, 1500)),
        "b": corpus((110, 300, 1000), (80, 10, 3000), (100, 600, 3000), (75, 20, 3000), (60, 300, 1500)),
    }
    calls = {
        bench_ulz.OURS_CALL: {"compress_us": 0.3, "decompress_us": 0.25},
        "lz4.block (store_size=False)": {"compress_us": 0.4, "decompress_us": 0.2},
    }
    threads = [{"threads": 1, "mb_s": 500.0}, {"threads": 2, "mb_s": 900.0}]
    bench_ulz.add_headlines(report, corpora, calls, threads, "100 MB")
    met = {h["metric"] + " vs " + h["anchor"]: h["met"] for h in report.headline}
    assert len(report.headline) == 13
    per_call = "100 B messages: {} per call (ulz.block.{}_block vs lz4.block) vs python-lz4 lz4.block"
    assert met[per_call.format("compress", "compress")]
    assert not met[per_call.format("decompress", "decompress")]
    assert met["ulz -1 size, a vs lz4 default"] and not met["ulz -1 size, b vs lz4 default"]
    assert (
        met["ulz -1 compress speed, a vs lz4 default"] and not met["ulz -1 compress speed, b vs lz4 default"]
    )
    assert met["ulz -9 size, a vs lz4 HC -12"] and not met["ulz -9 size, b vs lz4 HC -12"]
    assert (
        met["decompress speed (ulz -1 output), a vs lz4"]
        and met["decompress speed (ulz -1 output), a vs zstd -3"]
    )
    assert not met["decompress speed (ulz -1 output), b vs lz4"]
    assert not met["decompress speed (ulz -1 output), b vs zstd -3"]
    assert met["-T 2 compress speed, 100 MB vs -T 1"] is True  # 1.8x
    assert all(isinstance(h["met"], bool) and h["target"] for h in report.headline)


def test_plot_files(tmp_path):
    results = {
        label: [
            {"codec": name, "family": family, "ratio": ratio, "compress_mb_s": speed, "decompress_mb_s": 1e3}
            for name, family, ratio, speed in [
                ("ulz -1", "ulz", 2.9, 500.0),
                ("lz4", "lz4", 2.1, 700.0),
                ("zstd -3", "zstd", 3.5, 300.0),
                ("snappy", "snappy", 2.0, 650.0),
                ("zlib -6", "zlib", 3.4, 30.0),
            ]
        ]
        for label in ("debtext", "stdlib")
    }
    png, page = bench_ulz.save_plot(results, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "<svg" in text and "zstd -3" in text and "ulz, stdlib" in text


def test_threads_and_cli_round_trip(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT * 20)
    results = bench_ulz.bench_threads(src, repeat=1)
    assert [r["threads"] for r in results] == [1, 2] and all(r["verified"] for r in results)
    assert results[0]["bytes"] == results[1]["bytes"]  # same frame for any thread count
    cli = bench_ulz.bench_cli(src, repeat=1)
    assert [r["threads"] for r in cli] == [1, 2] and all(r["mb_s"] > 0 for r in cli)


def test_steady_malloc_applies_and_restores():
    with bench_ulz.steady_malloc() as pinned:
        assert isinstance(pinned, bool)
        assert bench_ulz.measure(bench_ulz.ulz_codec(1), TEXT, repeat=1, decompress_repeat=1)["verified"]
    if sys.platform == "linux" and "glibc" in " ".join(platform.libc_ver()):
        assert pinned
