"""The .ulz frame's own layout, pinned by an independent reader of docs/ulz-format.md, and the errors only
its fields can raise. What every frame codec does (round trips, streaming, threads, files, the frame
outline's errors) is tests/codecs/test_conformance.py."""

import struct

import pytest

from everybit import ulz
from everybit.ulz import ULZError, block, xxh64
from tests.codecs.samples import BS, make

ABC = ulz.compress(b"abc")  # header 16, stored short block 4 + 4 + 3 + 4, end marker 4, checksum 8


def header(flags: int = 2, log: int = 16, content_size: int | None = None) -> bytes:
    """A frame header built from the spec, with a correct header check byte."""
    desc = bytes((1, flags, log)) + (struct.pack("<Q", content_size) if flags & 1 else b"")
    return b"\x89ULZ" + desc + bytes(((xxh64(desc) >> 8) & 0xFF,))


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
        raw = data if stored else block.decompress_block(data, size)
        assert check == xxh64(raw) & 0xFFFFFFFF
        state = xxh64(struct.pack("<Q", xxh64(raw)), state)
        blocks.append((stored, short, size, raw))
    if flags & 2:
        assert struct.unpack_from("<Q", blob, pos)[0] == state
        pos += 8
    return {"version": version, "flags": flags, "log": log, "content_size": content_size,
            "blocks": blocks, "end": pos}  # fmt: skip


def test_golden_frames():
    # The frame bytes must never change silently (the sequence format is pinned in test_block.py).
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
    assert ulz.compress(b"hello", block_size=BS).hex() == "".join(fields)
    assert ulz.compress(b"", block_size=BS, content_checksum=False).hex() == (
        "89554c5a010110000000000000000075" + "00000000"
    )
    comp = ulz.Compressor(block_size=BS)  # no content size: flags 0x02, 8-byte header
    assert (comp.compress(b"hello") + comp.flush())[:7].hex() == "89554c5a010210"


@pytest.mark.parametrize("kind", ["text", "random", "zeros", "mixed"])
def test_layout_matches_the_spec(kind):
    data = make(kind, 3 * BS + 7)
    blob = ulz.compress(data, level=5, block_size=BS)
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
        assert ulz.compress(b"x", block_size=1 << log)[6] == log


def test_content_size_is_written_when_declared():
    comp = ulz.Compressor(block_size=BS, content_size=5)
    blob = comp.compress(b"hello") + comp.flush()
    assert parse(blob)["content_size"] == 5
    dec = ulz.Decompressor()
    assert dec.decompress(blob) == b"hello" and dec.content_size == 5


def fails(blob: bytes, threads: int = 1) -> str:
    with pytest.raises(ULZError) as exc:
        ulz.decompress(blob, threads=threads)
    return str(exc.value)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"PK", "bad magic (not a ULZ frame) at offset 0"),  # at once: ulz has no legacy layout to wait for
        (header() + b"\x05\0\0\0ab", "truncated frame: block 0 data (offset 8)"),
        # a declared length over the block size fails at once, before any allocation or more input
        (header() + struct.pack("<I", 2**30 - 1), "block 0 (offset 8): stored length 1,073,741,823 invalid"),
        (header() + struct.pack("<I", BS + 1), "block 0 (offset 8): stored length 65,537 invalid"),
        (header() + struct.pack("<II", 3 | 3 << 30, 4), "block 0 (offset 8): stored length 3 invalid"),
        (header() + struct.pack("<II", 3 | 1 << 30, 0), "block 0 (offset 8): raw length 0 out of range"),
        (header() + struct.pack("<II", 3 | 1 << 30, BS + 1), "raw length 65,537 out of range"),
        (header(flags=1, content_size=2) + struct.pack("<II", 3 | 3 << 30, 3),
         "block 0 (offset 16): more data than the header's content size 2"),
        (header(flags=1, content_size=9) + bytes(4), "content size mismatch at offset 16: the header says 9"),
        (ABC[:-1] + bytes((ABC[-1] ^ 1,)), f"content checksum mismatch at offset {len(ABC) - 8}"),
    ],
)  # fmt: skip
def test_ulz_field_errors(blob, message):
    assert message in fails(blob)
    assert message in fails(blob, threads=2)


def test_a_frame_without_content_checksum_ends_at_its_marker():
    blob = ulz.compress(make("text", 2 * BS), block_size=BS, content_checksum=False)
    assert parse(blob)["flags"] == 1 and blob.endswith(bytes(4))
    assert ulz.decompress(blob + blob) == make("text", 2 * BS) * 2
