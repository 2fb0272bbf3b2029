"""The .bpez frame's own layout, pinned by an independent reader of docs/bpez-format.md, the errors only its
fields can raise, and what its methods (stored, deflate, BPE + deflate) guarantee. What every frame codec
does (round trips, streaming, threads, files, the frame outline's errors) is
tests/codecs/test_conformance.py."""

import functools
import struct
import zlib

import pytest

from everybit import bpez
from everybit.bpez import core
from tests.codecs.samples import BS, make

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


@pytest.mark.parametrize("kind", ["text", "random", "zeros", "allbytes", "mixed"])
def test_layout_matches_the_spec(kind):
    data = make(kind, 3 * BS + 7)
    blob = bpez.compress(data, level=9, block_size=BS, threads=1)
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


def test_round_trip_at_the_largest_block_size_and_default_threads():
    data = (TEXT * 90)[: (1 << 24) + 1000]
    blob = bpez.compress(data, level=1, block_size=bpez.MAX_BLOCK_SIZE)
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


def test_content_checksum_is_not_optional():
    with pytest.raises(ValueError, match="always end with their content checksum"):
        bpez.Compressor(content_checksum=False)


# -- errors ----------------------------------------------------------------------------------------


def fails(blob: bytes, threads: int = 1, **kw) -> str:
    with pytest.raises(bpez.BPEZError) as exc:
        bpez.decompress(blob, threads=threads, **kw)
    return str(exc.value)


H = header()
BAD = "bad magic (neither a bpez file nor one of the original bpez.py)"
B0 = "block 0 (offset 8):"


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"PK", f"{BAD} at offset 0"),  # waits for 6 bytes: they might start a legacy file
        (H + b"\x05\0\0\0\0\0\5\0", "truncated frame: block 0 header (offset 8)"),
        (H + b"\x05\0\0\0\0\0\5\0\0\0ab", "truncated frame: block 0 data (offset 8)"),
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
        (H + block(b"abc")[:-1] + b"\0", f"{B0} checksum mismatch"),
        (H + block(b"abcdefgh", 1, payload=b"\xff\xff"), f"{B0} corrupt block data"),
        (H + block(b"abc") + block(b"def"), "block 1 (offset 25): a block after the short (last) block"),
        (H + block(b"abc") + end(4, [zlib.crc32(b"abc")]),
         "length mismatch at offset 29: the frame's end says 4 bytes, its blocks hold 3"),
    ],
)  # fmt: skip
def test_bpez_field_errors(blob, message):
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
