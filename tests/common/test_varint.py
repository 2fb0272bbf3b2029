"""The shared LEB128 varint: the bytes it writes, its bounds checks, and the vectorized decoder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.common import varint
from everybit.common.varint import VarintError

# (value, bytes): the same as ulz's and fontpack's C side (_varint.h) and protobuf's uint64
KNOWN = [
    (0, b"\x00"),
    (1, b"\x01"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (300, b"\xac\x02"),
    (16_384, b"\x80\x80\x01"),
    ((1 << 63) - 1, b"\xff" * 8 + b"\x7f"),
]


@pytest.mark.parametrize(("value", "raw"), KNOWN)
def test_known_bytes(value, raw):
    assert varint.encode(value) == raw
    out = bytearray(b"x")
    varint.write(out, value)
    assert out == b"x" + raw
    assert varint.decode(b"y" + raw + b"z", 1) == (value, 1 + len(raw))


def test_encode_many_and_negative():
    assert varint.encode(1, 300) == b"\x01\xac\x02"
    with pytest.raises(ValueError, match="negative"):
        varint.encode(-1)


def test_truncated_and_overlong():
    with pytest.raises(VarintError, match="truncated varint at offset 2") as info:
        varint.decode(b"\x00\x00\x80\x80", 2)
    assert (info.value.offset, info.value.truncated) == (2, True)
    with pytest.raises(VarintError, match="truncated"):
        varint.decode(b"", 0)
    with pytest.raises(VarintError, match="overlong varint at offset 0") as info:
        varint.decode(b"\x80" * 9 + b"\x01")
    assert not info.value.truncated
    with pytest.raises(VarintError, match="overlong"):
        varint.decode(b"\x80\x80\x01", 0, max_bytes=2)
    assert isinstance(info.value, ValueError)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, (1 << 63) - 1), max_size=50), st.binary(max_size=3))
def test_decode_array_matches_decode(values, tail):
    data = b"\x05" + varint.encode(*values) + tail
    got, end = varint.decode_array(data, len(values), 1)
    assert got.dtype == np.uint64 and got.tolist() == values
    assert end == len(data) - len(tail)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 12), st.integers(1, 9))
def test_decode_array_fails_as_decode_does(data, count, max_bytes):
    expected, pos = [], 0
    try:
        for _ in range(count):
            value, pos = varint.decode(data, pos, max_bytes)
            expected.append(value)
    except VarintError as exc:
        with pytest.raises(VarintError) as info:
            varint.decode_array(data, count, 0, max_bytes)
        assert (info.value.offset, info.value.truncated) == (exc.offset, exc.truncated)
        return
    got, end = varint.decode_array(data, count, 0, max_bytes)
    assert (got.tolist(), end) == (expected, pos)


def test_decode_array_across_chunks():
    values = list(range(0, 3 * 70_000, 3))  # more than one working window
    got, end = varint.decode_array(varint.encode(*values), len(values))
    assert got.tolist() == values
    assert end == len(varint.encode(*values))
    empty, end = varint.decode_array(b"", 0)
    assert (len(empty), end) == (0, 0)


def test_zigzag():
    for n, z in [(0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4), (-(1 << 40), (1 << 41) - 1)]:
        assert varint.zigzag(n) == z and varint.unzigzag(z) == n
    arr = np.array([0, 1, 2, 3, 4], np.int64)
    assert varint.unzigzag(arr).tolist() == [0, -1, 1, -2, 2]
