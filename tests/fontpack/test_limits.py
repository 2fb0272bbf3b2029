"""Hostile and damaged inputs: bounded time and memory, one-line errors (docs/fontpack-format.md, "Limits").

The crafted files declare the largest sheet the format allows (2^28 pixels) behind a few KB of data: ``info``
must not decode them, and decoding must stay within the documented bound of 4 bytes per declared pixel.
"""

import os
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from everybit.common import varint
from everybit.common.errors import UsageError
from everybit.fontpack import FontpackError, decode
from everybit.fontpack import format as fmt
from everybit.fontpack.grid import Grid
from everybit.fontpack.sheet import MAX_PIXELS, Sheet
from tests.fontpack import fontgen
from tests.helpers import ROOT

BOUND = 4  # bytes per declared pixel that decoding may take (docs/fontpack-format.md)
SIDE = 1 << 14  # 16384 x 16384 = 2^28 pixels
# The command in a child process, then its peak resident memory (KiB) as the last line of stderr. VmHWM, not
# ru_maxrss: that one keeps the parent's size across fork and exec (pytest's, torch and all).
RUNNER = (
    "import sys\n"
    "try:\n"
    "    from everybit.fontpack.cli import main; main()\n"
    "finally:\n"
    "    peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')]\n"
    "    print(peak[0].split()[1], file=sys.stderr)\n"
)
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status")


def run(*args):
    """``fontpack ARGS`` in a child: (exit code, stderr lines without the peak, peak bytes)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVERYBIT_NO_PROGRESS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *errors, peak = proc.stderr.splitlines()
    return proc.returncode, errors, int(peak) * 1024


def header(mode, cell, counts, flags=1, meta=b"", side=SIDE):
    """The fixed fields of a .fpk declaring a side x side sheet cut into cells of ``cell`` pixels."""
    cols = rows = side // cell
    out = bytearray(fmt.MAGIC) + bytes([fmt.VERSION, fmt.MODES.index(mode), flags | (2 if meta else 0), 128])
    out += varint.encode(side, side, cell, cell, 0, 0, 0, 0, cols, rows, *counts)
    if meta:
        out += varint.encode(len(meta)) + meta
    return out


def section(body):
    return varint.encode(len(body)) + body


def crafted_sheet():
    """Mode sheet, 2^28 pixels, 16 KB of noise for a stream."""
    noise = np.random.default_rng(1).bytes(16_000)
    return bytes(header("sheet", SIDE, (0, 0, 1)) + section(b"\x11\x00" + noise) + b"\0" * 4)


def crafted_cells():
    """Mode cells, 2^28 pixels in 2^22 cells of 8x8, every one a distinct glyph filling its cell (a side
    information of 20 MB deflated to 20 KB), and a glyph stream of noise."""
    cells = (SIDE // 8) ** 2
    side = varint.encode(cells) + b"\0" * cells + bytes([0, 0, 7, 7]) * cells
    stream = b"\x10" + np.random.default_rng(2).bytes(4000)
    return bytes(header("cells", 8, (0, 0, cells)) + section(fmt._pack(side)) + section(stream) + b"\0" * 4)


def crafted_meta():
    """A 49-byte file whose metadata declares 2^26 glyphs (the old decoder built a list per glyph: 17 s and
    3.8 GB before running out of memory)."""
    field = varint.encode(1 << 26, 0)
    meta = fmt._pack(varint.encode(fmt.TAG_CODEPOINTS, len(field)) + field)
    return bytes(header("sheet", 1, (SIDE * SIDE, 0, 0), meta=meta) + section(b"\x11\x00") + b"\0" * 4)


@needs_proc
def test_info_reads_the_header_only(tmp_path):
    path = tmp_path / "big.fpk"
    path.write_bytes(crafted_sheet())
    code, errors, peak = run("info", path)
    assert (code, errors) == (0, [])
    assert peak < 200 << 20  # decoding it takes 300 MB before the stream fails
    path.write_bytes(crafted_meta())
    code, errors, peak = run("info", path)
    assert code == 1 and peak < 200 << 20
    assert errors == [
        f"fontpack: error: {path}: metadata codepoints: glyph count = 67108864 is out of range "
        "(at most 2097152) (offset 0)"
    ]


@needs_proc
@pytest.mark.parametrize("make", [crafted_sheet, crafted_cells], ids=["sheet", "cells"])
def test_decoding_a_2_28_pixel_header_stays_within_the_bound(tmp_path, make):
    path = tmp_path / "big.fpk"
    path.write_bytes(make())
    code, errors, peak = run("decompress", path)
    assert code == 1 and len(errors) == 1 and errors[0].startswith(f"fontpack: error: {path}: ")
    assert peak < BOUND * MAX_PIXELS, peak
    assert not (tmp_path / "big.png").exists()


@pytest.mark.parametrize("mode", ["cells", "sheet", "rle"])
def test_decoding_memory_per_pixel(mode):
    """Measured (tracemalloc sees numpy's and the coder's buffers) on a 2048 x 2048 sheet of glyphs."""
    cells = np.array(fontgen.glyph_bitmaps(256 * 256, 8, 8, seed=3))
    grid = Grid(8, 8, 0, 0, 0, 0, 256, 256)
    ink = grid.assemble(cells, 2048, 2048)
    blob = fmt.encode_sheet(Sheet(ink), grid, mode)
    tracemalloc.start()
    try:
        back = decode(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (back.ink == ink).all()
    assert peak < BOUND * ink.size + 2 * len(blob), (peak, ink.size)


def test_the_cell_limit_of_mode_cells():
    over = header("cells", 4, (0, 0, (SIDE // 4) ** 2))  # 2^24 cells
    with pytest.raises(FontpackError, match="16,777,216 cells in mode cells, more than 4,194,304"):
        fmt.read_header(bytes(over))
    ink = np.zeros((4096, 2048), bool)
    ink[::2, ::2] = True
    grid = Grid(1, 1, 0, 0, 0, 0, 2048, 4096)  # 2^23 cells
    with pytest.raises(UsageError, match="mode cells takes at most 4,194,304 cells"):
        fmt.encode_sheet(Sheet(ink), grid, "cells")
    assert decode(fmt.encode_sheet(Sheet(ink), grid)).header.mode != "cells"


def test_metadata_limits():
    with pytest.raises(FontpackError, match="glyph count = 2097153 is out of range"):
        fmt.decode_meta(
            varint.encode(fmt.TAG_CODEPOINTS, 5) + varint.encode(fmt.MAX_GLYPHS + 1, 0), 1 << 28, "t"
        )
    bomb = b"\x01" + fmt._pack(b"\0" * (fmt.MAX_META_BYTES + 1))[1:]
    blob = header("sheet", SIDE, (0, 0, 1), meta=bomb)
    with pytest.raises(FontpackError, match="metadata: more than 33,554,432 bytes, refused"):
        fmt.read_header(bytes(blob))


def _pcf_with_huge_bitmap_size() -> bytes:
    """A PCF whose bitmap table declares 1 GB of bitmap data (one bit flipped in its size field)."""
    data = bytearray(fontgen.pcf(fontgen.proportional_glyphs(20)))
    (count,) = struct.unpack_from("<I", data, 4)
    for k in range(count):
        kind, _, _, offset = struct.unpack_from("<4I", data, 8 + 16 * k)
        if kind == 8:  # bitmaps: format, count, offsets, then the 4 sizes (big-endian here)
            (glyphs,) = struct.unpack_from(">i", data, offset + 4)
            fmt_pad = struct.unpack_from("<I", data, offset)[0] & 3
            data[offset + 8 + 4 * glyphs + 4 * fmt_pad] ^= 0x40
    return bytes(data)


@needs_proc
def test_a_damaged_pcf_is_a_one_line_error(tmp_path):
    good = fontgen.pcf(fontgen.proportional_glyphs(20))
    cases = {
        "flipped.pcf": _pcf_with_huge_bitmap_size(),
        "cut.pcf": good[: len(good) // 2],
        "cut-header.pcf": good[:20],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        code, errors, _ = run("compress", tmp_path / name)
        assert code == 1 and len(errors) == 1, (name, errors)
        assert errors[0].startswith(f"fontpack: error: {tmp_path / name}: "), errors
        assert "internal error" not in errors[0]
    assert not list(tmp_path.glob("*.fpk"))
