"""Files of the original bpez.py: detected without magic, decoded, and every defect reported, never
silently dropped."""

import io
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit import bpez
from everybit.bpez import legacy
from tests.bpez import legacy_writer
from tests.codecs.samples import make

SOURCE = b"".join(
    b"def f%d(x):\n    return x * %d + len('the quick brown fox')\n" % (i, i) for i in range(3000)
)


def records(blob: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each record of a legacy file."""
    out, pos = [], 0
    while pos < len(blob):
        (n,) = struct.unpack_from(">I", blob, pos)
        out.append((pos, n))
        pos += 4 + n
    return out


def test_the_writer_follows_the_layout():
    block = SOURCE[:50_000]
    blob = legacy_writer.write(block, block_size=1 << 20)
    [(start, n)] = records(blob)
    assert start == 0
    inner = zlib.decompress(blob[4 : 4 + n])
    size, cycles = struct.unpack_from(">IB", inner)
    assert (size, cycles) == (len(block), 64)
    data = inner[5:]
    # Undo by hand, as systems.md describes: the front 3 bytes are the last cycle's header.
    for _ in range(cycles):
        high, low, rep = data[:3]
        data = data[3:].replace(bytes((rep,)), bytes((high, low)))
    assert data == block
    assert len(blob) < len(zlib.compress(block, 9))  # the point of the original


@pytest.mark.parametrize("threads", [1, 3])
def test_legacy_files_decode_and_are_detected(threads):
    data = SOURCE[:150_000] + make("random", 5000) + SOURCE[:20_000]
    blob = legacy_writer.write(data, block_size=40_000)
    assert len(records(blob)) == 5
    assert legacy.looks_legacy(blob[:6]) and not legacy.looks_legacy(bpez.compress(data)[:6])
    assert bpez.decompress(blob, threads=threads) == data
    dec = bpez.Decompressor(threads=threads)
    out = dec.decompress(blob[:1000]) + dec.decompress(blob[1000:], 7) + dec.decompress(b"") + dec.flush()
    while not dec.eof:  # pragma: no cover - flush returns the rest
        out += dec.decompress(b"")
    assert out == data and dec.format == "legacy" and dec.block_size is None
    with bpez.open(io.BytesIO(blob), threads=threads) as f:
        assert f.read(10) == data[:10] and f.format == "legacy"
        assert f.read() == data[10:]


def test_a_default_size_legacy_file():
    data = (SOURCE * 7)[: (1 << 20) + 12345]
    blob = legacy_writer.write(data)  # 1 MB blocks, 64 cycles: what existing users have
    assert [n > 0 for _, n in records(blob)] == [True, True]
    assert bpez.decompress(blob) == data


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from([1, 2, 3, 4, 255, 256, 257, 5000]),
    kind=st.sampled_from(["text", "random", "zeros", "allbytes"]),
    cycles=st.sampled_from([0, 1, 64, 255]),
    seed=st.integers(0, 999),
)
def test_legacy_round_trips_of_edge_blocks(size, kind, cycles, seed):
    data = make(kind, size, seed)
    blob = legacy_writer.write(data, block_size=1000, cycles=cycles)
    assert bpez.decompress(blob) == data


def test_pairs_of_one_byte_and_no_free_byte():
    runs = b"aaaaaaa" * 50 + b"b" * 31
    blob = legacy_writer.write(runs)
    assert zlib.decompress(blob[4:])[4] > 1  # several cycles, starting with ("a", "a")
    assert bpez.decompress(blob) == runs
    full = bytes(range(256)) * 20  # every value used: no cycle is possible
    blob = legacy_writer.write(full)
    assert zlib.decompress(blob[4:])[4] == 0
    assert bpez.decompress(blob) == full


def make_record(inner: bytes) -> bytes:
    stream = zlib.compress(inner)
    return struct.pack(">I", len(stream)) + stream


GOOD = legacy_writer.write(SOURCE[:30_000], block_size=10_000)
OFFSETS = [off for off, _ in records(GOOD)]


def fails(blob: bytes, threads: int = 1) -> str:
    with pytest.raises(bpez.BPEZError) as exc:
        bpez.decompress(blob, threads=threads)
    return str(exc.value)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (GOOD[:-1], f"truncated legacy file: block 2 data (offset {OFFSETS[2]})"),
        (GOOD + b"\0\0", f"truncated legacy file: block 3 length (offset {len(GOOD)})"),
        (GOOD + struct.pack(">I", 7) + bytes(7), f"legacy block 3 (offset {len(GOOD)}): record length 7 out"),
        (GOOD + struct.pack(">I", legacy.MAX_RECORD + 1), "legacy block 3"),
        (GOOD + make_record(b"\0\0"), f"legacy block 3 (offset {len(GOOD)}): the zlib stream holds 2 bytes"),
        (GOOD + make_record(struct.pack(">IB", 10, 0) + b"abc"), "decodes to 3 bytes, its header says 10"),
        (GOOD + make_record(struct.pack(">IB", 2, 0) + b"abc"), "inflates to over 2 bytes for a 2-byte"),
        (make_record(struct.pack(">IB", legacy.MAX_BLOCK + 1, 0)), "block length 67,108,865 over the legacy"),
        (make_record(struct.pack(">IB", 5, 2) + b"abc"), "block 0 (offset 0): no header left for cycle 1"),
        # a cycle whose undo would grow the data beyond what could still end at the block length
        (make_record(struct.pack(">IB", 8, 1) + b"xy\x01" + b"\x01" * 8), "cycle 1 undoes to 16 bytes"),
        (make_record(struct.pack(">IB", 9, 0) + b"abc")[:-3] + b"\0\0\0", "legacy block 0 (offset 0): "),
    ],
)  # fmt: skip
def test_legacy_errors(blob, message):
    assert message in fails(blob)
    assert message in fails(blob, threads=3)


def test_bytes_after_the_zlib_stream_are_an_error():
    stream = zlib.compress(struct.pack(">IB", 3, 0) + b"abc") + b"xx"
    blob = struct.pack(">I", len(stream)) + stream
    assert fails(blob) == "legacy block 0 (offset 0): 2 bytes after the end of the zlib stream"
    stream = zlib.compress(struct.pack(">IB", 3, 0) + b"abc")[:-2]
    blob = struct.pack(">I", len(stream)) + stream
    assert fails(blob).startswith("legacy block 0 (offset 0): ")


def test_corrupt_bytes_name_the_record():
    rng = random.Random(4)
    for _ in range(200):
        k = rng.randrange(3)
        off, n = records(GOOD)[k]
        pos = off + 4 + rng.randrange(n)
        bad = bytearray(GOOD)
        bad[pos] ^= 1 << rng.randrange(8)
        message = fails(bytes(bad))
        # zlib's Adler-32 (or the checks above) catches it; it names this record, or a later one only if
        # the damage left this record decodable (never happens with a checked stream)
        assert message.startswith(f"legacy block {k} (offset {off}): "), message


def test_a_damaged_length_prefix_is_caught():
    for k, (off, n) in enumerate(records(GOOD)):
        for delta in (-1, 1):
            bad = bytearray(GOOD)
            bad[off : off + 4] = struct.pack(">I", n + delta)
            message = fails(bytes(bad))
            assert f"block {k} " in message and f"(offset {off})" in message, message


def test_garbage_is_neither_format():
    assert fails(b"\0\0\0\x10\x41\x42" + bytes(20)).startswith("bad magic (neither a bpez file nor")
    assert fails(b"\0\0\0\x10\x78").startswith("bad magic (neither a bpez file nor")
    assert fails(b"") == "empty input (not a bpez file) at offset 0"
