"""bench.anchors on a tiny input: every codec round-trips and a broken one is caught."""

import zlib

import pytest

pytest.importorskip("zstandard")
pytest.importorskip("lz4")

from bench import anchors

TEXT = b"It was the best of times, it was the worst of times. " * 200


def test_every_anchor_round_trips_and_compresses():
    results = [anchors.measure(codec, TEXT) for codec in anchors.codecs()]
    names = [r["codec"] for r in results]
    assert {"zlib -9", "bz2 -9", "xz -6", "zstd -19", "lz4", "lz4 HC -9"} <= set(names)
    for r in results:
        assert 0 < r["bytes"] < len(TEXT) / 5, r  # highly repetitive text must shrink a lot
        assert r["ratio"] == pytest.approx(len(TEXT) / r["bytes"])
        assert r["compress_mb_s"] > 0 and r["decompress_mb_s"] > 0


def test_broken_round_trip_is_an_error():
    lossy = anchors.Codec("lossy", zlib.compress, lambda b: zlib.decompress(b)[:-1])
    with pytest.raises(RuntimeError, match="round trip"):
        anchors.measure(lossy, TEXT)
