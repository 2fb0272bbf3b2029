"""Small fonts and sheets made in the tests: PSF1, PSF2, BDF and PCF files written from glyph bitmaps.

The PCF writer here is independent of the reader in ``everybit.fontpack.fonts`` only in being written
from the format description (X.Org pcf.h); real PCF files are checked against Pillow in test_real_fonts.
"""

from __future__ import annotations

import struct

import numpy as np

from everybit.fontpack import fonts
from everybit.fontpack.grid import Grid


def glyph_bitmaps(count: int, w: int = 8, h: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Glyph-like bitmaps: random strokes inside a blank 1-pixel border, a few exact repeats, one blank."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        bm = np.zeros((h, w), bool)
        if i == 0:
            out.append(bm)  # a space
            continue
        if i % 7 == 3 and i > 3:
            out.append(out[i - 2].copy())  # a duplicate
            continue
        inner = rng.random((h - 2, w - 2)) < 0.35
        inner[:, rng.integers(0, w - 2)] = True  # a vertical stroke: every glyph has ink
        bm[1 : h - 1, 1 : w - 1] = inner
        out.append(bm)
    return out


def psf1(bitmaps: list[np.ndarray], table: list[list[int]] | None = None) -> bytes:
    """A PSF1 font (8 pixels wide; 256 or 512 glyphs)."""
    height = bitmaps[0].shape[0]
    mode = (0x01 if len(bitmaps) == 512 else 0) | (0x02 if table else 0)
    out = bytearray(b"\x36\x04" + bytes([mode, height]))
    for bm in bitmaps:
        out += np.packbits(bm, axis=1).tobytes()
    for cps in table or []:
        out += (
            b"".join(struct.pack("<H", cp) for cp in cps)
            + b"\xfe\xff"
            + struct.pack("<H", 0x41)
            + b"\xff\xff"
        )
    return bytes(out)


def psf2(bitmaps: list[np.ndarray], table: list[list[int]] | None = None) -> bytes:
    return fonts.write_psf2(bitmaps, table)


def bdf(
    glyphs: list[tuple[int, np.ndarray, int, int, int]],
    name: str = "test-font",
    ascent: int = 12,
    descent: int = 4,
) -> bytes:
    """A BDF font from (encoding, bitmap, xoff, yoff, dwidth) tuples."""
    lines = [
        "STARTFONT 2.1",
        f"FONT {name}",
        f"SIZE {ascent + descent} 75 75",
        f"FONTBOUNDINGBOX 8 {ascent + descent} 0 {-descent}",
        "STARTPROPERTIES 4",
        f"FONT_ASCENT {ascent}",
        f"FONT_DESCENT {descent}",
        'CHARSET_REGISTRY "ISO10646"',
        'CHARSET_ENCODING "1"',
        "ENDPROPERTIES",
        f"CHARS {len(glyphs)}",
    ]
    for enc, bm, xoff, yoff, dwidth in glyphs:
        h, w = bm.shape
        lines += [
            f"STARTCHAR g{enc}",
            f"ENCODING {enc}",
            f"SWIDTH {dwidth * 1000 // 16} 0",
            f"DWIDTH {dwidth} 0",
            f"BBX {w} {h} {xoff} {yoff}",
            "BITMAP",
        ]
        lines += [row.tobytes().hex().upper() for row in np.packbits(bm, axis=1)] if w else []
        lines.append("ENDCHAR")
    lines.append("ENDFONT")
    return ("\n".join(lines) + "\n").encode()


def pcf(
    glyphs: list[tuple[int, np.ndarray, int, int, int]],
    *,
    big_endian: bool = True,
    msb_bits: bool = True,
    pad: int = 2,
    compressed_metrics: bool = False,
    name: str = "pcf-test",
) -> bytes:
    """A PCF font (properties, metrics, bitmaps, encodings) from (encoding, bitmap, xoff, yoff, dwidth).

    ``pad``: log2 of the row padding in bytes; rows use scan unit 1 byte."""
    e = ">" if big_endian else "<"
    fmt_bits = (4 if big_endian else 0) | (8 if msb_bits else 0)

    def table_format(extra: int = 0) -> int:
        return fmt_bits | extra

    # properties
    strings = bytearray()

    def string(s: str) -> int:
        at = len(strings)
        strings.extend(s.encode() + b"\0")
        return at

    props = [
        (string("FONT"), 1, string(name)),
        (string("FONT_ASCENT"), 0, 12),
        (string("FONT_DESCENT"), 0, 4),
        (string("CHARSET_REGISTRY"), 1, string("ISO10646")),
        (string("CHARSET_ENCODING"), 1, string("1")),
    ]
    t_props = struct.pack("<I", table_format()) + struct.pack(e + "i", len(props))
    for k, is_str, v in props:
        t_props += struct.pack(e + "ibi", k, is_str, v)
    t_props += b"\0" * ((4 - (len(props) & 3)) & 3)
    t_props += struct.pack(e + "i", len(strings)) + bytes(strings)
    # metrics
    if compressed_metrics:
        t_metrics = struct.pack("<I", table_format(0x100)) + struct.pack(e + "h", len(glyphs))
        for _, bm, xoff, yoff, dwidth in glyphs:
            h, w = bm.shape
            t_metrics += bytes(v + 0x80 for v in (xoff, xoff + w, dwidth, yoff + h, -yoff))
    else:
        t_metrics = struct.pack("<I", table_format()) + struct.pack(e + "i", len(glyphs))
        for _, bm, xoff, yoff, dwidth in glyphs:
            h, w = bm.shape
            t_metrics += struct.pack(e + "5hH", xoff, xoff + w, dwidth, yoff + h, -yoff, 0)
    # bitmaps
    unit = 1 << pad
    data = bytearray()
    offsets = []
    for _, bm, *_ in glyphs:
        offsets.append(len(data))
        h, w = bm.shape
        stride = (((w + 7) // 8) + unit - 1) // unit * unit
        rows = np.zeros((h, stride * 8), bool)
        rows[:, :w] = bm
        data += np.packbits(rows, axis=1, bitorder="big" if msb_bits else "little").tobytes()
    sizes = [len(data)] * 4
    t_bitmaps = struct.pack("<I", table_format(pad)) + struct.pack(e + "i", len(glyphs))
    t_bitmaps += b"".join(struct.pack(e + "i", o) for o in offsets)
    t_bitmaps += b"".join(struct.pack(e + "i", s) for s in sizes) + bytes(data)
    # encodings: a single row (byte1 0) if every code < 256, else rows 0..max
    codes = {enc: i for i, (enc, *_) in enumerate(glyphs)}
    min1, max1 = min(c >> 8 for c in codes), max(c >> 8 for c in codes)
    t_enc = struct.pack("<I", table_format()) + struct.pack(e + "5h", 0, 255, min1, max1, 0)
    for b1 in range(min1, max1 + 1):
        for b2 in range(256):
            t_enc += struct.pack(e + "H", codes.get((b1 << 8) | b2, 0xFFFF))
    tables = [(1, t_props), (4, t_metrics), (8, t_bitmaps), (32, t_enc)]
    header = b"\x01fcp" + struct.pack("<I", len(tables))
    offset = len(header) + 16 * len(tables)
    toc, body = b"", b""
    for kind, t in tables:
        t += b"\0" * ((4 - len(t) % 4) % 4)
        toc += struct.pack("<4I", kind, struct.unpack("<I", t[:4])[0], len(t), offset + len(body))
        body += t
    return header + toc + body


def proportional_glyphs(count: int = 40, seed: int = 1) -> list[tuple[int, np.ndarray, int, int, int]]:
    """(encoding, bitmap, xoff, yoff, dwidth): boxes of varying size and offset, as in proportional fonts."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        code = 0x20 + i if i < count - 3 else 0x400 + i  # a few above 255
        if i == 0:
            out.append((code, np.zeros((0, 0), bool), 0, 0, 4))
            continue
        w, h = int(rng.integers(1, 8)), int(rng.integers(1, 14))
        bm = rng.random((h, w)) < 0.5
        bm[0, 0] = bm[-1, -1] = True  # the box is the ink's box
        out.append(
            (code, bm, int(rng.integers(-1, 2)), int(rng.integers(-3, 3)), w + int(rng.integers(0, 3)))
        )
    return out


def layout(cells: np.ndarray, grid: Grid, margin: int) -> np.ndarray:
    """Cells (n, h, w) drawn on ``grid`` with ``margin`` pixels right and below as well."""
    return grid.assemble(cells, grid.bottom + margin, grid.right + margin)
