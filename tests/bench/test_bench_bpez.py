"""bench.bpez's helpers on tiny inputs: per-child peak RSS, round trips verified loudly, missing commands
named with their Debian package, headlines and the size chart."""

import itertools
import shutil
import sys
import zlib

import pytest

from bench import __main__ as bench_main
from bench import bpez as bench_bpez
from bench import harness
from bench.data import DataUnavailable
from bench.harness import Report

MIB = 1 << 20
TEXT = b"It was the best of times, it was the worst of times; " * 300 + bytes(range(256)) * 4
HAS_TIME = shutil.which(bench_bpez.TIME) is not None
needs_time = pytest.mark.skipif(not HAS_TIME, reason="GNU time (Debian package `time`) is not installed")


def py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


@needs_time
def test_peak_rss_is_the_childs_own(tmp_path):
    ballast = bytearray(200 * MIB)  # the parent's high-water mark must not leak into the child's figure
    ballast[::4096] = b"\1" * (len(ballast) // 4096)
    small = harness.run_measured(py("pass"), tmp_path / "small")
    big = harness.run_measured(py("b = bytearray(80 << 20); b[::4096] = b'x' * 20480"), tmp_path / "big")
    del ballast
    assert small.peak_rss is not None and big.peak_rss is not None
    assert small.peak_rss < 40 * MIB < 80 * MIB <= big.peak_rss < 150 * MIB
    assert small.seconds > 0 and big.cpu_seconds >= 0
    assert not list(tmp_path.glob("*.rusage"))  # GNU time's report is cleaned up


def test_stdout_goes_to_the_file_and_failures_are_loud(tmp_path):
    out = tmp_path / "out"
    sample = harness.run_measured(py("import sys; sys.stdout.write('hi')"), out, peak_rss=False)
    assert out.read_text() == "hi" and sample.peak_rss is None and sample.seconds > 0
    with pytest.raises(harness.CommandFailed, match="exited with status 1: boom here"):
        harness.run_measured(py("import sys; print('noise', file=sys.stderr); sys.exit('boom here')"), out)


def _gzip_codecs():
    gzip9 = next(c for c in bench_bpez.anchor_codecs() if c.name == "gzip -9")
    zlib9 = next(c for c in bench_bpez.anchor_codecs() if c.name.startswith("zlib"))
    gzip1 = bench_bpez.CliCodec("gzip -1", "gzip", ("gzip", "-1", "-c"), ("gzip", "-d", "-c"), ".gz")
    return [gzip9, gzip1, zlib9]


def test_bench_corpus_times_verifies_and_relates_to_gzip(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    results = bench_bpez.bench_corpus(
        "t", src, _gzip_codecs(), repeat=2, single=("gzip -1",), peak_rss=HAS_TIME
    )
    by = {r["codec"]: r for r in results}
    assert by["gzip -9"]["compress_runs"] == by["gzip -9"]["decompress_runs"] == 2 and by["gzip -9"]["warmup"]
    assert by["gzip -1"]["compress_runs"] == 1 and not by["gzip -1"]["warmup"]
    for r in results:
        assert r["verified"] and 0 < r["bytes"] < len(TEXT) / 4 and r["ratio"] == len(TEXT) / r["bytes"]
        assert r["compress_s"] > 0 and r["decompress_s"] > 0
    assert by["zlib -9 (in process)"]["compress_rss"] is None
    assert (by["gzip -9"]["compress_rss"] is not None) == HAS_TIME
    rows = bench_bpez.corpus_rows(results)
    assert all(len(row) == len(bench_bpez.CORPUS_COLUMNS) for row in rows)
    gz = next(row for row in rows if row[0] == "gzip -9")
    assert gz[4] == gz[6] == gz[8] == 1.0 and gz[12] == "2+2"
    assert next(row for row in rows if row[0] == "gzip -1")[12] == "1+1, no warm-up"


def test_broken_codecs_fail_loudly(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    drop_last = "import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read()[:-1])"
    lossy = bench_bpez.CliCodec("lossy", "x", ("gzip", "-c"), py(drop_last), ".gz")
    with pytest.raises(bench_bpez.RoundTripError, match="lossy: round trip changed the data"):
        bench_bpez.bench_corpus("t", src, [lossy], repeat=1, peak_rss=False)
    flipped = bench_bpez.ApiCodec("flipped", "x", zlib.compress, lambda c, n: zlib.decompress(c)[::-1])
    with pytest.raises(bench_bpez.RoundTripError, match="flipped"):
        bench_bpez.bench_corpus("t", src, [flipped], repeat=1, peak_rss=False)
    sizes = itertools.count()
    unstable = bench_bpez.ApiCodec(
        "unstable", "x", lambda b: zlib.compress(b) + b"\0" * next(sizes), lambda c, n: zlib.decompress(c)
    )
    with pytest.raises(bench_bpez.RoundTripError, match="unstable: two compressions"):
        bench_bpez.bench_corpus("t", src, [unstable], repeat=1, peak_rss=False)
    not_gzip = bench_bpez.CliCodec("cat", "x", ("cat",), ("gzip", "-d", "-c"), ".gz")
    with pytest.raises(harness.CommandFailed, match=r"gzip -d -c .* exited with status 1"):
        bench_bpez.bench_corpus("t", src, [not_gzip], repeat=1, peak_rss=False)


def test_missing_command_names_the_debian_package(monkeypatch, capsys):
    bench_bpez.require_tools(["gzip"])  # present: no error
    absent = {"pigz", "xz"}
    monkeypatch.setattr(bench_bpez.shutil, "which", lambda c: None if c in absent else f"/usr/bin/{c}")
    with pytest.raises(DataUnavailable) as caught:
        bench_bpez.require_tools()
    message = str(caught.value)
    assert "\n" not in message and "`pigz`, `xz` not found" in message
    assert "apt-get install -y pigz xz-utils" in message
    absent.discard("xz")
    assert bench_main.main(["bpez"]) == 1  # the whole command: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert err == "bench: error: bpez benchmark: `pigz` not found; run `apt-get install -y pigz`"


def _result(name, size, comp, dec, *, threads=1, ours=False, rss=(None, None)):
    return {
        "codec": name,
        "interface": "CLI",
        "threads": threads,
        "ours": ours,
        "plot": name if name in ("bpez -T1 (CLI)", "gzip -9", "xz -6") else None,
        "bytes": size,
        "ratio": 1000 / size,
        "compress_s": comp,
        "decompress_s": dec,
        "compress_rss": rss[0],
        "decompress_rss": rss[1],
    }


def _corpus(size, t1, t2, dec, rss1=(30 * MIB, 25 * MIB), rss2=(45 * MIB, 26 * MIB)):
    rows = [
        _result("bpez -T1 (CLI)", size, t1, dec, ours=True, rss=rss1),
        _result("bpez -T2 (CLI)", size, t2, dec, threads=2, ours=True, rss=rss2),
        _result("gzip -9", 100, 1.0, 0.1),
        _result("xz -6", 80, 5.0, 0.2),
    ]
    return {r["codec"]: r for r in rows}


def test_headlines_follow_the_issue_targets():
    corpora = {
        "debtext 10 MB": _corpus(91, 1.4, 0.9, 0.19),
        "stdlib 10 MB": _corpus(89, 1.6, 1.0, 0.21),  # 0.89 > 0.88, too slow, not faster, decompress > 2x
    }
    baselines = {
        1: {"compress": 20 * MIB, "decompress": 20 * MIB},
        2: {"compress": 21 * MIB, "decompress": 20 * MIB},
    }
    report = Report("bpez", "t")
    bench_bpez.add_headlines(report, corpora, baselines, "debtext 10 MB")
    met = {h["metric"]: h["met"] for h in report.headline}
    assert len(report.headline) == 2 * 4 + 2
    assert met["bpez size, debtext 10 MB"] and not met["bpez size, stdlib 10 MB"]
    assert (
        met["bpez -T1 compress time (CLI), debtext 10 MB"]
        and met["bpez -T2 compress time (CLI), debtext 10 MB"]
    )
    assert not met["bpez -T1 compress time (CLI), stdlib 10 MB"]
    assert not met["bpez -T2 compress time (CLI), stdlib 10 MB"]  # equal to gzip -9 is not faster
    assert met["bpez -T1 decompress time (CLI), debtext 10 MB"]
    assert not met["bpez -T1 decompress time (CLI), stdlib 10 MB"]
    memory = {h["metric"]: h for h in report.headline if "RSS" in h["metric"]}
    t1 = memory["bpez -T1 peak RSS over interpreter baseline, debtext 10 MB"]
    assert t1["ours"] == 10.0 and t1["anchor_value"] == 8.0 and t1["met"] is False  # 30 - 20 > 8 MiB
    t2 = memory["bpez -T2 peak RSS over interpreter baseline, debtext 10 MB"]
    assert t2["ours"] == 24.0 and t2["anchor_value"] == 16.0 and not t2["met"]
    assert all(isinstance(h["met"], bool) and h["target"] for h in report.headline)
    rows = bench_bpez.memory_rows(corpora, baselines)
    assert len(rows) == 4 and all(len(row) == len(bench_bpez.MEMORY_COLUMNS) for row in rows)
    assert bench_bpez.memory_bound(2) == bench_bpez.MEMORY_FACTOR * 2 * MIB


def test_plot_files(tmp_path):
    corpora = {
        label: list(_corpus(90, 1.0, 0.6, 0.1).values()) for label in ("debtext 10 MB", "stdlib 10 MB")
    }
    png, page = bench_bpez.save_plot(corpora, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "<svg" in text and "xz -6" in text and "stdlib 10 MB" in text and "<td>0.9</td>" in text
    assert "bpez -T2" not in text  # one bar per codec: -T2 output is the same bytes


@pytest.fixture
def src(tmp_path):
    """TEXT in a file, for the tests that run our codec (skipped where it is not built)."""
    pytest.importorskip("everybit.bpez._bpez")
    try:
        bench_bpez._check_ours()
    except DataUnavailable as exc:
        pytest.skip(str(exc))
    path = tmp_path / "in.txt"
    path.write_bytes(TEXT)
    return path


def test_ours_round_trips_through_cli_and_api(src):
    codecs = [bench_bpez.bpez_cli(1), bench_bpez.bpez_api(2)]
    results = bench_bpez.bench_corpus("t", src, codecs, repeat=1, peak_rss=HAS_TIME)
    assert all(r["verified"] and r["ours"] for r in results)
    assert results[0]["bytes"] == results[1]["bytes"] < len(TEXT) / 4  # same frame from CLI and API
    if HAS_TIME:
        base = bench_bpez.bpez_baseline(1, repeat=1)
        assert 5 * MIB < base["compress"] < 200 * MIB and 5 * MIB < base["decompress"] < 200 * MIB


@needs_time
def test_memory_sweep_rows(src):
    baselines = {1: {"compress": 10 * MIB, "decompress": 10 * MIB}}
    results = bench_bpez.memory_sweep(src, baselines, blocks=(64 << 10,), threads=(1,))
    assert [(r["block"], r["threads"]) for r in results] == [(64 << 10, 1)]
    assert results[0]["bound"] == bench_bpez.MEMORY_FACTOR * (64 << 10)
    assert results[0]["over"] == results[0]["peak_rss"] - 10 * MIB
    rows = bench_bpez.sweep_rows(results)
    assert rows[0][:2] == [64, 1] and len(rows[0]) == len(bench_bpez.SWEEP_COLUMNS)
