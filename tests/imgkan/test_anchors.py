"""Anchor codecs at a byte budget: bounds respected, the tightest setting chosen, None when nothing fits."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

from everybit.common.errors import MissingDependencyError
from everybit.imgkan import anchors
from everybit.imgkan.anchors import compare_at, jpeg_at_least, jpeg_at_most, jxl_at_most, webp_at_most
from everybit.imgkan.metrics import psnr


def photo(h=64, w=80, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    planes = [
        128 + 70 * np.sin(xx / (7 + 2 * c)) * np.cos(yy / 9) + 40 * (xx > yy) + rng.normal(0, 6, (h, w))
        for c in range(channels)
    ]
    img = np.stack(planes, axis=2) if channels > 1 else planes[0]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def jpeg_size(arr, q):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=q, optimize=True)
    return len(buf.getvalue())


def quality(enc):
    key, value = enc.setting.split("=")
    assert key == "quality"
    return int(value)


def decode_jpeg(data):
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("channels", [3, 1])
def test_jpeg_at_least_is_the_smallest_file_not_below_the_budget(channels):
    img = photo(channels=channels)
    for budget in (500, 800, 1500):
        enc = jpeg_at_least(img, budget)
        q = quality(enc)
        assert enc.name == "JPEG" and enc.size == len(enc.data) >= budget
        assert enc.size == jpeg_size(img, q)
        assert 1 < q < 95 and jpeg_size(img, q - 1) < budget
        assert enc.decoded.shape == img.shape and (enc.decoded == decode_jpeg(enc.data)).all()
        assert psnr(img, enc.decoded) > 20


def test_jpeg_at_least_ends_of_the_range():
    img = photo(32, 32)
    top = jpeg_at_least(img, 10**7)
    assert quality(top) == 95 and top.size < 10**7
    assert quality(jpeg_at_least(img, 1)) == 1


def test_jpeg_at_most_is_the_largest_file_within_the_budget():
    img = photo()
    enc = jpeg_at_most(img, 1000)
    q = quality(enc)
    assert q < 95 and enc.size <= 1000 < jpeg_size(img, q + 1)
    assert quality(jpeg_at_most(img, 10**7)) == 95
    assert jpeg_at_most(img, 200) is None  # headers and tables alone are larger


@pytest.mark.parametrize("channels", [3, 1])
def test_webp_at_most_is_the_largest_file_within_the_budget(channels):
    codecs = pytest.importorskip("imagecodecs")
    img = photo(channels=channels)
    rgb = np.dstack([img] * 3) if channels == 1 else img
    enc = webp_at_most(img, 1200)
    q = quality(enc)
    assert enc.name == "WebP" and enc.size <= 1200
    assert enc.data == codecs.webp_encode(rgb, q, lossless=False, method=6)
    if q < 100:
        assert len(codecs.webp_encode(rgb, q + 1, lossless=False, method=6)) > 1200
    assert enc.decoded.shape == img.shape and enc.decoded.dtype == np.uint8
    assert psnr(img, enc.decoded) > 20
    assert webp_at_most(img, 10) is None
    assert quality(webp_at_most(img, 10**7)) == 100


@pytest.mark.parametrize("channels", [3, 1])
def test_jxl_at_most_fits_the_budget_closely(channels):
    codecs = pytest.importorskip("imagecodecs")
    img = photo(channels=channels)
    enc = jxl_at_most(img, 2500)
    assert enc.name == "JPEG XL" and 0.9 * 2500 <= enc.size <= 2500
    d = float(enc.setting.split("=")[1])
    assert 0.1 < d < 25
    assert len(codecs.jpegxl_encode(img, distance=d * 0.99, effort=7)) > 2500  # bisected to the edge
    assert enc.decoded.shape == img.shape and enc.decoded.dtype == np.uint8
    assert (enc.decoded == np.asarray(codecs.jpegxl_decode(enc.data)).reshape(img.shape)).all()
    assert psnr(img, enc.decoded) > 20
    assert jxl_at_most(img, 10) is None
    assert jxl_at_most(img, 10**7).setting == "distance=0.1"


def test_compare_at_lists_the_three_anchors():
    pytest.importorskip("imagecodecs")
    img = photo(48, 48)
    jpeg, webp, jxl = compare_at(img, 700)
    assert (jpeg.name, webp.name, jxl.name) == ("JPEG", "WebP", "JPEG XL")
    assert jpeg.size >= 700 >= max(webp.size, jxl.size)
    assert compare_at(img, 5)[1:] == [None, None]


def test_missing_imagecodecs_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # makes `import imagecodecs` fail
    img = photo(16, 16)
    for call in (webp_at_most, jxl_at_most, compare_at):
        with pytest.raises(MissingDependencyError, match="pip install imagecodecs"):
            call(img, 1000)
    assert jpeg_at_least(img, 500).name == "JPEG"  # JPEG needs only Pillow


def test_the_searches_keep_the_best_size_seen_where_size_is_not_monotonic(monkeypatch):
    # Sizes grow by 10 a quality step, except around 39..41: bisection lands on 39 (505) for both budgets
    # below, and only the neighbour scan finds 40 (500), the tighter fit either way.
    sizes = {q: 100 + 10 * q for q in range(1, 96)}
    sizes.update({39: 505, 40: 500, 41: 495})
    calls = []

    def fake_encoder(arr):
        def enc(q):
            calls.append(q)
            return bytes(sizes[q])

        return enc

    monkeypatch.setattr(anchors, "_jpeg_encoder", fake_encoder)
    monkeypatch.setattr(
        anchors, "_jpeg_result", lambda data, q=95: anchors.Encoded("JPEG", data, None, f"q={q}")
    )
    img = photo(8, 8)
    assert jpeg_at_least(img, 500).setting == "q=40"
    assert len(calls) < 20  # bisection plus neighbours, not a scan of all 95
    assert jpeg_at_most(img, 504).setting == "q=40"
    assert jpeg_at_most(img, 499).setting == "q=38"  # 41 (495) is out of reach: a documented limit
