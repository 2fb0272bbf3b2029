"""Raw ULZ blocks (``everybit.ulz.block``): format vectors, round trips at every level, bounds, errors,
buffer handling, signatures."""

import inspect
import random
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.common import CorruptDataError
from everybit.ulz import ULZError, block, xxh64

LEVELS = range(1, block.MAX_LEVEL + 1)

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


@pytest.mark.parametrize(("blob", "decoded"), FORMAT_VECTORS)
def test_format_vectors_decode(blob, decoded):
    assert block.decompress_block(blob, len(decoded)) == decoded


@pytest.mark.parametrize("level", [1, 9])
@pytest.mark.parametrize(("data", "hexed"), GOLDEN.items())
def test_golden_outputs(data, hexed, level):
    assert block.compress(data, level=level).hex() == hexed


def test_long_distance_bits():
    # distance bit 16 lives in the token: 65536 -> (1, 0x0000), 131071 -> (1, 0xffff)
    rng = random.Random(1)
    for dist in (65535, 65536, 131071):
        head = rng.randbytes(dist)
        data = head + head[:50]
        for level in LEVELS:
            comp = block.compress_block(data, level=level)
            assert block.decompress_block(comp, len(data)) == data
            if level >= 2:
                assert len(comp) < dist + 40, "the repeat at the window edge must be found"
    # one byte further is out of the window: no match possible, but still exact
    head = rng.randbytes(131072)
    data = head + head[:64]
    assert block.decompress_block(block.compress_block(data, level=9), len(data)) == data


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
        blob = block.compress(data, level=level)
        assert block.decompress(blob) == data, name
        assert len(blob) <= block.compress_bound(len(data)) + 10, name
        raw = block.compress_block(data, level=level)
        assert block.decompress_block(raw, len(data)) == data, name


def test_higher_levels_compress_better():
    data = _edge_inputs()["mixed"] + bytes(range(256)) * 50
    sizes = [len(block.compress_block(data, level=lv)) for lv in LEVELS]
    assert sizes[-1] < sizes[0]
    assert len(block.compress(b"\x00" * 1_000_000)) < 5_000


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000)
    | st.lists(st.sampled_from([b"ab", b"abc", b"\x00", b"xyzw"]), max_size=900).map(b"".join),
    level=st.integers(1, 9),
)
def test_round_trip_property(data, level):
    assert block.decompress(block.compress(data, level=level)) == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), level=st.integers(1, 9), cut=st.integers(0, 2000))
def test_truncation_is_always_ulzerror(data, level, cut):
    blob = block.compress(data * 3, level=level)
    cut = cut % len(blob)
    with pytest.raises(ULZError):
        block.decompress(blob[:cut])


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=400), size=st.integers(0, 5000))
def test_garbage_never_crashes(noise, size):
    try:
        out = block.decompress_block(noise, size)
    except ULZError:
        return
    assert len(out) == size


def test_errors_say_where():
    with pytest.raises(ULZError, match=r"distance before the start of the output at input offset 0"):
        block.decompress_block(bytes.fromhex("000100"), 4)
    with pytest.raises(ULZError, match="truncated literals"):
        block.decompress_block(bytes.fromhex("60") + b"ab", 3)
    with pytest.raises(ULZError, match="decoded 3 bytes, expected 4"):
        block.decompress_block(bytes.fromhex("60") + b"abc", 4)
    with pytest.raises(ULZError, match="output larger than expected"):
        block.decompress_block(bytes.fromhex("60") + b"abc", 2)
    with pytest.raises(ULZError, match="empty input"):
        block.decompress(b"")
    with pytest.raises(ULZError, match="bad size header"):
        block.decompress(b"\xff" * 12)
    assert issubclass(ULZError, CorruptDataError) and issubclass(ULZError, ValueError)


def test_max_size_bounds_allocation():
    blob = block.compress(b"x" * 1000)
    assert block.decompress(blob, max_size=1000) == b"x" * 1000
    assert (
        block.decompress(blob, 2**64) == block.decompress(blob, sys.maxsize + 1) == b"x" * 1000
    )  # unbounded
    with pytest.raises(ULZError, match="exceeds max_size 999"):
        block.decompress(blob, max_size=999)
    with pytest.raises(ValueError, match="max_size must be >= 0"):
        block.decompress(blob, -1)
    hostile = bytes.fromhex("ffffffffffffffff7f") + b"\x00"  # declares 2^63-1 bytes
    with pytest.raises(ULZError):
        block.decompress(hostile)
    with pytest.raises(ULZError, match="too large"):
        block.decompress_block(b"\x00", 2**64)


def test_any_buffer_is_accepted():
    data = bytes(range(256)) * 64
    blob = block.compress(data, level=3)
    for form in (bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        assert block.compress(form, level=3) == blob
    assert block.decompress(memoryview(blob)) == data
    arr = np.arange(10_000, dtype=np.int32)
    assert np.frombuffer(block.decompress(block.compress(arr)), dtype=np.int32).tolist() == arr.tolist()
    spaced = np.arange(100, dtype=np.uint8)[::2]  # not contiguous: copied first
    assert block.decompress(block.compress(spaced)) == spaced.tobytes()
    with pytest.raises(TypeError):
        block.compress("text is not bytes")


def test_into_variants():
    data = b"hello hello hello hello " * 100
    out = bytearray(block.compress_bound(len(data)) + 10)
    n = block.compress_into(data, out, level=5)
    assert bytes(out[:n]) == block.compress(data, level=5)
    dest = bytearray(len(data))
    assert block.decompress_into(out[:n], dest) == len(data) and dest == data
    n = block.compress_block_into(data, out)
    dest2 = np.zeros(len(data) + 5, dtype=np.uint8)
    assert block.decompress_block_into(memoryview(out)[:n], dest2) == len(data)
    assert dest2[: len(data)].tobytes() == data
    with pytest.raises(ValueError, match="output buffer too small"):
        block.compress_into(bytes(range(256)) * 10, bytearray(100))
    with pytest.raises(ULZError, match="does not fit"):
        block.decompress_into(block.compress(data), bytearray(10))
    for bad_out in (b"read-only", memoryview(bytearray(100))[::2]):
        with pytest.raises(TypeError, match="writable, contiguous"):
            block.decompress_into(block.compress(data), bad_out)


def test_options_are_keyword_only_and_signatures_visible():
    with pytest.raises(ValueError, match=r"level must be 1\.\.9"):
        block.compress(b"x", level=0)
    with pytest.raises(ValueError, match=r"level must be 1\.\.9"):
        block.compress(b"x", level=10)
    with pytest.raises(TypeError):
        block.compress(b"x", 2)
    with pytest.raises(TypeError):
        block.decompress_block(b"\x00")
    assert block.decompress(block.compress(b"kw", level=2)) == b"kw"
    for name in block.__all__:
        fn = getattr(block, name)
        if callable(fn) and not isinstance(fn, type):
            params = inspect.signature(fn).parameters
            assert "level" not in params or params["level"].kind == inspect.Parameter.KEYWORD_ONLY, name
    assert list(inspect.signature(xxh64).parameters) == ["data", "seed"]


def test_xxh64_known_values():
    # reference values of the XXH64 specification's implementation
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    assert xxh64(b"", seed=1) != xxh64(b"")
    big = bytes(range(256)) * 100
    assert xxh64(big) == xxh64(memoryview(big))
    spaced = np.frombuffer(big, np.uint8)[::2]
    assert xxh64(spaced) == xxh64(spaced.tobytes())


def test_threads_run_in_parallel_and_agree():
    rng = random.Random(3)
    blocks = [rng.randbytes(20_000) + b"abc" * 50_000 for _ in range(4)]
    expected = [block.compress(b, level=2) for b in blocks]
    results = [None] * 4

    def work(i):
        results[i] = block.decompress(block.compress(blocks[i], level=2))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == blocks
    assert [block.compress(b, level=2) for b in blocks] == expected
