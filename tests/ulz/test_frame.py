"""The framed .ulz format: layout, round trips, streaming, threads, file objects, every error."""

import io
import itertools
import os
import random
import struct
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.common import CorruptDataError, OutputError
from everybit.ulz import ULZError, frame, xxh64

BS = frame.MIN_BLOCK_SIZE  # small blocks keep multi-block cases fast
SIZES = [0, 1, BS - 1, BS, BS + 1, 2 * BS, 3 * BS + 7]


def make(kind: str, size: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    if kind == "random":
        return rng.randbytes(size)
    if kind == "zeros":
        return bytes(size)
    words = [rng.randbytes(rng.randint(1, 8)).hex().encode() for _ in range(300)]
    text = b" ".join(rng.choice(words) for _ in range(size // 4 + 1))[:size]
    if kind == "mixed":  # compressible and incompressible blocks in turn
        noise = rng.randbytes(size)
        return b"".join((text if (i // BS) % 2 else noise)[i : i + BS // 2] for i in range(0, size, BS // 2))
    return text


KINDS = ["text", "random", "zeros", "mixed"]
TEXT = make("text", 3 * BS + 7)
ABC = frame.compress(b"abc")  # header 16, stored short block 4 + 4 + 3 + 4, end marker 4, checksum 8


def header(flags: int = 2, log: int = 16, content_size: int | None = None, version: int = 1) -> bytes:
    """A frame header built from the spec, with a correct header check byte."""
    desc = bytes((version, flags, log)) + (struct.pack("<Q", content_size) if flags & 1 else b"")
    return frame.MAGIC + desc + bytes(((xxh64(desc) >> 8) & 0xFF,))


def parse(blob: bytes) -> dict:
    """An independent reader of the layout in docs/ulz-format.md, to pin it."""
    assert blob[:4] == b"\x89ULZ"
    version, flags, log = blob[4:7]
    pos = 7
    content_size = None
    if flags & 1:
        (content_size,) = struct.unpack_from("<Q", blob, pos)
        pos += 8
    assert blob[pos] == (xxh64(blob[4:pos]) >> 8) & 0xFF
    pos += 1
    blocks, state = [], 0
    while True:
        (word,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        if word == 0:
            break
        stored, short, length = bool(word >> 31), bool(word >> 30 & 1), word & (2**30 - 1)
        size = 1 << log
        if short:
            (size,) = struct.unpack_from("<I", blob, pos)
            pos += 4
        data = blob[pos : pos + length]
        pos += length
        (check,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        raw = data if stored else frame.decompress_block(data, size)
        assert check == xxh64(raw) & 0xFFFFFFFF
        state = xxh64(struct.pack("<Q", xxh64(raw)), state)
        blocks.append((stored, short, size, raw))
    if flags & 2:
        assert struct.unpack_from("<Q", blob, pos)[0] == state
        pos += 8
    return {"version": version, "flags": flags, "log": log, "content_size": content_size,
            "blocks": blocks, "end": pos}  # fmt: skip


# -- layout --------------------------------------------------------------------------------------


def test_golden_frames():
    # The frame bytes must never change silently (the sequence format is pinned in test_codec.py).
    fields = [
        "89554c5a",  # magic
        "01",  # version
        "03",  # flags: content size, content checksum
        "10",  # block size 2^16
        "0500000000000000",  # content size 5
        "61",  # header check
        "050000c0",  # block 0: stored + short, 5 bytes of data
        "05000000",  # raw length 5
        "68656c6c6f",  # data
        "a36d9f88",  # block checksum
        "00000000",  # end marker
        "db2fe6063e5fb975",  # content checksum
    ]
    assert frame.compress(b"hello", block_size=BS).hex() == "".join(fields)
    assert frame.compress(b"", block_size=BS, content_checksum=False).hex() == (
        "89554c5a010110000000000000000075" + "00000000"
    )
    comp = frame.Compressor(block_size=BS)  # no content size: flags 0x02, 8-byte header
    assert (comp.compress(b"hello") + comp.flush())[:7].hex() == "89554c5a010210"


@pytest.mark.parametrize("kind", KINDS)
def test_layout_matches_the_spec(kind):
    data = make(kind, 3 * BS + 7)
    blob = frame.compress(data, 5, block_size=BS)
    info = parse(blob)
    assert (info["version"], info["flags"], info["log"], info["content_size"]) == (1, 3, 16, len(data))
    assert info["end"] == len(blob)
    assert b"".join(raw for *_, raw in info["blocks"]) == data
    assert [size for _, _, size, _ in info["blocks"]] == [BS, BS, BS, 7]
    assert [short for _, short, _, _ in info["blocks"]] == [False, False, False, True]
    if kind == "random":
        assert all(stored for stored, *_ in info["blocks"])  # incompressible: stored raw
        assert len(blob) == len(data) + 16 + 4 * 8 + 4 + 4 + 8


def test_block_size_is_written_as_log2():
    for log in (16, 20, 26):
        assert frame.compress(b"x", block_size=1 << log)[6] == log


# -- round trips ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    size=st.one_of(st.sampled_from(SIZES), st.integers(0, 12 * BS)),
    kind=st.sampled_from(KINDS),
    level=st.sampled_from([1, 5, 9]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_and_thread_count_independence(size, kind, level, seed):
    data = make(kind, size, seed)
    one = frame.compress(data, level, threads=1, block_size=BS)
    assert frame.compress(data, level, threads=3, block_size=BS) == one
    assert frame.decompress(one) == data
    assert frame.decompress(one, threads=3) == data


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([*SIZES, 9 * BS + 5]),
    cuts=st.lists(st.integers(0, 10 * BS), max_size=8),
    max_length=st.sampled_from([-1, 999, BS + 3]),
    threads=st.sampled_from([1, 2]),
)
def test_streaming_in_any_pieces(size, cuts, max_length, threads):
    data = make("mixed", size, size)
    bounds = sorted({0, size, *(c for c in cuts if c < size)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    comp = frame.Compressor(threads=threads, block_size=BS)
    blob = b"".join(comp.compress(p) for p in pieces) + comp.flush()
    whole = frame.Compressor(block_size=BS)
    assert blob == whole.compress(data) + whole.flush()

    dec = frame.Decompressor(threads)
    out = bytearray()
    step = max(1, len(blob) // 7)
    for pos in range(0, len(blob), step):
        out += dec.decompress(blob[pos : pos + step], max_length)
        while not dec.needs_input and not dec.eof:
            got = dec.decompress(b"", max_length)
            assert max_length < 0 or len(got) <= max_length
            out += got
    out += dec.flush()
    assert dec.eof and bytes(out) == data


def test_max_length_one_byte_at_a_time():
    data = make("text", BS + 1)
    dec = frame.Decompressor(2, concatenated=True)
    out = bytearray(dec.decompress(frame.compress(data, block_size=BS), 1))
    while not dec.needs_input:
        got = dec.decompress(b"", 1)
        assert len(got) == 1 or len(out) == len(data)  # the end marker may take a call of its own
        out += got
    assert dec.flush() == b"" and dec.eof and out == data


def test_any_buffer_type_is_accepted():
    data = TEXT[: BS + 9]
    blob = frame.compress(bytearray(data), block_size=BS)
    assert frame.compress(memoryview(data), block_size=BS) == blob
    assert frame.decompress(bytearray(blob)) == data
    assert frame.decompress(memoryview(blob)) == data
    comp = frame.Compressor(threads=2, block_size=BS)
    buf = bytearray(data)
    out = comp.compress(buf)
    buf[:] = bytes(len(buf))  # reusing the caller's buffer must not change what was compressed
    assert frame.decompress(out + comp.flush()) == data


def test_concatenated_frames_decode_to_the_concatenation():
    a, b = make("text", BS + 1, 1), make("random", 100, 2)
    blob = frame.compress(a, block_size=BS) + frame.compress(b"") + frame.compress(b, threads=2)
    assert frame.decompress(blob) == a + b
    assert frame.decompress(blob, threads=2) == a + b
    assert frame.open(io.BytesIO(blob)).read() == a + b


def test_decompressor_one_frame_semantics():
    first, second = frame.compress(b"one"), frame.compress(b"two")
    dec = frame.Decompressor()
    assert not dec.eof and dec.needs_input
    assert dec.decompress(first[:5]) == b""
    assert dec.decompress(first[5:] + second[:3]) == b"one"
    assert dec.eof and not dec.needs_input
    assert dec.unused_data == second[:3]
    assert dec.block_size == frame.DEFAULT_BLOCK_SIZE and dec.content_size == 3
    with pytest.raises(EOFError):
        dec.decompress(b"more")
    assert dec.flush() == b""


def test_compressor_arguments_are_checked():
    for kwargs in ({"level": 0}, {"level": 10}, {"block_size": 1000}, {"block_size": 3 << 16},
                   {"block_size": 1 << 27}, {"threads": -1}, {"content_size": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            frame.Compressor(**kwargs)
    comp = frame.Compressor(content_size=3)
    with pytest.raises(ValueError, match="content_size"):
        comp.compress(b"four")
    comp = frame.Compressor(content_size=3)
    comp.compress(b"ab")
    with pytest.raises(ValueError, match="content_size"):
        comp.flush()
    comp = frame.Compressor()
    comp.flush()
    with pytest.raises(ValueError, match="after flush"):
        comp.compress(b"x")


def test_content_size_is_written_when_declared():
    comp = frame.Compressor(block_size=BS, content_size=5)
    blob = comp.compress(b"hello") + comp.flush()
    assert parse(blob)["content_size"] == 5
    assert frame.decompress(blob) == b"hello"


# -- errors ----------------------------------------------------------------------------------------


def blocks_blob(n: int = 5, kind: str = "text", **kw) -> tuple[bytes, list[int]]:
    """A frame of n full blocks and the offset of each block header."""
    blob = frame.compress(make(kind, n * BS, 7), block_size=BS, **kw)
    offsets, pos = [], 16
    for _ in range(n):
        offsets.append(pos)
        pos += 4 + (struct.unpack_from("<I", blob, pos)[0] & (2**30 - 1)) + 4
    return blob, offsets


def fails(blob: bytes, threads: int = 1) -> str:
    with pytest.raises(ULZError) as exc:
        frame.decompress(blob, threads)
    return str(exc.value)


def test_error_type_is_corrupt_data_and_value_error():
    assert issubclass(ULZError, CorruptDataError) and issubclass(ULZError, ValueError)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "truncated frame: header at offset 0"),
        (b"\x89UL", "truncated frame: header at offset 0"),
        (b"PK\x03\x04" + bytes(20), "bad magic (not a ULZ frame) at offset 0"),
        (header(version=2), "unsupported version 2 at offset 4"),
        (header(flags=0x82), "unsupported flags 0x82 at offset 5"),
        (header(log=15), "block size 2^15 out of range"),
        (header(log=27), "block size 2^27 out of range"),
        (header()[:-1] + bytes((header()[-1] ^ 1,)), "frame header checksum mismatch at offset 0"),
        (header(), "truncated frame: block 0 header (offset 8)"),
        (header() + b"\x05\0\0", "truncated frame: block 0 header (offset 8)"),
        (header() + b"\x05\0\0\0ab", "truncated frame: block 0 data (offset 8)"),
        (header() + bytes(4), "truncated frame: content checksum at offset 12"),
        # a declared length over the block size fails at once, before any allocation or more input
        (header() + struct.pack("<I", 2**30 - 1), "block 0 (offset 8): stored length 1,073,741,823 invalid"),
        (header() + struct.pack("<I", BS + 1), "block 0 (offset 8): stored length 65,537 invalid"),
        (header() + struct.pack("<II", 3 | 3 << 30, 4), "block 0 (offset 8): stored length 3 invalid"),
        (header() + struct.pack("<II", 3 | 1 << 30, 0), "block 0 (offset 8): raw length 0 out of range"),
        (header() + struct.pack("<II", 3 | 1 << 30, BS + 1), "raw length 65,537 out of range"),
        (header(flags=1, content_size=2) + struct.pack("<II", 3 | 3 << 30, 3),
         "block 0 (offset 16): more data than the header's content size 2"),
        (header(flags=1, content_size=9) + bytes(4), "content size mismatch at offset 16: the header says 9"),
        (ABC + b"junk", f"trailing garbage after frame at offset {len(ABC)}"),
        (ABC + b"\x89U", f"truncated frame: header at offset {len(ABC)}"),
        (ABC[:-1] + bytes((ABC[-1] ^ 1,)), f"content checksum mismatch at offset {len(ABC) - 8}"),
    ],
)  # fmt: skip
def test_frame_errors(blob, message):
    assert message in fails(blob)
    assert message in fails(blob, threads=2)


def test_checksum_mismatch_names_the_block_and_offset():
    blob, offsets = blocks_blob()
    bad = bytearray(blob)
    end = offsets[3] + 4 + (struct.unpack_from("<I", blob, offsets[3])[0] & (2**30 - 1))
    bad[end] ^= 1  # the stored checksum of block 3
    for threads in (1, 3):
        assert fails(bytes(bad), threads) == f"block 3 (offset {offsets[3]}): checksum mismatch"


def test_corrupt_block_data_names_the_block():
    blob, offsets = blocks_blob()
    bad = bytearray(blob)
    bad[offsets[2] + 9] ^= 0x40
    assert fails(bytes(bad)).startswith(f"block 2 (offset {offsets[2]}): ")


def test_first_error_in_stream_order_wins_with_threads():
    blob, offsets = blocks_blob(8)
    bad = bytearray(blob)
    for k in (2, 5):
        bad[offsets[k] + 6] ^= 0xFF
    bad[offsets[7] : offsets[7] + 4] = struct.pack("<I", 2**30 - 1)  # a structural error further on
    for threads in (1, 2, 4):
        assert fails(bytes(bad), threads).startswith(f"block 2 (offset {offsets[2]}): ")


def test_short_block_must_be_last():
    comp = frame.Compressor(block_size=BS, content_checksum=False)
    short = comp.compress(b"abc") + comp.flush()
    body = short[8:-4]  # the one short block, without header and end marker
    blob = short[:8] + body + body + bytes(4)
    assert fails(blob) == f"block 1 (offset {8 + len(body)}): a block after the short (last) block"


def test_offsets_count_from_the_given_start():
    dec = frame.Decompressor(offset=1000)
    with pytest.raises(ULZError, match=r"bad magic .* at offset 1000"):
        dec.decompress(b"nope")


def test_truncation_at_every_byte_is_a_ulz_error():
    first = frame.compress(TEXT[:1000] * 200, block_size=BS)  # 4 blocks in a few hundred bytes
    assert len(first) < 4000
    blob = first + frame.compress(b"x" * 100)
    for cut in range(len(blob)):
        if cut == len(first):
            continue  # a whole frame
        with pytest.raises(ULZError, match="truncated frame"):
            frame.decompress(blob[:cut])
    for cut in [*range(0, len(first), 7), len(first) + 1]:
        with pytest.raises(ULZError, match="truncated frame"), frame.open(io.BytesIO(blob[:cut])) as f:
            f.read()
        with pytest.raises(ULZError, match="truncated frame"):
            frame.decompress(blob[:cut], threads=2)


def test_every_bit_flip_is_detected():
    blob = frame.compress(TEXT[:300] * 3, block_size=BS) + frame.compress(b"tail")
    for pos in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            with pytest.raises(ULZError):
                frame.decompress(bytes(bad))


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(0, 10**9), value=st.integers(0, 255), threads=st.sampled_from([1, 3]))
def test_corrupt_bytes_in_multiblock_frames_raise_ulz_error_only(pos, value, threads):
    blob, _ = blocks_blob(6, "mixed")
    pos %= len(blob)
    if blob[pos] == value:
        return
    bad = blob[:pos] + bytes((value,)) + blob[pos + 1 :]
    with pytest.raises(ULZError):
        frame.decompress(bad, threads)


# -- file objects and file functions -------------------------------------------------------------


def test_open_write_then_read_lines_and_chunks(tmp_path):
    path = tmp_path / "t.ulz"
    lines = [f"line {i} {'x' * (i % 50)}\n".encode() for i in range(20000)]
    with frame.open(path, "wb", threads=2, block_size=BS) as f:
        assert f.writable() and not f.readable() and not f.seekable()
        for line in lines:
            f.write(line)
    with frame.open(path) as f:
        assert f.readline() == lines[0]
        assert f.read(5) == lines[1][:5]
        assert f.readline() == lines[1][5:]
        buf = bytearray(len(lines[2]))
        assert f.readinto(buf) == len(buf) and bytes(buf) == lines[2]
        assert list(f) == lines[3:]
        assert f.read() == b""
    with frame.open(path, threads=3) as f:
        assert f.read() == b"".join(lines)


def test_append_mode_adds_a_frame_and_exclusive_mode_refuses(tmp_path):
    path = tmp_path / "a.ulz"
    with frame.open(path, "wb") as f:
        f.write(b"first\n")
    with frame.open(path, "ab") as f:
        f.write(b"second\n")
    with frame.open(path) as f:
        assert f.read() == b"first\nsecond\n"
    with pytest.raises(FileExistsError):
        frame.open(path, "xb")


def test_open_on_file_objects_leaves_them_open():
    raw = io.BytesIO()
    with frame.open(raw, "wb") as f:
        f.write(memoryview(b"abc"))
    assert not raw.closed
    raw.seek(0)
    with frame.open(raw) as f:
        assert f.read() == b"abc"
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    assert not raw.closed
    with pytest.raises(ValueError):
        f.read()
    with pytest.raises(ValueError, match="mode"):
        frame.open(raw, "r+b")
    with pytest.raises(TypeError):
        frame.open(42)


def test_file_functions_round_trip_and_refuse_to_overwrite(tmp_path):
    src = tmp_path / "in.bin"
    data = make("mixed", 5 * BS + 3)
    src.write_bytes(data)
    dst = tmp_path / "in.bin.ulz"
    n_in, n_out = frame.compress_file(src, dst, threads=2, block_size=BS)
    assert (n_in, n_out) == (len(data), dst.stat().st_size)
    comp = frame.Compressor(block_size=BS)
    assert dst.read_bytes() == comp.compress(data) + comp.flush()
    with pytest.raises(OutputError, match="already exists"):
        frame.compress_file(src, dst)
    back = tmp_path / "back.bin"
    assert frame.decompress_file(dst, back, threads=2) == (n_out, len(data))
    assert back.read_bytes() == data
    assert frame.decompress_file(dst, None) == (n_out, len(data))
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "in.bin", "in.bin.ulz"]


def test_streaming_memory_stays_bounded(tmp_path):
    # 32 MiB of zeros is a few hundred bytes compressed: nothing may decode it all at once.
    size = 32 << 20
    src = tmp_path / "zeros.ulz"
    with frame.open(src, "wb", block_size=BS) as f:
        for _ in range(size // (1 << 20)):
            f.write(bytes(1 << 20))
    assert src.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with frame.open(src, threads=2) as f:
            assert f.read(1000) == bytes(1000)
            assert f.read(BS) == bytes(BS)
        assert frame.decompress_file(src, None, threads=2) == (src.stat().st_size, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
