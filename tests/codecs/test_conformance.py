"""What every frame codec (ulz, bpez) must do, through its public API: round trips on the edge cases,
streaming, threads, buffers, file objects, and every defect of the frame outline reported as the format's
error naming the block and offset. Format-specific layouts and errors are in tests/ulz and tests/bpez."""

import functools
import inspect
import io
import itertools
import os
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.common import CorruptDataError, OutputError
from everybit.common.frame import CONTENT_CHECKSUM, FrameState
from tests.codecs.conftest import CODECS, Codec
from tests.codecs.samples import BS, KINDS, make

pytestmark = pytest.mark.parametrize("codec", CODECS, ids=str)
SIZES = [0, 1, 2, BS - 1, BS, BS + 1, 2 * BS, 3 * BS + 7]  # block boundaries and one either side
TEXT = make("text", 3 * BS + 7)


def header(codec: Codec, version: int = 1, flags: int | None = None, log: int = 16) -> bytes:
    """A frame header built from the outline, with a correct check byte (and a content checksum)."""
    flags = codec.spec.flags & CONTENT_CHECKSUM if flags is None else flags
    desc = bytes((version, flags, log))
    return codec.spec.magic + desc + bytes((codec.spec.header_check(desc),))


def records(codec: Codec, blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of each block record of the first frame of ``blob`` (8-byte header)."""
    spec, view = codec.spec, memoryview(blob)
    state = FrameState(spec.name, blob[6] and 1 << blob[6])
    out, pos = [], 8
    while blob[pos : pos + 4] != bytes(4):
        block = spec.read_block(view, pos, state, "")
        out.append((pos, block.end))
        block.payload.release()
        pos = block.end
    return out


def fails(codec: Codec, blob: bytes, threads: int = 1) -> str:
    with pytest.raises(codec.error) as exc:
        codec.module.decompress(blob, threads=threads)
    return str(exc.value)


@functools.cache
def multi(codec: Codec, n: int = 5, kind: str = "text") -> tuple[bytes, list[tuple[int, int]]]:
    """A streamed frame (no content size) of ``n`` full blocks, and its records."""
    comp = codec.module.Compressor(block_size=BS, threads=1)
    blob = comp.compress(make(kind, n * BS, 7)) + comp.flush()
    return blob, records(codec, blob)


# -- round trips ---------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    size=st.one_of(st.sampled_from(SIZES), st.integers(0, 8 * BS)),
    kind=st.sampled_from(KINDS),
    level=st.sampled_from([0, 1, 2]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_and_thread_count_independence(codec, size, kind, level, seed):
    data, lz = make(kind, size, seed), codec.module
    one = lz.compress(data, level=codec.levels[level], block_size=BS, threads=1)
    assert lz.compress(data, level=codec.levels[level], block_size=BS, threads=3) == one
    assert lz.decompress(one, threads=1) == data
    assert lz.decompress(one, threads=3) == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000))
def test_round_trip_of_arbitrary_small_inputs(codec, data):
    assert codec.module.decompress(codec.module.compress(data, block_size=BS)) == data


@settings(max_examples=20, deadline=None)
@given(
    size=st.sampled_from([*SIZES, 6 * BS + 5]),
    cuts=st.lists(st.integers(0, 7 * BS), max_size=8),
    max_length=st.sampled_from([-1, 999, BS - 1, BS + 3]),
    threads=st.sampled_from([1, 2]),
)
def test_streaming_in_any_pieces(codec, size, cuts, max_length, threads):
    data, lz = make("mixed", size, size), codec.module
    bounds = sorted({0, size, *(c for c in cuts if c < size)})
    comp = lz.Compressor(block_size=BS, threads=threads)
    blob = b"".join(comp.compress(data[a:b]) for a, b in itertools.pairwise(bounds)) + comp.flush()
    whole = lz.Compressor(block_size=BS, threads=1)
    assert blob == whole.compress(data) + whole.flush()

    dec = lz.Decompressor(threads=threads)
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
    assert dec.format == codec.name and dec.block_size == BS


def test_max_length_one_byte_at_a_time(codec):
    data = make("text", BS + 1)
    dec = codec.module.Decompressor(threads=2, concatenated=True)
    out = bytearray(dec.decompress(codec.module.compress(data, block_size=BS), 1))
    while not dec.needs_input:
        got = dec.decompress(b"", 1)
        assert len(got) == 1 or len(out) == len(data)  # the end of a frame may take a call of its own
        out += got
    assert dec.flush() == b"" and dec.eof and out == data


def test_concatenated_frames_decode_to_the_concatenation(codec):
    lz, a, b = codec.module, make("text", BS + 1, 1), make("random", 100, 2)
    blob = lz.compress(a, block_size=BS) + lz.compress(b"") + lz.compress(b, threads=2)
    assert lz.decompress(blob) == a + b
    assert lz.decompress(blob, threads=2) == a + b
    assert lz.open(io.BytesIO(blob)).read() == a + b


def test_decompressor_reads_one_frame_by_default(codec):
    lz = codec.module
    first, second = lz.compress(b"one"), lz.compress(b"two")
    dec = lz.Decompressor()
    assert not dec.eof and dec.needs_input and dec.format is None
    assert dec.decompress(first[:5]) == b""
    assert dec.decompress(first[5:] + second[:3]) == b"one"
    assert dec.eof and not dec.needs_input and dec.format == codec.name
    assert dec.unused_data == second[:3]
    assert dec.block_size == lz.DEFAULT_BLOCK_SIZE
    with pytest.raises(EOFError):
        dec.decompress(b"more")
    assert dec.flush() == b""


# -- buffers, options, signatures ----------------------------------------------------------------


def test_any_buffer_is_accepted(codec):
    lz, data = codec.module, TEXT[: BS + 9]
    blob = lz.compress(data, block_size=BS)
    arr = np.frombuffer(data, dtype=np.uint8)
    for form in (bytearray(data), memoryview(data), memoryview(data).cast("B", (len(data),)), arr):
        assert lz.compress(form, block_size=BS) == blob
    assert lz.decompress(bytearray(blob)) == data and lz.decompress(memoryview(blob)) == data
    wide = np.frombuffer(data[: len(data) // 4 * 4], dtype=np.int32)  # lengths count bytes, not items
    assert lz.decompress(lz.compress(wide)) == wide.tobytes()
    spaced = np.frombuffer(data + data, dtype=np.uint8)[::2]  # not contiguous: copied first
    assert lz.decompress(lz.compress(spaced)) == spaced.tobytes()
    with pytest.raises(TypeError):
        lz.compress("text is not bytes")
    comp = lz.Compressor(block_size=BS, threads=2)
    buf = bytearray(data)
    out = comp.compress(buf)
    buf[:] = bytes(len(buf))  # reusing the caller's buffer must not change what was compressed
    assert lz.decompress(out + comp.flush()) == data


def test_options_are_checked(codec):
    lz, spec = codec.module, codec.spec
    too_big = spec.max_block_size * 2
    for kwargs in ({"level": 0}, {"level": spec.max_level + 1}, {"block_size": 1000}, {"block_size": 3 << 16},
                   {"block_size": too_big}, {"block_size": 1 << 15}, {"threads": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            lz.Compressor(**kwargs)
        with pytest.raises(ValueError):
            lz.compress(b"x", **kwargs)
    with pytest.raises(ValueError):
        lz.Decompressor(threads=-1)
    with pytest.raises(TypeError):
        lz.compress(b"x", 1)  # options are keyword-only
    comp = lz.Compressor()
    comp.flush()
    with pytest.raises(ValueError, match="after flush"):
        comp.compress(b"x")
    with pytest.raises(ValueError, match="twice"):
        comp.flush()


def test_a_declared_content_size_must_match(codec):
    lz = codec.module
    with pytest.raises(ValueError, match="content_size"):
        lz.Compressor(content_size=-1)
    comp = lz.Compressor(content_size=3)
    with pytest.raises(ValueError, match="content_size"):
        comp.compress(b"four")
    comp = lz.Compressor(content_size=3)
    comp.compress(b"ab")
    with pytest.raises(ValueError, match="content_size"):
        comp.flush()
    comp = lz.Compressor(block_size=BS, content_size=5)
    assert lz.decompress(comp.compress(b"hello") + comp.flush()) == b"hello"


def test_signatures_are_visible_and_options_keyword_only(codec):
    lz = codec.module
    for fn in (lz.compress, lz.decompress, lz.open, lz.compress_file, lz.decompress_file):
        params = inspect.signature(fn).parameters
        assert all(p.kind == p.KEYWORD_ONLY for name, p in params.items() if name in ("level", "threads"))
        assert params["threads"].default == 0  # every core, for both codecs
    for cls in (lz.Compressor, lz.Decompressor):
        params = inspect.signature(cls).parameters
        assert params["threads"].default == 0 and all(p.kind == p.KEYWORD_ONLY for p in params.values())


# -- errors --------------------------------------------------------------------------------------


def test_error_type_is_corrupt_data_and_value_error(codec):
    assert issubclass(codec.error, CorruptDataError) and issubclass(codec.error, ValueError)


def outline_errors(codec: Codec) -> list[tuple[bytes, str]]:
    spec, h = codec.spec, header(codec)
    hello = codec.module.compress(b"hello", block_size=BS)
    top = spec.max_block_size.bit_length() - 1
    return [
        (b"", f"empty input (not a {codec.name} file) at offset 0"),
        (spec.magic[:3], "truncated frame: header at offset 0"),
        (b"PK\x03\x04" + bytes(20), f"bad magic ({spec.not_magic}) at offset 0"),
        (header(codec, version=2), "unsupported version 2 at offset 4 (this reads 1)"),
        (header(codec, flags=0x80), "unsupported flags 0x80 at offset 5"),
        (header(codec, log=15), f"block size 2^15 out of range (2^16..2^{top}) at offset 6"),
        (header(codec, log=top + 1), f"block size 2^{top + 1} out of range"),
        (h[:-1] + bytes((h[-1] ^ 1,)), "frame header checksum mismatch at offset 0"),
        (h, "truncated frame: block 0 header (offset 8)"),
        (h + b"\x05\0\0", "truncated frame: block 0 header (offset 8)"),
        (h + bytes(4), "truncated frame: end of frame at offset 12"),
        (hello + b"junk", f"trailing garbage after frame at offset {len(hello)}"),
        (hello + spec.magic[:2], f"truncated frame: header at offset {len(hello)}"),
        (hello + bytes(20), f"trailing garbage after frame at offset {len(hello)}"),
        (hello[:-1] + bytes((hello[-1] ^ 1,)), "content checksum mismatch at offset"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_frame_outline_errors(codec, case):
    blob, message = outline_errors(codec)[case]
    assert message in fails(codec, blob)
    assert message in fails(codec, blob, threads=2)


def test_checksum_mismatch_names_the_block_and_offset(codec):
    blob, recs = multi(codec)
    bad = bytearray(blob)
    bad[recs[3][1] - 1] ^= 1  # the last byte of a record is its block's checksum in both formats
    for threads in (1, 3):
        assert fails(codec, bytes(bad), threads) == f"block 3 (offset {recs[3][0]}): checksum mismatch"


def test_corrupt_block_data_names_the_block(codec):
    blob, recs = multi(codec)
    bad = bytearray(blob)
    start, end = recs[2]
    bad[(start + end) // 2] ^= 0x40
    assert fails(codec, bytes(bad)).startswith(f"block 2 (offset {start}): ")


def test_first_error_in_stream_order_wins_with_threads(codec):
    blob, recs = multi(codec, 8)
    bad = bytearray(blob)
    for k in (2, 5):
        bad[recs[k][1] - 20] ^= 0xFF
    bad[recs[7][0] : recs[7][0] + 4] = struct.pack("<I", 2**30 - 1)  # a structural error further on
    for threads in (1, 2, 4, 2, 4, 2, 4):  # again: which job finishes first varies from run to run
        assert fails(codec, bytes(bad), threads).startswith(f"block 2 (offset {recs[2][0]}): ")


def test_short_block_must_be_last(codec):
    comp = codec.module.Compressor(block_size=BS)
    short = comp.compress(b"abc") + comp.flush()
    [(start, end)] = records(codec, short)
    blob = short[:end] + short[start:end] + short[end:]
    assert fails(codec, blob) == f"block 1 (offset {end}): a block after the short (last) block"


def test_dropped_or_swapped_blocks_are_caught(codec):
    blob, recs = multi(codec, 4)
    r = [blob[a:b] for a, b in recs]
    head, tail = blob[:8], blob[recs[-1][1] :]
    for body in (r[1] + r[0] + r[2] + r[3], r[0] + r[2] + r[3]):
        message = fails(codec, head + body + tail)
        assert "mismatch at offset" in message, message


def test_offsets_count_from_the_given_start(codec):
    dec = codec.module.Decompressor(offset=1000, legacy=False)
    with pytest.raises(codec.error, match=r"bad magic .* at offset 1000"):
        dec.decompress(b"nope")


def test_truncation_at_every_byte_is_an_error(codec):
    lz = codec.module
    first = lz.compress(TEXT[:1000] * 200, block_size=BS)  # 4 blocks in a few thousand bytes
    assert len(first) < 8000 and lz.open(io.BytesIO(first)).read() == TEXT[:1000] * 200
    blob = first + lz.compress(b"x" * 100)
    for cut in range(len(blob)):
        if cut != len(first):  # a whole frame
            with pytest.raises(codec.error, match=r"truncated frame|empty input"):
                lz.decompress(blob[:cut])
    for cut in [*range(1, len(first), 7), len(first) + 1]:
        with pytest.raises(codec.error, match="truncated frame"), lz.open(io.BytesIO(blob[:cut])) as f:
            f.read()
        with pytest.raises(codec.error, match="truncated frame"):
            lz.decompress(blob[:cut], threads=2)


def test_every_bit_flip_is_detected_or_harmless(codec):
    # Deflate (bpez) has bits that don't matter: the padding after its last code, distances that copy the
    # same bytes in periodic data. A flip there decodes to the same block, which its checksum vouches for.
    # ULZ has no such bits. Every other bit, and every bit of the framing, must fail with the format's error.
    lz = codec.module
    data = TEXT[:300] * 3 + b"tail"
    blob = lz.compress(TEXT[:300] * 3, block_size=BS) + lz.compress(b"tail")
    harmless = 0
    for pos in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            try:
                out = lz.decompress(bytes(bad), threads=1)
            except codec.error:
                continue
            assert out == data, (pos, bit)
            harmless += 1
    assert harmless < len(blob) // 4 if codec.harmless_flips else harmless == 0


@settings(max_examples=40, deadline=None)
@given(pos=st.integers(0, 10**9), value=st.integers(0, 255), threads=st.sampled_from([1, 3]))
def test_corrupt_bytes_in_multiblock_frames_raise_the_format_error_only(codec, pos, value, threads):
    blob, _ = multi(codec, 6, "mixed")
    pos %= len(blob)
    if blob[pos] != value:
        with pytest.raises(codec.error):
            codec.module.decompress(blob[:pos] + bytes((value,)) + blob[pos + 1 :], threads=threads)


# -- file objects and file functions -------------------------------------------------------------


def test_open_write_then_read_lines_and_chunks(codec, tmp_path):
    lz, path = codec.module, tmp_path / f"t{codec.spec.suffix}"
    lines = [f"line {i} {'x' * (i % 50)}\n".encode() for i in range(20000)]
    with lz.open(path, "wb", threads=2, block_size=BS) as f:
        assert f.writable() and not f.readable() and not f.seekable()
        for line in lines:
            f.write(line)
    with lz.open(path) as f:
        assert f.format is None
        assert f.readline() == lines[0] and f.format == codec.name
        assert f.read(5) == lines[1][:5]
        assert f.readline() == lines[1][5:]
        buf = bytearray(len(lines[2]))
        assert f.readinto(buf) == len(buf) and bytes(buf) == lines[2]
        assert list(f) == lines[3:]
        assert f.read() == b""
    with lz.open(path, "r", threads=3) as f:
        assert f.read() == b"".join(lines)


def test_append_mode_adds_a_frame_and_exclusive_mode_refuses(codec, tmp_path):
    lz, path = codec.module, tmp_path / "a"
    with lz.open(path, "wb") as f:
        f.write(b"first\n")
    with lz.open(path, "ab") as f:
        f.write(b"second\n")
    with lz.open(path) as f:
        assert f.read() == b"first\nsecond\n"
    with pytest.raises(FileExistsError):
        lz.open(path, "xb")


def test_open_on_file_objects_leaves_them_open(codec):
    lz, raw = codec.module, io.BytesIO()
    with lz.open(raw, "wb") as f:
        f.write(memoryview(b"abc"))
    assert not raw.closed
    raw.seek(0)
    with lz.open(raw) as f:
        assert isinstance(f, lz.ULZFile if codec.name == "ulz" else lz.BPEZFile)
        assert f.read() == b"abc"
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    assert not raw.closed
    with pytest.raises(ValueError):
        f.read()
    with pytest.raises(ValueError, match="mode"):
        lz.open(raw, "r+b")
    with pytest.raises(TypeError):
        lz.open(42)


def test_file_functions_round_trip_and_refuse_to_overwrite(codec, tmp_path):
    lz, src = codec.module, tmp_path / "in.bin"
    data = make("mixed", 5 * BS + 3)
    src.write_bytes(data)
    dst = tmp_path / f"in.bin{codec.spec.suffix}"
    n_in, n_out = lz.compress_file(src, dst, threads=2, block_size=BS)
    assert (n_in, n_out) == (len(data), dst.stat().st_size)
    comp = lz.Compressor(block_size=BS)
    assert dst.read_bytes() == comp.compress(data) + comp.flush()
    with pytest.raises(OutputError, match="already exists"):
        lz.compress_file(src, dst)
    back = tmp_path / "back.bin"
    assert lz.decompress_file(dst, back, threads=2) == (n_out, len(data))
    assert back.read_bytes() == data
    assert lz.decompress_file(dst, None) == (n_out, len(data))
    with dst.open("rb") as fp:
        assert codec.spec.measure(fp) == (n_out, len(data))  # from the block headers alone
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "in.bin", dst.name]


def test_a_failed_decode_leaves_no_output(codec, tmp_path):
    blob, recs = multi(codec, 4)
    bad = bytearray(blob)
    bad[recs[3][1] - 1] ^= 1
    src = tmp_path / "bad"
    src.write_bytes(bytes(bad))
    with pytest.raises(codec.error, match="block 3"):
        codec.module.decompress_file(src, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["bad"]


def test_streaming_memory_stays_bounded(codec, tmp_path):
    # 16 MiB of zeros is a few KB compressed: nothing may decode it all at once.
    lz, size, src = codec.module, 16 << 20, tmp_path / "zeros"
    with lz.open(src, "wb", level=1, block_size=BS) as f:
        for _ in range(size // (1 << 20)):
            f.write(bytes(1 << 20))
    assert src.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with lz.open(src, threads=2) as f:
            assert f.read(1000) == bytes(1000)
            assert f.read(BS) == bytes(BS)
        assert lz.decompress_file(src, None, threads=2) == (src.stat().st_size, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
