"""The imgkan API end to end on tiny images: round trips, budgets, determinism, corrupt files, SIREN, ROI."""

import struct
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from everybit import imgkan  # noqa: E402
from everybit.common.errors import CorruptDataError, UsageError  # noqa: E402
from everybit.imgkan import Box, FitOptions, decode, decode_array, encode, fit_image, info  # noqa: E402
from everybit.imgkan.metrics import psnr  # noqa: E402

FAST = FitOptions(iters=150, quiet=True)
GRAY_SIZE = 1200  # bytes: the smallest KA network for a 32x32 image needs ~1,000
RGB_BPP = 12.0  # 1,536 bytes for 32x32 (the smallest colour network needs ~1,400)


def smooth(h=32, w=32, channels=1, seed=0, noise=3.0):
    """A smooth gradient plus a little noise: what a tiny fit can learn in a few hundred steps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    planes = [
        110
        + 60 * np.sin(xx / (6 + 2 * c)) * np.cos(yy / 7)
        + 2 * (c + 1) * (xx - yy)
        + rng.normal(0, noise, xx.shape)
        for c in range(channels)
    ]
    img = np.stack(planes, axis=2) if channels > 1 else planes[0]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread is as fast as two, and much faster when the cores are busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gray():
    img = smooth()
    return img, fit_image(img, size=GRAY_SIZE, options=FAST)


@pytest.fixture(scope="module")
def rgb():
    img = smooth(channels=3, seed=1)
    return img, fit_image(img, bpp=RGB_BPP, options=FAST)


def test_gray_round_trip_within_size(gray):
    img, result = gray
    assert len(result.data) <= GRAY_SIZE
    back = decode(result.data)
    assert back.mode == "L" and back.size == (32, 32)
    arr = decode_array(result.data)
    assert arr.shape == img.shape and arr.dtype == np.uint8
    assert psnr(img, arr) > 20


def test_rgb_round_trip_within_bpp(rgb):
    _, result = rgb
    assert len(result.data) <= int(RGB_BPP * 32 * 32 / 8)
    back = decode(result.data)
    assert back.mode == "RGB" and back.size == (32, 32)
    assert decode_array(result.data).shape == (32, 32, 3)


def test_encode_is_fit_image_data(gray):
    img, result = gray
    assert encode(img, size=GRAY_SIZE, options=FAST) == result.data  # same seed, same file


def test_decode_is_deterministic(rgb):
    _, result = rgb
    first = decode_array(result.data)
    assert np.array_equal(first, decode_array(result.data))
    torch.set_num_threads(2)  # float64 decoding: the thread count must not matter
    try:
        assert np.array_equal(first, decode_array(bytes(result.data)))
    finally:
        torch.set_num_threads(1)


@pytest.mark.parametrize("which", ["gray", "rgb"])
def test_reported_psnr_is_the_decoded_files(which, request):
    img, result = request.getfixturevalue(which)
    assert psnr(img, decode_array(result.data)) == pytest.approx(result.psnr, abs=0.05)


def test_info_fields(gray):
    _, result = gray
    head = info(result.data)
    assert (head["height"], head["width"], head["channels"], head["kind"]) == (32, 32, 1, "ka")
    assert head["bytes"] == len(result.data)
    assert head["bpp"] == pytest.approx(8 * len(result.data) / (32 * 32))
    assert head["weight_bits"] == FAST.bits and head["per_channel"] is False
    assert head["hidden"] >= 1 and head["levels"] >= 1


def test_siren_kind_with_other_weight_bits():
    img = smooth(seed=2)
    opts = FitOptions(iters=150, quiet=True, bits=6, per_channel=True)
    result = fit_image(img, size=600, kind="siren", options=opts)
    assert len(result.data) <= 600
    head = info(result.data)
    assert (head["kind"], head["levels"], head["weight_bits"], head["per_channel"]) == ("siren", 0, 6, True)
    assert decode_array(result.data).shape == img.shape


def test_roi_box_lowers_the_error_inside_it():
    img = smooth(seed=0, noise=12.0)  # detail the fit cannot all learn: where it spends effort shows
    box = Box(4, 4, 16, 16, 8.0)
    opts = FitOptions(iters=300, quiet=True)  # at 150 steps the two fits differ mostly by chance

    def box_mse(**kw):
        data = fit_image(img, size=1000, options=opts, **kw).data
        err = decode_array(data).astype(float) - img
        return float(np.mean(err[box.y1 : box.y2, box.x1 : box.x2] ** 2))

    assert box_mse(roi=[box]) < box_mse()


def test_budget_too_small_names_the_minimum():
    with pytest.raises(UsageError, match=r"too small for a 32x32 image \(at least ~\d+ bytes\)"):
        fit_image(smooth(), size=100, options=FAST)
    with pytest.raises(UsageError, match="exactly one"):
        fit_image(smooth(), bpp=1.0, size=1000, options=FAST)


def _fix_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@pytest.mark.parametrize(
    "bad",
    [b"", b"IKAN", b"IKAN\x01", b"PNG\x00" + bytes(40), b"\x89PNG\r\n\x1a\n" + bytes(100)],
    ids=["empty", "magic-only", "header-only", "wrong-magic", "png"],
)
def test_not_an_ikan_file(bad):
    with pytest.raises(CorruptDataError):
        decode_array(bad)
    with pytest.raises(CorruptDataError):
        info(bad)


def test_every_truncation_is_corrupt(gray):
    data = gray[1].data
    for n in range(len(data)):
        with pytest.raises(CorruptDataError):
            decode_array(data[:n])
    with pytest.raises(CorruptDataError):
        decode_array(data + b"\x00")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_flipped_byte_is_corrupt(gray, pos, xor):
    data = bytearray(gray[1].data)
    data[pos % len(data)] ^= xor
    with pytest.raises(CorruptDataError):
        decode_array(bytes(data))
    with pytest.raises(CorruptDataError):
        info(bytes(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_flipped_byte_past_the_checksum(gray, pos, xor):
    """With the CRC recomputed, the parser and the coder meet the damage: a file of the header's size, or
    CorruptDataError, never another exception."""
    data = bytearray(gray[1].data)
    data[pos % (len(data) - 4)] ^= xor
    forged = _fix_crc(bytes(data))
    try:
        head = info(forged)
        arr = decode_array(forged)
    except CorruptDataError:
        return
    assert arr.dtype == np.uint8 and arr.shape[:2] == (head["height"], head["width"])


def test_public_names():
    assert {"encode", "decode", "decode_array", "fit_image", "info", "parse_box"} <= set(imgkan.__all__)
