"""Bitmap fonts in and out: PSF1/PSF2 (gzipped or not), BDF, PCF and GNU Unifont .hex read here, BDF written.

A ``Font`` is a list of ``Glyph``s (a bitmap plus BDF-style metrics: ``BBX`` offsets from the origin and
the advance) with the font's name, charset, ascent and descent. ``render_sheet`` lays the glyphs out in a
grid of equal cells, baseline-aligned, and returns the sheet, its grid and the ``FontMeta`` that fontpack
stores so that ``export``/``write_bdf`` can rebuild the font from the sheet.

The headers are parsed here (Pillow's PCF/BDF readers keep only 256 glyphs and drop the encodings above them).
Every parse failure is an ``InputError`` naming the file and what is wrong.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from everybit.common.errors import InputError

PSF1_MAGIC = b"\x36\x04"
PSF2_MAGIC = b"\x72\xb5\x4a\x86"
PCF_MAGIC = b"\x01fcp"
GZIP_MAGIC = b"\x1f\x8b"
MAX_FONT_BYTES = 256 << 20  # a gzipped font is not allowed to inflate past this
MAX_GLYPHS = 1 << 21
MAX_GLYPH_SIDE = 1024
FORMATS = ("psf1", "psf2", "bdf", "pcf", "hex")


@dataclass
class Glyph:
    """One glyph: ``bitmap`` (h, w) bool, row 0 at the top; ``xoff``/``yoff``: BBX offsets of its lower-left
    corner from the origin."""

    bitmap: np.ndarray
    codepoint: int | None = None  # in the font's charset (Unicode for PSF tables, ISO10646 and ISO8859-1)
    advance: int = 0  # DWIDTH
    xoff: int = 0
    yoff: int = 0
    aliases: list[int] = field(default_factory=list)  # more codepoints drawn by this glyph (PSF tables)

    @property
    def width(self) -> int:
        return int(self.bitmap.shape[1])

    @property
    def height(self) -> int:
        return int(self.bitmap.shape[0])


@dataclass
class Font:
    name: str
    format: str  # one of FORMATS
    glyphs: list[Glyph]
    ascent: int
    descent: int
    charset: str = ""  # "ISO10646-1", "ISO8859-1", ... ("" when unknown)


@dataclass
class FontMeta:
    """What a .fpk keeps of a font (all optional): enough to name glyphs and rebuild a BDF.

    Cell ``i < len(codepoints)`` holds glyph ``i``; ``origin_x`` is the origin's column inside a cell and
    ``baseline`` the number of cell rows above the baseline.
    """

    name: str = ""
    format: str = ""
    charset: str = ""
    codepoints: list[int | None] = field(default_factory=list)
    advances: list[int] = field(default_factory=list)
    aliases: list[list[int]] = field(default_factory=list)
    origin_x: int = 0
    baseline: int = 0
    ascent: int = 0
    descent: int = 0

    @property
    def glyph_count(self) -> int:
        return len(self.codepoints)

    @property
    def is_unicode(self) -> bool:
        cs = self.charset.upper()
        return self.format in ("psf1", "psf2", "hex") or cs.startswith(("ISO10646", "ISO8859-1"))


# ---------------------------------------------------------------- detection


def sniff(data: bytes, name: str = "") -> str | None:
    """The font format of ``data`` (already gunzipped), or None if it is none of ours."""
    if data.startswith(PSF1_MAGIC):
        return "psf1"
    if data.startswith(PSF2_MAGIC):
        return "psf2"
    if data.startswith(PCF_MAGIC):
        return "pcf"
    if data.lstrip().startswith(b"STARTFONT"):
        return "bdf"
    if name.lower().endswith((".hex", ".hex.gz")) and re.match(rb"\s*[0-9A-Fa-f]{4,6}:[0-9A-Fa-f]+\s", data):
        return "hex"
    return None


def gunzip(data: bytes, label: str) -> bytes:
    """Inflate a gzip member, bounded by MAX_FONT_BYTES (a font that expands further is refused)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_FONT_BYTES + 1)
    except zlib.error as exc:
        raise InputError(f"{label}: damaged gzip data ({exc})") from None
    if len(out) > MAX_FONT_BYTES:
        raise InputError(f"{label}: gzip data inflates past {MAX_FONT_BYTES >> 20} MiB, refused")
    if not inflater.eof:
        raise InputError(f"{label}: truncated gzip data")
    return out


def read_font(data: bytes, label: str = "font", name: str | None = None) -> Font:
    """Parse a font (PSF1, PSF2, BDF, PCF, .hex; gzip allowed). ``name`` defaults to ``label``'s stem."""
    if data.startswith(GZIP_MAGIC):
        data = gunzip(data, label)
    kind = sniff(data, label)
    stem = name if name is not None else _stem(label)
    if kind == "psf1":
        return read_psf1(data, label, stem)
    if kind == "psf2":
        return read_psf2(data, label, stem)
    if kind == "pcf":
        return read_pcf(data, label, stem)
    if kind == "bdf":
        return read_bdf(data, label, stem)
    if kind == "hex":
        return read_hex(data, label, stem)
    raise InputError(f"{label}: not a bitmap font (PSF1, PSF2, BDF, PCF or .hex)")


def load_font(path: str | Path) -> Font:
    path = Path(path)
    return read_font(path.read_bytes(), str(path))


def _stem(label: str) -> str:
    base = Path(label).name
    for suffix in (".gz", ".psfu", ".psf", ".bdf", ".pcf", ".hex"):
        base = base.removesuffix(suffix)
    return base or "font"


# ---------------------------------------------------------------- PSF


def _rows_to_bitmaps(blob: bytes, count: int, height: int, width: int) -> np.ndarray:
    """(count, height, width) bool from PSF glyph data: rows padded to whole bytes, MSB first."""
    row_bytes = (width + 7) // 8
    raw = np.frombuffer(blob, np.uint8, count * height * row_bytes).reshape(count, height, row_bytes)
    return np.unpackbits(raw, axis=2)[:, :, :width].astype(bool)


def _psf_font(name: str, fmt: str, bitmaps: np.ndarray, table: list[list[int]] | None) -> Font:
    count, height, width = bitmaps.shape
    descent = height // 4  # PSF has no baseline; a quarter of the height is what VGA-style fonts use
    glyphs = []
    for i in range(count):
        cps = table[i] if table is not None else []
        glyphs.append(Glyph(bitmaps[i], cps[0] if cps else None, width, 0, -descent, aliases=list(cps[1:])))
    return Font(name, fmt, glyphs, height - descent, descent, "ISO10646-1" if table is not None else "")


def read_psf1(data: bytes, label: str, name: str) -> Font:
    if len(data) < 4:
        raise InputError(f"{label}: truncated PSF1 header")
    mode, height = data[2], data[3]
    count = 512 if mode & 0x01 else 256
    if height == 0:
        raise InputError(f"{label}: PSF1 glyph height is 0")
    end = 4 + count * height
    if len(data) < end:
        raise InputError(f"{label}: PSF1 glyph data truncated ({len(data)} of {end} bytes)")
    bitmaps = _rows_to_bitmaps(data[4:end], count, height, 8)
    table = None
    if mode & 0x06:  # PSF1_MODEHASTAB / PSF1_MODEHASSEQ
        table = _psf1_table(data[end:], count, label)
    return _psf_font(name, "psf1", bitmaps, table)


def _psf1_table(blob: bytes, count: int, label: str) -> list[list[int]]:
    """Per glyph, its single codepoints (sequences after 0xFFFE skipped); uint16 LE, 0xFFFF ends a glyph."""
    if len(blob) % 2:
        blob = blob[:-1]
    values = struct.unpack(f"<{len(blob) // 2}H", blob)
    table: list[list[int]] = []
    current: list[int] = []
    in_seq = False
    for v in values:
        if len(table) == count:
            break
        if v == 0xFFFF:
            table.append(current)
            current, in_seq = [], False
        elif v == 0xFFFE:
            in_seq = True
        elif not in_seq:
            current.append(v)
    if len(table) < count:
        raise InputError(f"{label}: PSF1 unicode table truncated ({len(table)} of {count} glyphs)")
    return table


def read_psf2(data: bytes, label: str, name: str) -> Font:
    if len(data) < 32:
        raise InputError(f"{label}: truncated PSF2 header")
    _, _version, header, flags, count, charsize, height, width = struct.unpack("<4s7I", data[:32])
    if not (0 < width <= MAX_GLYPH_SIDE and 0 < height <= MAX_GLYPH_SIDE and 0 < count <= MAX_GLYPHS):
        raise InputError(f"{label}: bad PSF2 header (glyphs {count}, size {width}x{height})")
    if charsize != height * ((width + 7) // 8) or header < 32:
        raise InputError(f"{label}: bad PSF2 header (glyph size {charsize} bytes for {width}x{height})")
    end = header + count * charsize
    if len(data) < end:
        raise InputError(f"{label}: PSF2 glyph data truncated ({len(data)} of {end} bytes)")
    bitmaps = _rows_to_bitmaps(data[header:end], count, height, width)
    table = _psf2_table(data[end:], count, label) if flags & 1 else None
    return _psf_font(name, "psf2", bitmaps, table)


def _psf2_table(blob: bytes, count: int, label: str) -> list[list[int]]:
    """Per glyph, its single codepoints: UTF-8 up to 0xFE (sequences follow, skipped) or 0xFF (end)."""
    table: list[list[int]] = []
    pos = 0
    for i in range(count):
        end = blob.find(b"\xff", pos)
        if end < 0:
            raise InputError(f"{label}: PSF2 unicode table truncated at glyph {i} of {count}")
        entry = blob[pos:end].split(b"\xfe", 1)[0]
        try:
            table.append([ord(ch) for ch in entry.decode("utf-8")])
        except UnicodeDecodeError:
            raise InputError(f"{label}: PSF2 unicode table: bad UTF-8 for glyph {i}") from None
        pos = end + 1
    return table


def write_psf2(font_bitmaps: list[np.ndarray], table: list[list[int]] | None = None) -> bytes:
    """A PSF2 font of equal-size glyphs (used by tests and the demo); ``table``: codepoints per glyph."""
    height, width = font_bitmaps[0].shape
    row_bytes = (width + 7) // 8
    out = bytearray(
        struct.pack(
            "<4s7I",
            PSF2_MAGIC,
            0,
            32,
            1 if table else 0,
            len(font_bitmaps),
            height * row_bytes,
            height,
            width,
        )
    )
    for bm in font_bitmaps:
        out += np.packbits(np.asarray(bm, bool), axis=1).tobytes()
    for cps in table or []:
        out += "".join(map(chr, cps)).encode("utf-8") + b"\xff"
    return bytes(out)


# ---------------------------------------------------------------- BDF


def _ints(line: bytes, n: int, label: str, what: str) -> list[int]:
    parts = line.split()[1:]
    try:
        values = [int(p) for p in parts[:n]]
    except ValueError:
        values = []
    if len(values) != n:
        raise InputError(f"{label}: BDF {what}: expected {n} integers in {line[:60]!r}")
    return values


def read_bdf(data: bytes, label: str, name: str) -> Font:
    lines = data.splitlines()
    props: dict[str, str] = {}
    font_name = ""
    fbb = None
    glyphs: list[Glyph] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i].strip()
        i += 1
        key = line.split(b" ", 1)[0]
        if key == b"FONT" and not font_name:
            font_name = line[5:].decode("latin-1").strip()
        elif key == b"FONTBOUNDINGBOX":
            fbb = _ints(line, 4, label, "FONTBOUNDINGBOX")
        elif key == b"STARTPROPERTIES":
            while i < n and not lines[i].startswith(b"ENDPROPERTIES"):
                k, _, v = lines[i].strip().partition(b" ")
                props[k.decode("latin-1")] = v.strip().strip(b'"').decode("latin-1")
                i += 1
        elif key == b"STARTCHAR":
            glyph, i = _bdf_char(lines, i, label, fbb)
            glyphs.append(glyph)
            if len(glyphs) > MAX_GLYPHS:
                raise InputError(f"{label}: more than {MAX_GLYPHS} glyphs")
        elif key == b"ENDFONT":
            break
    if not glyphs:
        raise InputError(f"{label}: BDF font without glyphs")
    ascent, descent = _metrics_from(props, glyphs)
    charset = _charset(props)
    return Font(font_name or name, "bdf", glyphs, ascent, descent, charset)


def _bdf_char(lines: list[bytes], i: int, label: str, fbb: list[int] | None) -> tuple[Glyph, int]:
    encoding: int | None = None
    advance = None
    bbx = fbb
    n = len(lines)
    while i < n:
        line = lines[i].strip()
        i += 1
        key = line.split(b" ", 1)[0]
        if key == b"ENCODING":
            values = line.split()[1:]
            try:
                code = int(values[0])
                if code < 0 and len(values) > 1:
                    code = int(values[1])  # "ENCODING -1 N": N in a non-standard encoding
            except (IndexError, ValueError):
                raise InputError(f"{label}: BDF bad ENCODING line {line[:60]!r}") from None
            encoding = code if code >= 0 else None
        elif key == b"DWIDTH":
            advance = _ints(line, 1, label, "DWIDTH")[0]
        elif key == b"BBX":
            bbx = _ints(line, 4, label, "BBX")
        elif key == b"BITMAP":
            if bbx is None:
                raise InputError(f"{label}: BDF glyph without BBX before BITMAP")
            w, h, xoff, yoff = bbx
            if not (0 <= w <= MAX_GLYPH_SIDE and 0 <= h <= MAX_GLYPH_SIDE):
                raise InputError(f"{label}: BDF glyph size {w}x{h} out of range")
            rows = lines[i : i + h]
            row_bytes = (w + 7) // 8
            try:
                raw = bytes.fromhex(
                    b"".join(r.strip()[: 2 * row_bytes].ljust(2 * row_bytes, b"0") for r in rows).decode()
                )
            except ValueError:
                raise InputError(f"{label}: BDF bad hex in BITMAP near line {i + 1}") from None
            if len(rows) < h:
                raise InputError(f"{label}: BDF BITMAP truncated near line {i + 1}")
            bitmap = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(h, row_bytes), axis=1)[:, :w]
            i += h
            while i < n and not lines[i].strip().startswith(b"ENDCHAR"):
                i += 1
            i += 1
            return Glyph(bitmap.astype(bool), encoding, w if advance is None else advance, xoff, yoff), i
    raise InputError(f"{label}: BDF glyph without BITMAP/ENDCHAR at the end of the file")


def _metrics_from(props: dict[str, str], glyphs: list[Glyph]) -> tuple[int, int]:
    try:
        return int(props["FONT_ASCENT"]), int(props["FONT_DESCENT"])
    except (KeyError, ValueError):
        top = max((g.yoff + g.height for g in glyphs), default=0)
        bottom = min((g.yoff for g in glyphs), default=0)
        return max(top, 0), max(-bottom, 0)


def _charset(props: dict[str, str]) -> str:
    reg, enc = props.get("CHARSET_REGISTRY", ""), props.get("CHARSET_ENCODING", "")
    return f"{reg}-{enc}" if reg and enc else reg


def _ascii(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch != '"' else "_" for ch in text)


def write_bdf(font: Font) -> bytes:
    """A BDF 2.1 font; each glyph's BBX is cropped to its ink (an empty glyph gets a 0x0 box)."""
    glyphs = [g for g in font.glyphs if g.codepoint is not None]
    size = max(font.ascent + font.descent, 1)
    boxes = []
    for g in glyphs:
        ys, xs = np.nonzero(g.bitmap)
        if len(xs) == 0:
            boxes.append((0, 0, 0, 0, None))
            continue
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        w, h = x1 - x0, y1 - y0
        boxes.append((w, h, g.xoff + x0, g.yoff + (g.height - y1), g.bitmap[y0:y1, x0:x1]))
    inked = [b for b in boxes if b[4] is not None] or [(1, 1, 0, 0, None)]
    fx0 = min(b[2] for b in inked)
    fy0 = min(b[3] for b in inked)
    fx1 = max(b[2] + b[0] for b in inked)
    fy1 = max(b[3] + b[1] for b in inked)
    registry, _, encoding = (font.charset or "FontSpecific-0").partition("-")
    name = _ascii(font.name) or "fontpack"
    out = io.StringIO()
    w = out.write
    w("STARTFONT 2.1\n")
    w(f"FONT {name}\n")
    w(f"SIZE {size} 75 75\n")
    w(f"FONTBOUNDINGBOX {fx1 - fx0} {fy1 - fy0} {fx0} {fy0}\n")
    w("COMMENT written by everybit fontpack\n")
    w("STARTPROPERTIES 5\n")
    w(f"FONT_ASCENT {font.ascent}\nFONT_DESCENT {font.descent}\nPIXEL_SIZE {size}\n")
    w(f'CHARSET_REGISTRY "{_ascii(registry)}"\nCHARSET_ENCODING "{_ascii(encoding or "0")}"\n')
    w("ENDPROPERTIES\n")
    w(f"CHARS {len(glyphs)}\n")
    for g, (bw, bh, bx, by, crop) in zip(glyphs, boxes, strict=True):
        cp = g.codepoint
        w(f"STARTCHAR {f'uni{cp:04X}' if font.charset.upper().startswith('ISO10646') else f'char{cp}'}\n")
        w(f"ENCODING {cp}\n")
        w(f"SWIDTH {round(g.advance * 1000 / size)} 0\n")
        w(f"DWIDTH {g.advance} 0\n")
        w(f"BBX {bw} {bh} {bx} {by}\n")
        w("BITMAP\n")
        if crop is not None:
            for row in np.packbits(crop, axis=1):
                w(row.tobytes().hex().upper() + "\n")
        w("ENDCHAR\n")
    w("ENDFONT\n")
    return out.getvalue().encode("ascii")


# ---------------------------------------------------------------- PCF

PCF_PROPERTIES, PCF_METRICS, PCF_BITMAPS, PCF_BDF_ENCODINGS = 1, 4, 8, 32
PCF_COMPRESSED_METRICS = 0x100


class _Reader:
    def __init__(self, data: bytes, pos: int, label: str) -> None:
        self.data, self.pos, self.label = data, pos, label
        fmt = self.raw("<I")
        self.format = fmt
        self.big = bool(fmt & 4)

    def raw(self, code: str) -> int:
        size = struct.calcsize(code)
        if self.pos + size > len(self.data):
            raise InputError(f"{self.label}: PCF table truncated at offset {self.pos}")
        (value,) = struct.unpack_from(code, self.data, self.pos)
        self.pos += size
        return value

    def get(self, code: str) -> int:
        return self.raw((">" if self.big else "<") + code)

    def array(self, code: str, count: int) -> np.ndarray:
        dtype = np.dtype(code).newbyteorder(">" if self.big else "<")
        end = self.pos + count * dtype.itemsize
        if count < 0 or end > len(self.data):
            raise InputError(f"{self.label}: PCF table truncated at offset {self.pos}")
        out = np.frombuffer(self.data, dtype, count, self.pos).astype(np.int64)
        self.pos = end
        return out


def read_pcf(data: bytes, label: str, name: str) -> Font:
    if len(data) < 8:
        raise InputError(f"{label}: truncated PCF header")
    (count,) = struct.unpack_from("<I", data, 4)
    if count > 64 or 8 + 16 * count > len(data):
        raise InputError(f"{label}: bad PCF table of contents ({count} tables)")
    tables = {}
    for k in range(count):
        kind, _fmt, _size, offset = struct.unpack_from("<4I", data, 8 + 16 * k)
        if offset >= len(data):
            raise InputError(f"{label}: PCF table {kind} starts past the end of the file")
        tables[kind] = offset
    for need in (PCF_METRICS, PCF_BITMAPS, PCF_BDF_ENCODINGS):
        if need not in tables:
            raise InputError(f"{label}: PCF font without table {need}")
    props = _pcf_properties(data, tables[PCF_PROPERTIES], label) if PCF_PROPERTIES in tables else {}
    metrics = _pcf_metrics(data, tables[PCF_METRICS], label)
    bitmaps = _pcf_bitmaps(data, tables[PCF_BITMAPS], metrics, label)
    codes = _pcf_encodings(data, tables[PCF_BDF_ENCODINGS], len(metrics), label)
    glyphs = []
    for index, (lsb, rsb, advance, ascent, descent) in enumerate(metrics):
        cps = codes.get(index, [])
        glyphs.append(Glyph(bitmaps[index], cps[0] if cps else None, advance, lsb, -descent, aliases=cps[1:]))
        del rsb, ascent
    ascent, descent = _metrics_from(props, glyphs)
    return Font(props.get("FONT", "") or name, "pcf", glyphs, ascent, descent, _charset(props))


def _pcf_properties(data: bytes, offset: int, label: str) -> dict[str, str]:
    r = _Reader(data, offset, label)
    n = r.get("i")
    if not 0 <= n < 4096:
        raise InputError(f"{label}: bad PCF properties count {n}")
    entries = [(r.get("i"), r.get("b"), r.get("i")) for _ in range(n)]
    r.pos += (4 - (n & 3)) & 3
    size = r.get("i")
    strings = data[r.pos : r.pos + max(size, 0)]

    def text(at: int) -> str:
        end = strings.find(b"\0", at)
        return strings[at : end if end >= 0 else len(strings)].decode("latin-1")

    return {text(k): (text(v) if is_str else str(v)) for k, is_str, v in entries}


def _pcf_metrics(data: bytes, offset: int, label: str) -> list[tuple[int, int, int, int, int]]:
    r = _Reader(data, offset, label)
    if r.format & PCF_COMPRESSED_METRICS:
        n = r.get("H")
        raw = r.array("u1", 5 * n).reshape(n, 5) - 0x80
    else:
        n = r.get("I")
        if n > MAX_GLYPHS:
            raise InputError(f"{label}: PCF with {n} glyphs, more than {MAX_GLYPHS}")
        raw = r.array("i2", 6 * n).reshape(n, 6)[:, :5]
    out = []
    for lsb, rsb, advance, ascent, descent in raw.tolist():
        if not (0 <= rsb - lsb <= MAX_GLYPH_SIDE and 0 <= ascent + descent <= MAX_GLYPH_SIDE):
            raise InputError(f"{label}: PCF glyph box out of range ({rsb - lsb}x{ascent + descent})")
        out.append((lsb, rsb, advance, ascent, descent))
    return out


def _pcf_bitmaps(data: bytes, offset: int, metrics: list, label: str) -> list[np.ndarray]:
    r = _Reader(data, offset, label)
    n = r.get("I")
    if n != len(metrics):
        raise InputError(f"{label}: PCF has {n} bitmaps for {len(metrics)} glyph metrics")
    offsets = r.array("i4", n)
    sizes = r.array("i4", 4)
    pad = 1 << (r.format & 3)
    unit = 1 << ((r.format >> 4) & 3)
    size = int(sizes[r.format & 3])
    if not 0 < size <= len(data) - r.pos:
        raise InputError(f"{label}: PCF bitmap data truncated ({size:,} bytes declared at offset {r.pos})")
    blob = np.frombuffer(data, np.uint8, size, r.pos)
    msb_bits = bool(r.format & 8)
    if msb_bits != r.big and unit > 1:  # bytes of each scan unit stored in the other order
        blob = blob[: len(blob) - len(blob) % unit].reshape(-1, unit)[:, ::-1].ravel()
    out = []
    for k, (lsb, rsb, _adv, ascent, descent) in enumerate(metrics):
        w, h = rsb - lsb, ascent + descent
        stride = (((w + 7) // 8) + pad - 1) // pad * pad
        start = int(offsets[k])
        rows = blob[start : start + stride * h] if start >= 0 else blob[:0]
        if len(rows) != stride * h:
            raise InputError(f"{label}: PCF glyph {k} bitmap past the end of the data")
        bits = np.unpackbits(rows.reshape(h, stride), axis=1, bitorder="big" if msb_bits else "little")
        out.append(bits[:, :w].astype(bool))
    return out


def _pcf_encodings(data: bytes, offset: int, nglyphs: int, label: str) -> dict[int, list[int]]:
    r = _Reader(data, offset, label)
    min2, max2, min1, max1, _default = (r.get("h") for _ in range(5))
    if not (0 <= min2 <= max2 <= 255 and 0 <= min1 <= max1 <= 255):
        raise InputError(f"{label}: bad PCF encoding ranges")
    cols = max2 - min2 + 1
    table = r.array("u2", cols * (max1 - min1 + 1))
    codes: dict[int, list[int]] = {}
    for k in np.nonzero(table != 0xFFFF)[0].tolist():
        index = int(table[k])
        if index < nglyphs:
            code = ((min1 + k // cols) << 8) | (min2 + k % cols)
            codes.setdefault(index, []).append(code)
    return codes


# ---------------------------------------------------------------- Unifont .hex


def read_hex(data: bytes, label: str, name: str) -> Font:
    glyphs = []
    for number, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        code, _, bits = line.partition(b":")
        try:
            cp, raw = int(code, 16), bytes.fromhex(bits.decode())
        except ValueError:
            raise InputError(f"{label}: line {number}: not CODE:HEXBITS") from None
        if len(raw) % 16 or not raw:
            raise InputError(f"{label}: line {number}: {len(raw)} bytes is not 16 rows of whole bytes")
        row_bytes = len(raw) // 16
        bm = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(16, row_bytes), axis=1).astype(bool)
        glyphs.append(Glyph(bm, cp, 8 * row_bytes, 0, -2))
    if not glyphs:
        raise InputError(f"{label}: .hex font without glyphs")
    return Font(name, "hex", glyphs, 14, 2, "ISO10646-1")


# ---------------------------------------------------------------- Pillow's default font


def pillow_default_font() -> Font:
    """Pillow's built-in bitmap font (latin-1, 6x11 cells): offline glyphs for demos and tests."""
    from PIL import ImageFont

    pil = ImageFont.load_default_imagefont()
    glyphs = []
    for cp in range(256):
        mask = pil.getmask(chr(cp))
        if not mask.size[0]:
            continue
        w, h = mask.size
        bm = np.asarray(mask, dtype=np.uint8).reshape(h, w) > 127
        glyphs.append(Glyph(bm, cp, w, 0, -2))
    return Font("Pillow default", "bdf", glyphs, 9, 2, "ISO8859-1")


# ---------------------------------------------------------------- sheets


def default_cols(count: int) -> int:
    return 16 if count <= 1024 else 64


def render_sheet(
    font: Font, cols: int | None = None
) -> tuple[np.ndarray, tuple[int, int, int, int], FontMeta]:
    """The font as one bool sheet (ink = True): glyph i in cell i, row-major, ``cols`` cells per row.

    Returns (sheet, (cell_w, cell_h, cols, rows), meta). Every glyph sits at its origin: the cell is the union
    of all glyph boxes and advances around one common origin, so nothing is clipped.
    """
    glyphs = font.glyphs
    if not glyphs:
        raise InputError(f"{font.name}: font without glyphs")
    cols = cols or default_cols(len(glyphs))
    left = min(0, *(g.xoff for g in glyphs))
    right = max(1, *(max(g.xoff + g.width, g.advance) for g in glyphs))
    top = max(font.ascent, *(g.yoff + g.height for g in glyphs))
    bottom = min(-font.descent, *(g.yoff for g in glyphs))
    cw, ch = right - left, max(top - bottom, 1)
    rows = math.ceil(len(glyphs) / cols)
    if cw * cols * ch * rows > 1 << 30:
        raise InputError(f"{font.name}: a sheet of {len(glyphs)} glyphs of {cw}x{ch} is too large")
    sheet = np.zeros((rows * ch, cols * cw), dtype=bool)
    origin_x, baseline = -left, top
    for i, g in enumerate(glyphs):
        if g.width == 0 or g.height == 0:
            continue
        r, c = divmod(i, cols)
        y = r * ch + baseline - g.yoff - g.height
        x = c * cw + origin_x + g.xoff
        sheet[y : y + g.height, x : x + g.width] = g.bitmap
    meta = FontMeta(
        name=font.name,
        format=font.format,
        charset=font.charset,
        codepoints=[g.codepoint for g in glyphs],
        advances=[g.advance for g in glyphs],
        aliases=[list(g.aliases) for g in glyphs],
        origin_x=origin_x,
        baseline=baseline,
        ascent=font.ascent,
        descent=font.descent,
    )
    return sheet, (cw, ch, cols, rows), meta


def font_from_cells(cells: list[np.ndarray], meta: FontMeta | None, name: str = "fontpack") -> Font:
    """Rebuild a Font from decoded cells (all the same size). Without metadata every cell is a glyph whose
    encoding is its index, origin at the cell's lower-left corner."""
    if not cells:
        raise InputError("no cells to make a font of")
    ch, cw = cells[0].shape
    if meta is None or not meta.codepoints:
        meta = FontMeta(
            name=name,
            format="image",
            charset="FontSpecific-0",
            codepoints=list(range(len(cells))),
            advances=[cw] * len(cells),
            aliases=[[] for _ in cells],
            origin_x=0,
            baseline=ch,
            ascent=ch,
            descent=0,
        )
    glyphs = []
    used: set[int] = set()
    for i, cp in enumerate(meta.codepoints):
        if i >= len(cells):
            break
        bm = cells[i]
        advance = meta.advances[i] if i < len(meta.advances) else cw
        aliases = meta.aliases[i] if i < len(meta.aliases) else []
        for code in ([cp] if cp is not None else []) + list(aliases):
            if code in used:
                continue
            used.add(code)
            glyphs.append(Glyph(bm, code, advance, -meta.origin_x, meta.baseline - ch))
    return Font(meta.name or name, meta.format, glyphs, meta.ascent, meta.descent, meta.charset)
