"""imgkan's entropy coder: exact round trips, compression against order-0 entropy, corrupt data, limits."""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from everybit.common.errors import CorruptDataError, UsageError
from everybit.imgkan import coder
from everybit.imgkan.coder import MAX_ABS, MAX_CELLS, MAX_DIM, MAX_PLANES, decode_planes, encode_planes


def roundtrip(planes):
    planes = [np.asarray(p) for p in planes]
    data = encode_planes(planes)
    out = decode_planes(data, [p.shape for p in planes])
    assert len(out) == len(planes)
    for got, want in zip(out, planes, strict=True):
        assert got.dtype == np.int32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    return data


def laplace(shape, scale, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.laplace(0, scale, shape)), -MAX_ABS, MAX_ABS).astype(np.int32)


def entropy_bytes(plane):
    """Empirical order-0 entropy of the values, in bytes."""
    _, counts = np.unique(plane, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum()) / 8


def small_stream():
    a = laplace((9, 13), 3.0, seed=4)
    a[2, 3], a[4, 5] = MAX_ABS, -MAX_ABS  # the escape's longest codes
    return [a, laplace((1, 17), 0.5, seed=5)]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "shapes",
    [[], [(0, 0)], [(0, 7)], [(5, 0)], [(1, 1)], [(1, 300)], [(300, 1)], [(0, 0), (3, 4), (0, 2)]],
)
def test_roundtrip_shapes(shapes):
    roundtrip([laplace(s, 2.0, seed=i) for i, s in enumerate(shapes)])


def test_empty_input_is_an_empty_stream():
    assert encode_planes([]) == b""
    assert encode_planes([np.zeros((0, 9), np.int32)]) == b""
    assert decode_planes(b"", []) == []
    assert [a.shape for a in decode_planes(b"", [(0, 4), (2, 0)])] == [(0, 4), (2, 0)]


@pytest.mark.parametrize("value", [0, 1, -1, 7, 300, MAX_ABS, -MAX_ABS])
def test_constant_planes(value):
    roundtrip([np.full((40, 33), value, np.int32)])


def test_uniform_full_range():
    rng = np.random.default_rng(1)
    roundtrip([rng.integers(-MAX_ABS, MAX_ABS + 1, (64, 80)).astype(np.int32)])


def test_laplacian_scales_and_many_planes():
    planes = [laplace((1 + i % 7, 1 + (5 * i) % 23), 0.05 * (1 + i % 40) ** 1.5, seed=i) for i in range(300)]
    roundtrip(planes)


def test_other_integer_dtypes_and_layouts():
    a = laplace((20, 30), 4.0)
    data = encode_planes([a])
    assert encode_planes([a.astype(np.int64)]) == data
    assert encode_planes([a.astype(np.int16)]) == data
    assert encode_planes([a.astype(">i4")]) == data
    assert encode_planes([a.T.copy().T]) == data  # Fortran order
    b = laplace((40, 60), 4.0)[::2, ::2]  # strided view
    roundtrip([b])
    roundtrip([np.array([[True, False], [False, True]]), np.arange(12, dtype=np.uint8).reshape(3, 4)])


def test_planes_are_independent():
    """Contexts restart with each plane: a plane codes to the same bits whatever came before it."""
    a, b = laplace((30, 30), 0.4, seed=1), laplace((30, 30), 20.0, seed=2)
    alone = len(encode_planes([a]))
    assert len(encode_planes([b, a])) - len(encode_planes([b])) in range(alone - 5, alone + 5)


def test_stream_is_pinned():
    """The stream format is part of the .ikan format: any change to the coder shows here."""
    planes = [*small_stream(), laplace((32, 32), 0.3, seed=9), laplace((8, 8), 400.0, seed=3)]
    data = encode_planes(planes)
    assert (len(data), hashlib.sha256(data).hexdigest()[:16]) == (PINNED_LEN, PINNED_SHA)


PINNED_LEN, PINNED_SHA = 291, "4d114617bc266721"


small_ints = st.one_of(
    st.integers(-3, 3),
    st.integers(-40, 40),
    st.integers(-MAX_ABS, MAX_ABS),
    st.sampled_from([MAX_ABS, -MAX_ABS]),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        hnp.arrays(
            np.int32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=12), elements=small_ints
        ),
        max_size=4,
    )
)
def test_roundtrip_property(planes):
    roundtrip(planes)


# ---------------------------------------------------------------- compression


def test_laplacian_near_its_entropy():
    a = laplace((256, 256), 0.3)
    size = len(roundtrip([a]))
    assert size <= 1.05 * entropy_bytes(a), (size, entropy_bytes(a))


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_wider_laplacians_near_their_entropy(scale):
    a = laplace((256, 256), scale, seed=2)
    assert len(roundtrip([a])) <= 1.03 * entropy_bytes(a)


def test_all_zero_plane_is_tiny():
    assert len(roundtrip([np.zeros((256, 256), np.int32)])) < 50


def test_contexts_use_neighbours():
    """Magnitudes clustered in space (like latents at image edges) cost well under their order-0 entropy,
    which an i.i.d. model cannot beat."""
    yy, xx = np.mgrid[0:200, 0:200]
    scale = np.where((np.abs(yy - 100) < 12) | (np.abs(xx - 60) < 8), 6.0, 0.05)
    a = np.rint(np.random.default_rng(3).laplace(0, scale)).astype(np.int32)
    assert len(roundtrip([a])) < 0.8 * entropy_bytes(a)


# ---------------------------------------------------------------- corrupt data


def test_every_truncation_is_caught():
    planes = small_stream()
    data = encode_planes(planes)
    shapes = [p.shape for p in planes]
    for cut in range(len(data)):
        with pytest.raises(CorruptDataError, match="truncated"):
            decode_planes(data[:cut], shapes)


@pytest.mark.parametrize("extra", [b"\0", b"\x01", b"\xff\xff\xff\xff\xff"])
def test_trailing_bytes_are_caught(extra):
    planes = small_stream()
    with pytest.raises(CorruptDataError, match="trailing"):
        decode_planes(encode_planes(planes) + extra, [p.shape for p in planes])
    with pytest.raises(CorruptDataError, match="trailing"):
        decode_planes(extra, [(0, 3)])


def test_out_of_range_value_is_caught():
    # all-zero bytes take the "1" branch of every bin: nonzero, >1, ..., every escape exponent
    with pytest.raises(CorruptDataError, match="out of range"):
        decode_planes(bytes(16), [(1, 1)])


@pytest.mark.parametrize("value", [MAX_ABS, -MAX_ABS])
def test_value_just_past_the_range_is_caught(value):
    """The decoder is monotone in the stream read as a number: one below the stream of the largest
    magnitude is a magnitude one larger (within the same escape exponent)."""
    data = encode_planes([np.array([[value]])])
    assert decode_planes(data, [(1, 1)])[0][0, 0] == value
    below = (int.from_bytes(data, "big") - 1).to_bytes(len(data), "big")
    with pytest.raises(CorruptDataError, match="out of range"):
        decode_planes(below, [(1, 1)])


def test_error_type():
    assert issubclass(coder.IkcoderError, CorruptDataError)
    assert issubclass(coder.IkcoderError, ValueError)


def test_random_and_flipped_bytes_never_crash():
    rng = np.random.default_rng(11)
    planes = small_stream()
    shapes = [p.shape for p in planes]
    data = encode_planes(planes)
    accepted = 0
    for i in range(3000):
        if i % 2:
            blob = rng.bytes(int(rng.integers(0, 64)))
            dims = [tuple(int(d) for d in rng.integers(0, 9, 2)) for _ in range(int(rng.integers(0, 4)))]
        else:
            b = bytearray(data)
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
            blob, dims = bytes(b), shapes
        try:
            out = decode_planes(blob, dims)
        except CorruptDataError:
            continue
        accepted += 1
        assert [a.shape for a in out] == dims
        assert all(np.abs(a).max(initial=0) <= MAX_ABS for a in out)
    assert accepted < 3000


def test_bit_flips_are_mostly_caught():
    planes = small_stream()
    data = encode_planes(planes)
    shapes = [p.shape for p in planes]
    caught = 0
    for pos in range(len(data)):
        b = bytearray(data)
        b[pos] ^= 0x10
        try:
            out = decode_planes(bytes(b), shapes)
        except CorruptDataError:
            caught += 1
        else:
            changed = any((x != y).any() for x, y in zip(out, planes, strict=True))
            assert changed, "a changed stream decoded to the same planes"
    assert caught >= len(data) // 2


# ---------------------------------------------------------------- limits and misuse


@pytest.mark.parametrize(
    "shapes",
    [
        [(MAX_DIM + 1, 1)],
        [(1, MAX_DIM + 1)],
        [(MAX_DIM, MAX_DIM)],
        [(MAX_DIM, MAX_CELLS // MAX_DIM), (1, 1)],
        [(-1, 3)],
        [(3, -1)],
        [(0, 0)] * (MAX_PLANES + 1),
    ],
)
def test_decode_refuses_shapes_over_the_limits(shapes):
    with pytest.raises(ValueError) as info:
        decode_planes(bytes(8), shapes)
    assert not isinstance(info.value, CorruptDataError)


def test_decode_refuses_malformed_shapes():
    with pytest.raises((ValueError, TypeError)):
        coder.decode(b"", [(1, 2, 3)])
    with pytest.raises(TypeError):
        coder.decode(b"", [(1.5, 2)])


@pytest.mark.parametrize("value", [MAX_ABS + 1, -MAX_ABS - 1, 1 << 40])
def test_encode_refuses_values_out_of_range(value):
    a = np.zeros((3, 3), np.int64)
    a[1, 2] = value
    with pytest.raises(ValueError, match="outside"):
        encode_planes([a])
    if -(1 << 31) <= value < 1 << 31:
        with pytest.raises(ValueError, match=r"value .* at \(1, 2\)"):
            coder.encode([a.astype(np.int32)])


def test_encode_refuses_planes_over_the_limits():
    with pytest.raises(ValueError):
        encode_planes([np.zeros((1, MAX_DIM + 1), np.int32)])
    with pytest.raises(ValueError):
        coder.encode([np.zeros((1, 1), np.int32)] * (MAX_PLANES + 1))


def test_encode_refuses_misuse():
    with pytest.raises(UsageError):
        encode_planes([np.zeros((2, 2, 2), np.int32)])
    with pytest.raises(UsageError):
        encode_planes([np.zeros((2, 2), np.float32)])
    with pytest.raises(ValueError):  # the C core takes int32 only
        coder.encode([np.zeros((2, 2), np.int64)])
    with pytest.raises(ValueError):
        coder.encode([np.zeros(4, np.int32)])
    with pytest.raises(ValueError):
        coder.encode([b"abcd"])
    with pytest.raises(TypeError):
        coder.encode([1])
