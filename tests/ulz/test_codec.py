"""The ULZ codec core: format vectors, round trips at every level, bounds, errors, buffer handling."""

import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit import ulz
from everybit.common import CorruptDataError

LEVELS = range(1, ulz.MAX_LEVEL + 1)

# Hand-made blocks that pin the sequence format (docs/ulz-format.md): (block, decoded).
FORMAT_VECTORS = [
    (b"", b""),  # no sequences: what compress_block(b"") gives
    (bytes.fromhex("00"), b""),  # an empty sequence is valid, though the encoder never writes one
    (bytes.fromhex("20") + b"a", b"a"),
    (bytes.fromhex("65") + b"abc" + bytes.fromhex("0300"), b"abc" * 4),  # 3 literals, match 9 at distance 3
    (bytes.fromhex("2f") + b"a" + bytes.fromhex("140100"), b"a" * 40),  # match 19 + varint 20, distance 1
    (bytes.fromhex("e0c801") + b"x" * 207, b"x" * 207),  # literal count 7 + varint 200 (c8 01)
    (bytes.fromhex("ef00") + b"0123456" + bytes.fromhex("ac020700"), (b"0123456" * 47)[:326]),  # match 319
]

# Golden compress() outputs: the encoder is deterministic, so these must never change silently.
GOLDEN = {
    b"": "00",
    b"a": "012061",
    b"abcabcabcabc": "0c656162630300",
    b"a" * 40: "282f61140100",
    bytes(range(20)) * 3: "3cef0d000102030405060708090a0b0c0d0e0f10111213151400",
}


@pytest.mark.parametrize(("block", "decoded"), FORMAT_VECTORS)
def test_format_vectors_decode(block, decoded):
    assert ulz.decompress_block(block, len(decoded)) == decoded


@pytest.mark.parametrize("level", [1, 9])
@pytest.mark.parametrize(("data", "hexed"), GOLDEN.items())
def test_golden_outputs(data, hexed, level):
    assert ulz.compress(data, level).hex() == hexed


def test_long_distance_bits():
    # distance bit 16 lives in the token: 65536 -> (1, 0x0000), 131071 -> (1, 0xffff)
    rng = random.Random(1)
    for dist in (65535, 65536, 131071):
        head = rng.randbytes(dist)
        data = head + head[:50]
        for level in LEVELS:
            comp = ulz.compress_block(data, level)
            assert ulz.decompress_block(comp, len(data)) == data
            if level >= 2:
                assert len(comp) < dist + 40, "the repeat at the window edge must be found"
    # one byte further is out of the window: no match possible, but still exact
    head = rng.randbytes(131072)
    data = head + head[:64]
    assert ulz.decompress_block(ulz.compress_block(data, 9), len(data)) == data


def _edge_inputs():
    rng = random.Random(7)
    text = b"the quick brown fox jumps over the lazy dog. " * 3000
    return {
        "empty": b"",
        "one": b"z",
        "four": b"abcd",
        "same": b"\x00" * 100_000,
        "period3": b"abc" * 30_000,
        "random": rng.randbytes(70_000),
        "text": text,
        "window-edge": rng.randbytes(131_071) + b"0123456789abcdef" * 4 + rng.randbytes(100),
        "long-literals": rng.randbytes(300) + b"x" * 10 + rng.randbytes(20_000),
        "mixed": rng.randbytes(5000) + text[:50_000] + rng.randbytes(5000) + text[:50_000],
    }


@pytest.mark.parametrize("level", LEVELS)
def test_round_trip_edge_cases(level):
    for name, data in _edge_inputs().items():
        blob = ulz.compress(data, level)
        assert ulz.decompress(blob) == data, name
        assert len(blob) <= ulz.compress_bound(len(data)) + 10, name
        block = ulz.compress_block(data, level)
        assert ulz.decompress_block(block, len(data)) == data, name


def test_higher_levels_compress_better():
    data = _edge_inputs()["mixed"] + bytes(range(256)) * 50
    sizes = [len(ulz.compress_block(data, lv)) for lv in LEVELS]
    assert sizes[-1] < sizes[0]
    assert len(ulz.compress(b"\x00" * 1_000_000)) < 5_000


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000)
    | st.lists(st.sampled_from([b"ab", b"abc", b"\x00", b"xyzw"]), max_size=900).map(b"".join),
    level=st.integers(1, 9),
)
def test_round_trip_property(data, level):
    assert ulz.decompress(ulz.compress(data, level)) == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), level=st.integers(1, 9), cut=st.integers(0, 2000))
def test_truncation_is_always_ulzerror(data, level, cut):
    blob = ulz.compress(data * 3, level)
    cut = cut % len(blob)
    with pytest.raises(ulz.ULZError):
        ulz.decompress(blob[:cut])


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=400), size=st.integers(0, 5000))
def test_garbage_never_crashes(noise, size):
    try:
        out = ulz.decompress_block(noise, size)
    except ulz.ULZError:
        return
    assert len(out) == size


def test_errors_say_where():
    with pytest.raises(ulz.ULZError, match=r"distance before the start of the output at input offset 0"):
        ulz.decompress_block(bytes.fromhex("000100"), 4)
    with pytest.raises(ulz.ULZError, match="truncated literals"):
        ulz.decompress_block(bytes.fromhex("60") + b"ab", 3)
    with pytest.raises(ulz.ULZError, match="decoded 3 bytes, expected 4"):
        ulz.decompress_block(bytes.fromhex("60") + b"abc", 4)
    with pytest.raises(ulz.ULZError, match="output larger than expected"):
        ulz.decompress_block(bytes.fromhex("60") + b"abc", 2)
    with pytest.raises(ulz.ULZError, match="empty input"):
        ulz.decompress(b"")
    with pytest.raises(ulz.ULZError, match="bad size header"):
        ulz.decompress(b"\xff" * 12)
    assert issubclass(ulz.ULZError, CorruptDataError) and issubclass(ulz.ULZError, ValueError)


def test_max_size_bounds_allocation():
    blob = ulz.compress(b"x" * 1000)
    assert ulz.decompress(blob, max_size=1000) == b"x" * 1000
    with pytest.raises(ulz.ULZError, match="exceeds max_size 999"):
        ulz.decompress(blob, max_size=999)
    hostile = bytes.fromhex("ffffffffffffffff7f") + b"\x00"  # declares 2^63-1 bytes
    with pytest.raises(ulz.ULZError):
        ulz.decompress(hostile)


def test_buffer_protocol_inputs():
    data = bytes(range(256)) * 64
    blob = ulz.compress(data, 3)
    for form in (bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        assert ulz.compress(form, 3) == blob
    assert ulz.decompress(memoryview(blob)) == data
    arr = np.arange(10_000, dtype=np.int32)
    assert np.frombuffer(ulz.decompress(ulz.compress(arr)), dtype=np.int32).tolist() == arr.tolist()
    with pytest.raises((BufferError, ValueError)):
        ulz.compress(np.arange(100, dtype=np.uint8)[::2])  # not contiguous: refuse rather than copy
    with pytest.raises(TypeError):
        ulz.compress("text is not bytes")


def test_into_variants():
    data = b"hello hello hello hello " * 100
    out = bytearray(ulz.compress_bound(len(data)) + 10)
    n = ulz.compress_into(data, out, level=5)
    assert bytes(out[:n]) == ulz.compress(data, 5)
    dest = bytearray(len(data))
    assert ulz.decompress_into(out[:n], dest) == len(data) and dest == data
    n = ulz.compress_block_into(data, out)
    dest2 = np.zeros(len(data) + 5, dtype=np.uint8)
    assert ulz.decompress_block_into(memoryview(out)[:n], dest2) == len(data)
    assert dest2[: len(data)].tobytes() == data
    with pytest.raises(ValueError, match="output buffer too small"):
        ulz.compress_into(bytes(range(256)) * 10, bytearray(100))
    with pytest.raises(ulz.ULZError, match="does not fit"):
        ulz.decompress_into(ulz.compress(data), bytearray(10))
    with pytest.raises(BufferError):
        ulz.decompress_into(ulz.compress(data), b"read-only")


def test_argument_checking():
    with pytest.raises(ValueError, match=r"level must be 1\.\.9"):
        ulz.compress(b"x", 0)
    with pytest.raises(ValueError, match=r"level must be 1\.\.9"):
        ulz.compress(b"x", level=10)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ulz.compress(b"x", lvl=2)
    with pytest.raises(TypeError, match="missing required argument 'size'"):
        ulz.decompress_block(b"\x00")
    with pytest.raises(TypeError, match="multiple values"):
        ulz.compress(b"x", 1, level=1)
    assert ulz.decompress(data=ulz.compress(data=b"kw", level=2)) == b"kw"


def test_xxh64_known_values():
    # reference values of the XXH64 specification's implementation
    assert ulz.xxh64(b"") == 0xEF46DB3751D8E999
    assert ulz.xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert ulz.xxh64(b"abc") == 0x44BC2CF5AD770999
    assert ulz.xxh64(b"", seed=1) != ulz.xxh64(b"")
    big = bytes(range(256)) * 100
    assert ulz.xxh64(big) == ulz.xxh64(memoryview(big))


def test_threads_run_in_parallel_and_agree():
    rng = random.Random(3)
    blocks = [rng.randbytes(20_000) + b"abc" * 50_000 for _ in range(4)]
    expected = [ulz.compress(b, 2) for b in blocks]
    results = [None] * 4

    def work(i):
        results[i] = ulz.decompress(ulz.compress(blocks[i], 2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == blocks
    assert [ulz.compress(b, 2) for b in blocks] == expected
