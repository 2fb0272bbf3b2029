"""The bpez block core: pair substitution, its inverse, and the choice of storage method."""

import random
import sysconfig
import zlib
from pathlib import Path

import pytest
from everybit.bpez._bpez import pair_decode, pair_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.bpez import core

TEXT = (b"the cat sat on the mat; the dog sat on the log. " * 400) + bytes(range(32, 127)) * 20


def test_pairs_replace_frequent_pairs_with_free_bytes():
    enc, table = pair_encode(TEXT)
    assert len(enc) < len(TEXT) * 0.6
    assert len(table) % 3 == 0 and len(table) > 0
    used = set(TEXT)
    first_reps = [table[k + 2] for k in range(0, 3 * 8, 3)]
    assert not used & set(first_reps), "replacements must be byte values absent from the block"
    assert pair_decode(enc, table, len(TEXT)) == TEXT


def test_table_follows_the_seed_layout():
    # one obvious pair: "ab" repeated -> first cycle replaces (a, b) by the lowest free byte, 0x00
    data = b"ab" * 1000
    enc, table = pair_encode(data, max_cycles=1)
    assert table == bytes([ord("a"), ord("b"), 0])
    assert enc == b"\x00" * 1000


def test_no_free_byte_means_no_cycles():
    data = bytes(range(256)) * 50
    enc, table = pair_encode(data)
    assert (enc, table) == (data, b"")


def test_reused_byte_values_decode():
    # 'q' only ever appears in "qu": once (q, u) is replaced, 'q' is free again and may be reused
    data = (b"quick quiet quota " * 300) + b"zz" * 50
    enc, table = pair_encode(data)
    reps = {table[k + 2] for k in range(0, len(table), 3)}
    assert pair_decode(enc, table, len(data)) == data
    assert reps  # the decoder tracks meanings through time, whatever was reused


@settings(max_examples=120, deadline=None)
@given(
    data=st.binary(max_size=4000)
    | st.lists(st.sampled_from([b"ab", b"abc", b"\x00", b"hello ", b"\xff\xfe"]), max_size=800).map(b"".join),
    level=st.integers(1, 9),
)
def test_round_trip_property(data, level):
    method, table, payload = core.encode(data, level)
    assert core.decode(method, table, payload, len(data)) == data
    assert len(table) + len(payload) <= len(data)  # never larger than storing the block raw


@pytest.mark.parametrize(
    "data",
    [b"", b"x", b"\x00" * 70_000, random.Random(5).randbytes(70_000), bytes(range(256)) * 300, TEXT],
    ids=["empty", "one", "same", "random", "all-values", "text"],
)
def test_edge_blocks(data):
    for level in (1, 9):
        method, table, payload = core.encode(data, level)
        assert core.decode(method, table, payload, len(data)) == data
    if data == TEXT:  # so repetitive that deflate alone wins: the cycle table would cost more
        assert method == core.DEFLATE
    if len(data) == 70_000 and len(set(data)) == 256:  # random bytes: stored as they are
        assert method == core.STORED


def _stdlib_text(limit=400_000):
    parts = [p.read_bytes() for p in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))]
    return b"".join(parts)[:limit]


def test_bpe_wins_on_real_text():
    data = _stdlib_text()
    method, table, payload = core.encode(data, 9)
    assert method == core.BPE_DEFLATE
    assert len(table) + len(payload) < 0.92 * len(zlib.compress(data, 9))


def test_decode_errors_are_bpezerror():
    data = _stdlib_text(100_000)
    method, table, payload = core.encode(data, 9)
    assert method == core.BPE_DEFLATE
    with pytest.raises(core.BPEZError, match="fewer bytes"):
        core.decode(method, table, payload, len(data) + 1)
    with pytest.raises(core.BPEZError, match="overruns"):
        core.decode(method, table, payload, len(data) - 1)
    with pytest.raises(core.BPEZError, match="corrupt deflate data"):
        core.decode(method, table, payload[: len(payload) // 2], len(data))
    with pytest.raises(core.BPEZError, match="bad cycle table"):
        core.decode(method, table[:-1], payload, len(data))
    with pytest.raises(core.BPEZError, match="unknown block method 7"):
        core.decode(7, table, payload, len(data))
    with pytest.raises(core.BPEZError, match="stored block holds"):
        core.decode(core.STORED, b"", b"abc", 4)
    assert issubclass(core.BPEZError, ValueError)


@settings(max_examples=200, deadline=None)
@given(
    table=st.binary(max_size=60).map(lambda b: b[: len(b) - len(b) % 3]),
    data=st.binary(max_size=200),
    size=st.integers(0, 3000),
)
def test_hostile_tables_never_crash(table, data, size):
    try:
        out = pair_decode(data, table, size)
    except core.BPEZError:
        return
    assert len(out) == size


def test_exponential_table_is_bounded():
    # each cycle doubles the previous symbol: a 1-byte block would expand to 2^254 bytes
    table = bytes([0, 0, 1]) + b"".join(bytes([k, k, k + 1]) for k in range(1, 255))
    with pytest.raises(core.BPEZError, match="overruns"):
        pair_decode(b"\xff", table, 1000)
