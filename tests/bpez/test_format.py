"""The .bpez format: layout, round trips, streaming, threads, file objects, every error."""

import functools
import io
import itertools
import os
import random
import struct
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everybit import bpez
from everybit.bpez import core, format
from everybit.common import CorruptDataError, OutputError

BS = format.MIN_BLOCK_SIZE  # small blocks keep multi-block cases fast
SIZES = [0, 1, 2, 3, BS - 1, BS, BS + 1, 2 * BS, 3 * BS + 7]


VOCABULARY = (
    b"the of and to in is was that for it with as his on be at by had are but from or have an they which "
    b"one you were her all she there would their we him been has when who will more no if out so said what "
    b"up its about into than them can only other new some could time these two may then do first any my now "
    b"such like our over man me even most made after also did many before must through back years where "
    b"much your way well down should because each just those people how too little state good very make "
    b"world still own see men work long get here between both life being under never day same another know"
)
WORDS = VOCABULARY.split()


def make(kind: str, size: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    if kind == "random":
        return rng.randbytes(size)
    if kind == "zeros":
        return bytes(size)
    if kind == "allbytes":  # every byte value in every block: BPE has no free byte to use
        base = bytes(range(256)) + b"".join(b"the %d quick brown foxes " % i for i in range(400))
        return (base * (size // len(base) + 1))[:size]
    text = b" ".join(
        rng.choice(WORDS) + (b".\n" if rng.random() < 0.08 else b"") for _ in range(size // 4 + 1)
    )
    text = text[:size]
    if kind == "mixed":  # compressible and incompressible blocks in turn
        noise = rng.randbytes(size)
        return b"".join((text if (i // BS) % 2 else noise)[i : i + BS // 2] for i in range(0, size, BS // 2))
    return text


KINDS = ["text", "random", "zeros", "allbytes", "mixed"]
TEXT = make("text", 3 * BS + 7)


def header(version: int = 1, flags: int = 0, log: int = 16) -> bytes:
    """A frame header built from the spec, with a correct header check byte."""
    desc = bytes((version, flags, log))
    return b"\x89BPZ" + desc + bytes((zlib.crc32(desc) & 0xFF,))


def block(raw: bytes, method: int = 0, table: bytes = b"", payload: bytes | None = None) -> bytes:
    """A block record built from the spec."""
    payload = raw if payload is None else payload
    return (
        struct.pack("<IBB", len(raw), method, len(table) // 3)
        + table
        + struct.pack("<I", len(payload))
        + payload
        + struct.pack("<I", zlib.crc32(raw))
    )


def end(total: int, crcs: list[int]) -> bytes:
    chain = 0
    for c in crcs:
        chain = zlib.crc32(struct.pack("<I", c), chain)
    return struct.pack("<IQI", 0, total, chain)


def raw_deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def parse(blob: bytes) -> dict:
    """An independent reader of the layout in docs/bpez-format.md, to pin it."""
    assert blob[:4] == b"\x89BPZ"
    version, flags, log = blob[4:7]
    assert blob[7] == zlib.crc32(blob[4:7]) & 0xFF
    pos, blocks, chain, total = 8, [], 0, 0
    while True:
        start = pos
        (size,) = struct.unpack_from("<I", blob, pos)
        if size == 0:
            break
        method, cycles = blob[pos + 4], blob[pos + 5]
        table = blob[pos + 6 : pos + 6 + 3 * cycles]
        pos += 6 + 3 * cycles
        (length,) = struct.unpack_from("<I", blob, pos)
        payload = blob[pos + 4 : pos + 4 + length]
        pos += 4 + length
        (crc,) = struct.unpack_from("<I", blob, pos)
        pos += 4
        if method == 0:
            raw = payload
        else:
            inflated = zlib.decompress(payload, -15)
            for k in range(len(table) - 3, -1, -3):  # undo the cycles, last first
                high, low, rep = table[k : k + 3]
                inflated = inflated.replace(bytes((rep,)), bytes((high, low)))
            raw = inflated
        assert len(raw) == size and zlib.crc32(raw) == crc
        chain = zlib.crc32(struct.pack("<I", crc), chain)
        total += size
        blocks.append({"offset": start, "size": size, "method": method, "cycles": cycles, "raw": raw,
                       "length": length, "end": pos})  # fmt: skip
    assert struct.unpack_from("<IQI", blob, pos) == (0, total, chain)
    return {"version": version, "flags": flags, "log": log, "blocks": blocks, "end": pos + 16}


# -- layout --------------------------------------------------------------------------------------


def test_golden_frames():
    # The frame bytes must never change silently.
    fields = [
        "8942505a",  # magic
        "01",  # version
        "00",  # flags
        "10",  # block size 2^16
        "41",  # header check: low byte of CRC-32 of 01 00 10
        "05000000",  # block 0: raw length 5
        "00",  # method 0: stored
        "00",  # no cycles
        "05000000",  # payload length 5
        "68656c6c6f",  # payload
        "86a61036",  # CRC-32 of the block
        "00000000",  # end marker
        "0500000000000000",  # total length 5
        "e190fbb1",  # content check: CRC-32 of the blocks' CRC-32s
    ]
    assert bpez.compress(b"hello", block_size=BS).hex() == "".join(fields)
    assert bpez.compress(b"", block_size=BS).hex() == "8942505a01001041" + "00" * 16
    assert bpez.compress(b"x")[6] == 20  # default block size 1 MiB


@pytest.mark.parametrize("kind", KINDS)
def test_layout_matches_the_spec(kind):
    data = make(kind, 3 * BS + 7)
    blob = bpez.compress(data, 9, BS, threads=1)
    info = parse(blob)
    assert (info["version"], info["flags"], info["log"], info["end"]) == (1, 0, 16, len(blob))
    assert b"".join(b["raw"] for b in info["blocks"]) == data
    assert [b["size"] for b in info["blocks"]] == [BS, BS, BS, 7]
    methods = {b["method"] for b in info["blocks"]}
    if kind == "random":
        assert methods == {0}  # incompressible: stored raw, 14 bytes of framing per block
        assert len(blob) == len(data) + 8 + 4 * 14 + 16
    if kind == "text":
        assert [b["method"] for b in info["blocks"]] == [2, 2, 2, 0]  # 7 bytes: stored
    for b in info["blocks"]:
        assert (b["method"] == 2) == (b["cycles"] > 0)
        if b["method"]:
            assert b["length"] + 3 * b["cycles"] < b["size"]


def test_block_size_is_written_as_log2():
    for log in (16, 20, 24):
        assert bpez.compress(b"x", block_size=1 << log)[6] == log


HAND_TEXT = b"abababab cdcdcdcd abcdabcd " * 40
# Two cycles, applied in table order: "ab" -> 0x01, then (0x01, "c") -> 0x02.
HAND_TABLE = b"ab\x01" + b"\x01c\x02"
HAND_BPE = HAND_TEXT.replace(b"ab", b"\x01").replace(b"\x01c", b"\x02")


def frame_of(raw: bytes, method: int = 0, table: bytes = b"", payload: bytes | None = None) -> bytes:
    return header() + block(raw, method, table, payload) + end(len(raw), [zlib.crc32(raw)])


def test_hand_built_blocks_of_every_method_decode():
    # Written from the spec alone: a reader must accept any valid encoder's output, not only ours.
    frames = (
        frame_of(b"stored bytes")
        + frame_of(HAND_TEXT, 1, b"", raw_deflate(HAND_TEXT))
        + frame_of(HAND_TEXT, 2, HAND_TABLE, raw_deflate(HAND_BPE))
    )
    assert bpez.decompress(frames) == b"stored bytes" + HAND_TEXT + HAND_TEXT
    full = make("text", BS, 5)  # and a frame of a full block then a short one
    blob = header() + block(full) + block(b"abc") + end(BS + 3, [zlib.crc32(full), zlib.crc32(b"abc")])
    assert bpez.decompress(blob, threads=2) == full + b"abc"


def test_content_check_is_the_crc_of_the_block_crcs():
    data = make("text", 2 * BS + 5)
    blob = bpez.compress(data, block_size=BS)
    crcs = [zlib.crc32(data[i : i + BS]) for i in range(0, len(data), BS)]
    assert blob[-16:] == end(len(data), crcs)
    assert core.crc32(data) == zlib.crc32(data)


# -- round trips ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    size=st.one_of(st.sampled_from(SIZES), st.integers(0, 8 * BS)),
    kind=st.sampled_from(KINDS),
    level=st.sampled_from([1, 6, 9]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_and_thread_count_independence(size, kind, level, seed):
    data = make(kind, size, seed)
    one = bpez.compress(data, level, BS, threads=1)
    assert bpez.compress(data, level, BS, threads=3) == one
    assert bpez.decompress(one, threads=1) == data
    assert bpez.decompress(one, threads=3) == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000))
def test_round_trip_of_arbitrary_small_inputs(data):
    assert bpez.decompress(bpez.compress(data, block_size=BS)) == data


def test_round_trip_at_the_largest_block_size_and_default_threads():
    data = (TEXT * 90)[: (1 << 24) + 1000]
    blob = bpez.compress(data, 1, format.MAX_BLOCK_SIZE)
    assert [b["size"] for b in parse(blob)["blocks"]] == [1 << 24, 1000]
    assert bpez.decompress(blob) == data


def test_every_byte_value_used_still_round_trips_and_wins():
    data = make("allbytes", 4 * BS)
    assert all(len(set(data[i : i + BS])) == 256 for i in range(0, len(data), BS))
    blob = bpez.compress(data, block_size=BS)
    assert bpez.decompress(blob) == data
    assert len(blob) < len(data) // 4


def test_incompressible_data_grows_by_the_framing_only():
    data = make("random", 10 * BS + 3)
    blob = bpez.compress(data, block_size=BS)
    assert len(blob) - len(data) == 8 + 11 * 14 + 16


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from([*SIZES, 6 * BS + 5]),
    cuts=st.lists(st.integers(0, 7 * BS), max_size=8),
    max_length=st.sampled_from([-1, 999, BS + 3]),
    threads=st.sampled_from([1, 2]),
)
def test_streaming_in_any_pieces(size, cuts, max_length, threads):
    data = make("mixed", size, size)
    bounds = sorted({0, size, *(c for c in cuts if c < size)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    comp = bpez.Compressor(block_size=BS, threads=threads)
    blob = b"".join(comp.compress(p) for p in pieces) + comp.flush()
    assert blob == bpez.compress(data, block_size=BS, threads=1)

    dec = bpez.Decompressor(threads)
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
    assert dec.format == "bpez" and dec.block_size == BS


def test_any_buffer_type_is_accepted():
    data = TEXT[: BS + 9]
    blob = bpez.compress(bytearray(data), block_size=BS)
    assert bpez.compress(memoryview(data), block_size=BS) == blob
    assert bpez.compress(memoryview(data).cast("B", (len(data),)), block_size=BS) == blob
    assert bpez.decompress(bytearray(blob)) == data
    assert bpez.decompress(memoryview(blob)) == data
    comp = bpez.Compressor(block_size=BS, threads=2)
    buf = bytearray(data)
    out = comp.compress(buf)
    buf[:] = bytes(len(buf))  # reusing the caller's buffer must not change what was compressed
    assert bpez.decompress(out + comp.flush()) == data


def test_concatenated_frames_decode_to_the_concatenation():
    a, b = make("text", BS + 1, 1), make("random", 100, 2)
    blob = bpez.compress(a, block_size=BS) + bpez.compress(b"") + bpez.compress(b, threads=2)
    assert bpez.decompress(blob) == a + b
    assert bpez.decompress(blob, threads=2) == a + b
    assert bpez.open(io.BytesIO(blob)).read() == a + b


def test_decompressor_one_frame_semantics():
    first, second = bpez.compress(b"one"), bpez.compress(b"two")
    dec = bpez.Decompressor()
    assert not dec.eof and dec.needs_input and dec.format is None
    assert dec.decompress(first[:5]) == b""
    assert dec.decompress(first[5:] + second[:3]) == b"one"
    assert dec.eof and not dec.needs_input
    assert dec.unused_data == second[:3]
    assert dec.block_size == bpez.DEFAULT_BLOCK_SIZE
    with pytest.raises(EOFError):
        dec.decompress(b"more")
    assert dec.flush() == b""


def test_arguments_are_checked():
    for kwargs in ({"level": 0}, {"level": 10}, {"block_size": 1000}, {"block_size": 3 << 16},
                   {"block_size": 1 << 25}, {"block_size": 1 << 15}, {"threads": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            bpez.Compressor(**kwargs)
        with pytest.raises(ValueError):
            bpez.compress(b"x", **kwargs)
    with pytest.raises(ValueError):
        bpez.Decompressor(threads=-1)
    comp = bpez.Compressor()
    comp.flush()
    with pytest.raises(ValueError, match="after flush"):
        comp.compress(b"x")
    with pytest.raises(ValueError, match="twice"):
        comp.flush()


# -- errors ----------------------------------------------------------------------------------------


def fails(blob: bytes, threads: int = 1, **kw) -> str:
    with pytest.raises(bpez.BPEZError) as exc:
        bpez.decompress(blob, threads, **kw)
    return str(exc.value)


def test_error_type_is_corrupt_data_and_value_error():
    assert issubclass(bpez.BPEZError, CorruptDataError) and issubclass(bpez.BPEZError, ValueError)


H = header()
BAD = "bad magic (neither a bpez file nor one of the original bpez.py)"
B0 = "block 0 (offset 8):"
HELLO = bpez.compress(b"hello", block_size=BS)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty input (not a bpez file) at offset 0"),
        (b"\x89BP", "truncated frame: header at offset 0"),
        (b"PK\x03\x04" + bytes(20), f"{BAD} at offset 0"),
        (b"PK", f"{BAD} at offset 0"),
        (header(version=2), "unsupported version 2 at offset 4"),
        (header(flags=0x01), "unsupported flags 0x01 at offset 5"),
        (header(log=15), "block size 2^15 out of range"),
        (header(log=25), "block size 2^25 out of range"),
        (H[:-1] + bytes((H[-1] ^ 1,)), "frame header checksum mismatch at offset 0"),
        (H, "truncated frame: block 0 header (offset 8)"),
        (H + b"\x05\0\0", "truncated frame: block 0 header (offset 8)"),
        (H + b"\x05\0\0\0\0\0\5\0", "truncated frame: block 0 header (offset 8)"),
        (H + b"\x05\0\0\0\0\0\5\0\0\0ab", "truncated frame: block 0 data (offset 8)"),
        (H + bytes(4), "truncated frame: end of frame at offset 12"),
        (H + bytes(15), "truncated frame: end of frame at offset 12"),
        # declared lengths are checked against the block size at once, before any allocation or more input
        (H + struct.pack("<I", 2**32 - 1), f"{B0} raw length 4,294,967,295 out of range (1..65,536)"),
        (H + struct.pack("<I", BS + 1), f"{B0} raw length 65,537 out of range"),
        (H + struct.pack("<IBB", 5, 3, 0), f"{B0} unknown method 3"),
        (H + struct.pack("<IBB", 5, 0, 1), f"{B0} cycle count 1 invalid for a stored block (0)"),
        (H + struct.pack("<IBB", 5, 1, 2), f"{B0} cycle count 2 invalid for a deflate block (0)"),
        (H + struct.pack("<IBB", 5, 2, 0), "cycle count 0 invalid for a bpe+deflate block (1..255)"),
        (H + struct.pack("<IBBI", 5, 0, 0, 4), f"{B0} stored length 4 invalid for a 5-byte block"),
        (H + struct.pack("<IBBI", 5, 1, 0, 5), f"{B0} payload length 5 invalid for a 5-byte block"),
        (H + struct.pack("<IBBI", 5, 1, 0, 0), f"{B0} payload length 0 invalid"),
        (H + struct.pack("<IBB3sI", BS, 2, 1, b"abc", BS - 3),
         "payload length 65,533 invalid for a 65,536-byte block with 1 cycles"),
        (H + struct.pack("<I", 2**32 - 1), "block 0 (offset 8)"),
        (H + block(b"abc")[:-1] + b"\0", f"{B0} checksum mismatch"),
        (H + block(b"abcdefgh", 1, payload=b"\xff\xff"), f"{B0} corrupt block data"),
        (H + block(b"abc") + block(b"def"), "block 1 (offset 25): a block after the short (last) block"),
        (H + block(b"abc") + end(4, [zlib.crc32(b"abc")]),
         "length mismatch at offset 29: the frame's end says 4 bytes, its blocks hold 3"),
        (HELLO[:-1] + bytes((HELLO[-1] ^ 1,)), f"content checksum mismatch at offset {len(HELLO) - 4}"),
        (HELLO + b"junk", f"trailing garbage after frame at offset {len(HELLO)}"),
        (HELLO + b"\x89B", f"truncated frame: header at offset {len(HELLO)}"),
        (HELLO + bytes(20), f"trailing garbage after frame at offset {len(HELLO)}"),
    ],
)  # fmt: skip
def test_frame_errors(blob, message):
    assert message in fails(blob)
    assert message in fails(blob, threads=2)


def test_legacy_detection_can_be_turned_off():
    assert fails(b"\0\0\0\x10\x78\x9c" + bytes(16), legacy=False) == "bad magic (not a bpez file) at offset 0"


@functools.cache
def multi(n: int = 5, kind: str = "text") -> tuple[bytes, list[dict]]:
    blob = bpez.compress(make(kind, n * BS, 7), block_size=BS, threads=1)
    return blob, parse(blob)["blocks"]


@pytest.mark.parametrize("kind", ["text", "mixed", "allbytes"])
def test_corrupting_any_field_of_a_block_names_that_block(kind):
    blob, blocks = multi(4, kind)
    for k, b in enumerate(blocks):
        off = b["offset"]
        table_end = off + 6 + 3 * b["cycles"]
        fields = {"raw length": off, "method": off + 4, "cycle count": off + 5, "payload length": table_end,
                  "payload": table_end + 4 + b["length"] // 2, "checksum": b["end"] - 2}  # fmt: skip
        if b["cycles"]:
            fields["table"] = off + 6 + b["cycles"]
        for field, pos in fields.items():
            for flip in (0x01, 0x80):
                bad = bytearray(blob)
                bad[pos] ^= flip
                for threads in (1, 3):
                    message = fails(bytes(bad), threads)
                    # "block 2 (offset N): ...", or "truncated frame: block 2 data (offset N)" when a
                    # corrupt length points past the end of the input
                    assert f"block {k} " in message and f"offset {off})" in message, (field, flip, message)


def test_checksum_mismatch_names_the_block_and_offset():
    blob, blocks = multi()
    bad = bytearray(blob)
    bad[blocks[3]["end"] - 4] ^= 1  # the stored CRC-32 of block 3
    for threads in (1, 3):
        assert fails(bytes(bad), threads) == f"block 3 (offset {blocks[3]['offset']}): checksum mismatch"


def test_first_error_in_stream_order_wins_with_threads():
    blob, blocks = multi(8)
    bad = bytearray(blob)
    for k in (2, 5):
        bad[blocks[k]["end"] - 20] ^= 0xFF
    bad[blocks[7]["offset"] : blocks[7]["offset"] + 4] = struct.pack("<I", 2**30)  # structural, further on
    for threads in (1, 2, 4):
        assert fails(bytes(bad), threads).startswith(f"block 2 (offset {blocks[2]['offset']}): ")


def test_dropped_or_swapped_blocks_are_caught_by_the_frame_end():
    blob, blocks = multi(4)
    recs = [blob[b["offset"] : b["end"]] for b in blocks]
    tail = blob[blocks[-1]["end"] :]
    swapped = blob[:8] + recs[1] + recs[0] + recs[2] + recs[3] + tail
    assert fails(swapped).startswith("content checksum mismatch at offset")
    dropped = blob[:8] + recs[0] + recs[2] + recs[3] + tail
    assert fails(dropped).startswith("length mismatch at offset")


def test_offsets_count_from_the_given_start():
    dec = bpez.Decompressor(offset=1000, legacy=False)
    with pytest.raises(bpez.BPEZError, match=r"bad magic .* at offset 1000"):
        dec.decompress(b"nope")


def test_truncation_at_every_byte_is_a_bpez_error():
    first = bpez.compress(TEXT[:1000] * 200, block_size=BS)  # 4 blocks in a few hundred bytes
    assert len(first) < 4000 and len(parse(first)["blocks"]) == 4
    blob = first + bpez.compress(b"x" * 100)
    for cut in range(len(blob)):
        if cut == len(first):
            continue  # a whole frame
        with pytest.raises(bpez.BPEZError, match=r"truncated frame|empty input"):
            bpez.decompress(blob[:cut])
    for cut in [*range(1, len(first), 7), len(first) + 1]:
        with pytest.raises(bpez.BPEZError, match="truncated frame"), bpez.open(io.BytesIO(blob[:cut])) as f:
            f.read()
        with pytest.raises(bpez.BPEZError, match="truncated frame"):
            bpez.decompress(blob[:cut], threads=2)


def test_every_bit_flip_is_detected_or_harmless():
    # Deflate has bits that don't matter: the padding after its last code, and distances that copy the
    # same bytes in periodic data. A flip there decodes to the same block (the CRC-32 vouches for it).
    # Every other bit, and every bit of the framing, fails with BPEZError.
    parts = [
        frame_of(HAND_TEXT, 2, HAND_TABLE, raw_deflate(HAND_BPE)),
        bpez.compress(TEXT[:300] * 3, block_size=BS),
        bpez.compress(b"tail"),
    ]
    infos = [parse(p) for p in parts]
    assert [info["blocks"][0]["method"] for info in infos] == [2, 1, 0]
    blob = b"".join(parts)
    data = HAND_TEXT + TEXT[:300] * 3 + b"tail"
    payloads, base = set(), 0
    for part, info in zip(parts, infos, strict=True):
        for b in info["blocks"]:
            if b["method"]:
                payloads.update(range(base + b["end"] - 4 - b["length"], base + b["end"] - 4))
        base += len(part)
    harmless = 0
    for pos in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            try:
                out = bpez.decompress(bytes(bad))
            except bpez.BPEZError:
                continue
            assert out == data and pos in payloads, (pos, bit)
            harmless += 1
    assert harmless < len(blob) // 4


@settings(max_examples=60, deadline=None)
@given(pos=st.integers(0, 10**9), value=st.integers(0, 255), threads=st.sampled_from([1, 3]))
def test_corrupt_bytes_in_multiblock_frames_raise_bpez_error_only(pos, value, threads):
    blob, _ = multi(6, "mixed")
    pos %= len(blob)
    if blob[pos] == value:
        return
    bad = blob[:pos] + bytes((value,)) + blob[pos + 1 :]
    with pytest.raises(bpez.BPEZError):
        bpez.decompress(bad, threads)


# -- file objects and file functions -------------------------------------------------------------


def test_open_write_then_read_lines_and_chunks(tmp_path):
    path = tmp_path / "t.bpez"
    lines = [f"line {i} {'x' * (i % 50)}\n".encode() for i in range(20000)]
    with bpez.open(path, "wb", threads=2, block_size=BS) as f:
        assert f.writable() and not f.readable() and not f.seekable()
        for line in lines:
            f.write(line)
    with bpez.open(path) as f:
        assert f.format is None
        assert f.readline() == lines[0]
        assert f.format == "bpez"
        assert f.read(5) == lines[1][:5]
        assert f.readline() == lines[1][5:]
        buf = bytearray(len(lines[2]))
        assert f.readinto(buf) == len(buf) and bytes(buf) == lines[2]
        assert list(f) == lines[3:]
        assert f.read() == b""
    with bpez.open(path, "r", threads=3) as f:
        assert f.read() == b"".join(lines)


def test_append_mode_adds_a_frame_and_exclusive_mode_refuses(tmp_path):
    path = tmp_path / "a.bpez"
    with bpez.open(path, "wb") as f:
        f.write(b"first\n")
    with bpez.open(path, "ab") as f:
        f.write(b"second\n")
    with bpez.open(path) as f:
        assert f.read() == b"first\nsecond\n"
    with pytest.raises(FileExistsError):
        bpez.open(path, "xb")


def test_open_on_file_objects_leaves_them_open():
    raw = io.BytesIO()
    with bpez.open(raw, "wb") as f:
        f.write(memoryview(b"abc"))
    assert not raw.closed
    raw.seek(0)
    with bpez.open(raw) as f:
        assert f.read() == b"abc"
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    assert not raw.closed
    with pytest.raises(ValueError):
        f.read()
    with pytest.raises(ValueError, match="mode"):
        bpez.open(raw, "r+b")
    with pytest.raises(TypeError):
        bpez.open(42)


def test_file_functions_round_trip_and_refuse_to_overwrite(tmp_path):
    src = tmp_path / "in.bin"
    data = make("mixed", 5 * BS + 3)
    src.write_bytes(data)
    dst = tmp_path / "in.bin.bpez"
    n_in, n_out = bpez.compress_file(src, dst, threads=2, block_size=BS)
    assert (n_in, n_out) == (len(data), dst.stat().st_size)
    assert dst.read_bytes() == bpez.compress(data, block_size=BS)
    with pytest.raises(OutputError, match="already exists"):
        bpez.compress_file(src, dst)
    back = tmp_path / "back.bin"
    assert bpez.decompress_file(dst, back, threads=2) == (n_out, len(data))
    assert back.read_bytes() == data
    assert bpez.decompress_file(dst, None) == (n_out, len(data))
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "in.bin", "in.bin.bpez"]


def test_a_failed_decode_leaves_no_output(tmp_path):
    blob, blocks = multi(4)
    bad = bytearray(blob)
    bad[blocks[3]["end"] - 1] ^= 1
    src = tmp_path / "bad.bpez"
    src.write_bytes(bytes(bad))
    with pytest.raises(bpez.BPEZError, match="block 3"):
        bpez.decompress_file(src, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["bad.bpez"]


def test_streaming_memory_stays_bounded(tmp_path):
    # 16 MiB of zeros is a few KB compressed: nothing may decode it all at once.
    size = 16 << 20
    src = tmp_path / "zeros.bpez"
    with bpez.open(src, "wb", level=1, block_size=BS) as f:
        for _ in range(size // (1 << 20)):
            f.write(bytes(1 << 20))
    assert src.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with bpez.open(src, threads=2) as f:
            assert f.read(1000) == bytes(1000)
            assert f.read(BS) == bytes(BS)
        assert bpez.decompress_file(src, None, threads=2) == (src.stat().st_size, size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
