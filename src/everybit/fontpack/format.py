"""The .fpk container: header, optional font metadata, one of three payloads, CRC-32 of the bitmap.

Layout and field meanings: docs/fontpack-format.md. In short::

    "FPK" 0x1A, version 1, mode, flags, threshold, varints: width height | cell_w cell_h x0 y0 gap_x gap_y
    cols rows | blank duplicates distinct, [metadata], payload, CRC-32 (LE) of the ink bitmap

Modes: ``rle`` (the original font_compress: 8 pixels per byte, runs of zero bytes as 0x00 + count),
``cells`` (blank cells elided, identical glyphs stored once, each distinct glyph cropped to its ink box,
all of them context-coded in one stream by ``coder.encode_bitmaps``; ink outside the cells coded apart),
``sheet`` (the whole bitmap context-coded). ``compress(mode="best")`` writes all three and keeps the smallest.

Every decoding failure raises ``FontpackError`` (a ``CorruptDataError``) saying what and at which offset.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from everybit.common import varint
from everybit.common.errors import InputError, UsageError
from everybit.fontpack import coder
from everybit.fontpack.coder import FontpackError
from everybit.fontpack.fonts import MAX_GLYPHS, FontMeta
from everybit.fontpack.grid import Detection, Grid, detect_grid_array, manual_grid, parse_grid
from everybit.fontpack.sheet import MAX_PIXELS, Sheet, load_sheet, to_image

MAGIC = b"FPK\x1a"
VERSION = 1
MODES = ("rle", "cells", "sheet")  # stored as 0, 1, 2
CHOICES = ("best", *MODES)
FLAG_INK_DARK, FLAG_META, FLAG_RESIDUAL = 1, 2, 4
# Limits that bound what decoding a hostile file can cost (docs/fontpack-format.md, "Limits"):
MAX_CELLS = 1 << 22  # cells of a mode-1 file; a font of fonts.MAX_GLYPHS glyphs needs at most 3 x 2^20
MAX_META_BYTES = 1 << 25  # the inflated metadata block
MAX_CODES = 1 << 22  # codepoints in the metadata
_VALUE_BYTES = 4  # varints of the side information hold values < 2^28: 4 bytes each
_HEAD_BYTES = 8 + 14 * varint.MAX_BYTES  # magic to cell counts, and the metadata length: at most this
SUFFIX = ".fpk"


# ---------------------------------------------------------------- reading


class _Cursor:
    """Reads varints and byte strings from ``data``, raising FontpackError with the offset on truncation."""

    def __init__(self, data: bytes | memoryview, label: str, base: int = 0) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.label = label
        self.base = base  # offset of data[0] in the file, for messages

    def fail(self, what: str) -> FontpackError:
        return FontpackError(f"{self.label}: {what} (offset {self.base + self.pos})")

    def u8(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise self.fail(f"truncated: {what} missing")
        self.pos += 1
        return int(self.data[self.pos - 1])

    def _bad_varint(self, exc: varint.VarintError, what: str) -> FontpackError:
        self.pos = exc.offset
        return self.fail(f"truncated: {what} missing" if exc.truncated else f"{what}: varint too long")

    def uvarint(self, what: str, limit: int = 1 << 40) -> int:
        try:
            value, end = varint.decode(self.data, self.pos)
        except varint.VarintError as exc:
            raise self._bad_varint(exc, what) from None
        if value > limit:
            raise self.fail(f"{what} = {value} is out of range (at most {limit})")
        self.pos = end
        return value

    def uvarints(self, count: int, what: str, limit: int = 1 << 40) -> np.ndarray:
        """``count`` varints at once (decoded with numpy: a file may hold millions), each at most ``limit``;
        int32 when ``limit`` < 2^28 (4-byte varints), else int64."""
        small = limit < 1 << 28
        dtype, max_bytes = (np.int32, 4) if small else (np.int64, varint.MAX_BYTES)
        try:
            values, end = varint.decode_array(self.data, count, self.pos, max_bytes, dtype)
        except varint.VarintError as exc:
            raise self._bad_varint(exc, what) from None
        over = np.flatnonzero(values > limit)
        if len(over):  # the offset given is the first varint's
            raise self.fail(f"{what} {over[0]} = {values[over[0]]} is out of range (at most {limit})")
        self.pos = end
        return values

    def take(self, n: int, what: str) -> memoryview:
        if n > len(self.data) - self.pos:
            raise self.fail(f"truncated: {what} needs {n} bytes, {len(self.data) - self.pos} left")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def section(self, what: str) -> memoryview:
        n = self.uvarint(f"{what} length", len(self.data))
        return self.take(n, what)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _pack(raw: bytes) -> bytes:
    """0x00 + raw, or 0x01 + raw deflate of it when that is smaller."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    deflated = comp.compress(raw) + comp.flush()
    return b"\x01" + deflated if len(deflated) < len(raw) else b"\x00" + raw


def _unpack(block: memoryview, cur: _Cursor, what: str, limit: int) -> bytes:
    """The content of a packed block, refused when it is (or inflates to) more than ``limit`` bytes."""
    if len(block) == 0:
        raise cur.fail(f"{what}: empty block")
    kind, body = block[0], bytes(block[1:])
    if kind not in (0, 1):
        raise cur.fail(f"{what}: unknown packing {kind}")
    if kind == 0:
        raw = body
    else:
        inflater = zlib.decompressobj(-15)
        try:
            raw = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise cur.fail(f"{what}: damaged deflate data ({exc})") from None
        if len(raw) <= limit and (not inflater.eof or inflater.unused_data):
            raise cur.fail(f"{what}: deflate data truncated or followed by garbage")
    if len(raw) > limit:
        raise cur.fail(f"{what}: more than {limit:,} bytes, refused")
    return raw


# ---------------------------------------------------------------- metadata

TAG_NAME, TAG_FORMAT, TAG_CHARSET, TAG_CODEPOINTS, TAG_LAYOUT, TAG_ADVANCES = range(1, 7)


def code_map(meta: FontMeta) -> list[tuple[int, int]]:
    """(codepoint, glyph) pairs sorted by codepoint: every glyph's codepoint and aliases, the first glyph
    (and its own codepoint before its aliases) winning a codepoint claimed twice."""
    seen: dict[int, int] = {}
    for glyph, cp in enumerate(meta.codepoints):
        extra = meta.aliases[glyph] if glyph < len(meta.aliases) else []
        for code in ([cp] if cp is not None else []) + list(extra):
            seen.setdefault(code, glyph)
    return sorted(seen.items())


def canonical(meta: FontMeta) -> FontMeta:
    """``meta`` as a .fpk gives it back: each glyph's codepoints ascending, the smallest one its codepoint,
    the others its aliases; a codepoint claimed by two glyphs stays with the first."""
    from dataclasses import replace

    codes: list[list[int]] = [[] for _ in meta.codepoints]
    for code, glyph in code_map(meta):
        codes[glyph].append(code)
    return replace(meta, codepoints=[c[0] if c else None for c in codes], aliases=[c[1:] for c in codes])


def encode_meta(meta: FontMeta) -> bytes:
    """The metadata block (before packing): fields of tag, length, value; see docs/fontpack-format.md."""
    out = bytearray()

    def put(tag: int, value: bytes) -> None:
        varint.write(out, tag)
        varint.write(out, len(value))
        out.extend(value)

    for tag, text in ((TAG_NAME, meta.name), (TAG_FORMAT, meta.format), (TAG_CHARSET, meta.charset)):
        if text:
            put(tag, text.encode("utf-8"))
    pairs = code_map(meta)
    if len(pairs) > MAX_CODES:
        raise InputError(f"{meta.name or 'font'}: {len(pairs):,} codepoints, more than {MAX_CODES:,}")
    body = bytearray()
    varint.write(body, len(meta.codepoints))
    varint.write(body, len(pairs))
    prev = -1
    for code, _ in pairs:
        varint.write(body, code - prev - 1)
        prev = code
    prev = -1
    for _, glyph in pairs:
        varint.write(body, varint.zigzag(glyph - prev - 1))
        prev = glyph
    put(TAG_CODEPOINTS, bytes(body))
    body = bytearray()
    for v in (meta.origin_x, meta.baseline, meta.ascent, meta.descent):
        varint.write(body, varint.zigzag(v))
    put(TAG_LAYOUT, bytes(body))
    if meta.advances:
        default = max(set(meta.advances), key=meta.advances.count)
        body = bytearray()
        varint.write(body, varint.zigzag(default))
        for adv in meta.advances:
            varint.write(body, varint.zigzag(adv - default))
        put(TAG_ADVANCES, bytes(body))
    return bytes(out)


def decode_meta(raw: bytes, cells: int, label: str) -> FontMeta:
    """The FontMeta of a metadata block (inflated) of a sheet of ``cells`` cells."""
    cur = _Cursor(raw, f"{label}: metadata")
    meta = FontMeta()
    n = 0
    advances: bytes | None = None
    while cur.left:
        tag = cur.uvarint("field tag")
        value = bytes(cur.section(f"field {tag}"))
        if tag in (TAG_NAME, TAG_FORMAT, TAG_CHARSET):
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise cur.fail(f"field {tag} is not UTF-8") from None
            setattr(meta, {TAG_NAME: "name", TAG_FORMAT: "format", TAG_CHARSET: "charset"}[tag], text)
        elif tag == TAG_CODEPOINTS:
            n = _decode_codepoints(meta, _Cursor(value, f"{label}: metadata codepoints"), cells)
        elif tag == TAG_LAYOUT:
            sub = _Cursor(value, f"{label}: metadata layout")
            meta.origin_x, meta.baseline, meta.ascent, meta.descent = (
                varint.unzigzag(sub.uvarint(name)) for name in ("origin", "baseline", "ascent", "descent")
            )
        elif tag == TAG_ADVANCES:
            advances = value
        # other tags: written by a later version, skipped
    if advances is not None:
        sub = _Cursor(advances, f"{label}: metadata advances")
        default = varint.unzigzag(sub.uvarint("default advance"))
        meta.advances = (default + varint.unzigzag(sub.uvarints(n, "advance"))).tolist()
    return meta


def _decode_codepoints(meta: FontMeta, sub: _Cursor, cells: int) -> int:
    """Fills ``meta.codepoints`` and ``meta.aliases`` from the codepoint map; returns the glyph count."""
    n = sub.uvarint("glyph count", min(cells, MAX_GLYPHS))
    k = sub.uvarint("codepoint count", min(sub.left, MAX_CODES))
    codes = np.cumsum(sub.uvarints(k, "codepoint", 1 << 32) + 1) - 1
    if k and codes[-1] >= 1 << 32:
        raise sub.fail(f"codepoint {codes[-1]} out of range")
    glyphs = np.cumsum(varint.unzigzag(sub.uvarints(k, "glyph of a codepoint", 2 * n + 2)) + 1) - 1
    bad = np.flatnonzero((glyphs < 0) | (glyphs >= n))
    if len(bad):
        raise sub.fail(f"codepoint U+{codes[bad[0]]:04X} maps to glyph {glyphs[bad[0]]} of {n}")
    if sub.left:
        raise sub.fail(f"{sub.left} bytes of garbage after the codepoints")
    per_glyph: list[list[int]] = [[] for _ in range(n)]
    for code, glyph in zip(codes.tolist(), glyphs.tolist(), strict=True):  # ascending: smallest first
        per_glyph[glyph].append(code)
    meta.codepoints = [c[0] if c else None for c in per_glyph]
    meta.aliases = [c[1:] for c in per_glyph]
    return n


# ---------------------------------------------------------------- the seed's pack + RLE


def rle_encode(packed: np.ndarray) -> bytes:
    """The original font_compress RLE: non-zero bytes as they are, a run of zero bytes as 0x00 + count
    (1..255; longer runs are split)."""
    data = np.asarray(packed, np.uint8)
    zero = data == 0
    edges = np.diff(np.concatenate([[False], zero, [False]]).astype(np.int8))
    starts = np.nonzero(edges == 1)[0]
    lengths = np.nonzero(edges == -1)[0] - starts
    chunks = -(-lengths // 255)
    chunk_starts = np.repeat(starts, chunks) + 255 * (
        np.arange(chunks.sum()) - np.repeat(np.cumsum(chunks) - chunks, chunks)
    )
    chunk_len = np.minimum(255, np.repeat(starts + lengths, chunks) - chunk_starts)
    literal_pos = np.nonzero(~zero)[0]
    keys = np.concatenate([literal_pos, chunk_starts])
    order = np.argsort(keys, kind="stable")
    is_chunk = order >= len(literal_pos)
    out_len = np.where(is_chunk, 2, 1)
    out = np.zeros(int(out_len.sum()), np.uint8)
    pos = np.cumsum(out_len) - out_len
    out[pos[~is_chunk]] = data[literal_pos[order[~is_chunk]]]
    out[pos[is_chunk] + 1] = chunk_len[order[is_chunk] - len(literal_pos)]
    return out.tobytes()


def rle_decode(stream: bytes | memoryview, expected: int, cur: _Cursor) -> np.ndarray:
    data = np.frombuffer(stream, np.uint8)
    marker = np.nonzero(data == 0)[0]
    if len(marker) and marker[-1] == len(data) - 1:
        raise cur.fail("rle stream ends with a 0x00 marker without its count")
    counts = data[marker + 1]  # never 0x00, so a count is never taken for a marker
    lengths = np.ones(len(data), np.int64)
    lengths[marker] = counts
    lengths[marker + 1] = 0
    total = int(lengths.sum())
    if total != expected:
        raise cur.fail(f"rle stream decodes to {total:,} bytes, the sheet needs {expected:,}")
    return np.repeat(data, lengths)


# ---------------------------------------------------------------- header


@dataclass
class Header:
    version: int
    mode: str
    ink_dark: bool
    threshold: int
    width: int
    height: int
    grid: Grid
    blank: int
    duplicates: int
    distinct: int
    meta: FontMeta | None
    residual: bool
    payload_offset: int
    sizes: dict[str, int] = field(default_factory=dict)


def _write_header(
    mode: str, flags: int, sheet: Sheet, grid: Grid, counts: tuple[int, int, int], meta_block: bytes
) -> bytearray:
    out = bytearray(MAGIC)
    out += bytes([VERSION, MODES.index(mode), flags, sheet.threshold])
    for v in (sheet.width, sheet.height, grid.cell_w, grid.cell_h, grid.x0, grid.y0, grid.gap_x, grid.gap_y):
        varint.write(out, v)
    for v in (grid.cols, grid.rows, *counts):
        varint.write(out, v)
    if meta_block:
        varint.write(out, len(meta_block))
        out += meta_block
    return out


def read_header(data: bytes | memoryview, label: str = "fpk") -> tuple[Header, _Cursor]:
    """The header of a .fpk (metadata decoded) and a cursor at its payload."""
    cur = _Cursor(data, label)
    header, has_meta = _fixed_fields(cur)
    if has_meta:
        start = cur.pos
        block = _unpack(cur.section("metadata"), cur, "metadata", MAX_META_BYTES)
        header.meta = decode_meta(block, header.grid.cells, label)
        header.sizes["metadata"] = cur.pos - start
    header.payload_offset = cur.pos
    return header, cur


def read_file_header(path: str | Path, label: str) -> tuple[Header, int]:
    """The header of the .fpk file at ``path`` and the file's size, reading the header and nothing else:
    fast and bounded on any file, a hostile one included (``fontpack info``). The payload is not checked;
    ``sizes["payload"]`` is what lies between the header and the CRC-32."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(_HEAD_BYTES)
        cur = _Cursor(data, label)
        _, has_meta = _fixed_fields(cur)
        if has_meta:  # a packed block is at most one byte longer than what it holds
            length = cur.uvarint("metadata length", MAX_META_BYTES + 1)
            data += fh.read(max(0, cur.pos + length - len(data)))
    header, cur = read_header(data, label)
    if size < cur.pos + 4:
        raise FontpackError(f"{label}: truncated: payload and CRC-32 missing (offset {size})")
    header.sizes["payload"] = size - cur.pos - 4
    return header, size


def _fixed_fields(cur: _Cursor) -> tuple[Header, bool]:
    """The header up to the metadata, checked, and whether metadata follows."""
    if bytes(cur.data[:4]) != MAGIC:
        raise FontpackError(f"{cur.label}: not a fontpack file (bad magic at offset 0)")
    cur.pos = 4
    version = cur.u8("version")
    if version != VERSION:
        raise cur.fail(f"unsupported version {version} (this fontpack reads version {VERSION})")
    mode_code = cur.u8("mode")
    if mode_code >= len(MODES):
        raise cur.fail(f"unknown mode {mode_code}")
    flags = cur.u8("flags")
    if flags & ~(FLAG_INK_DARK | FLAG_META | FLAG_RESIDUAL):
        raise cur.fail(f"unknown flags 0x{flags:02x}")
    threshold = cur.u8("threshold")
    width = cur.uvarint("width", MAX_PIXELS)
    height = cur.uvarint("height", MAX_PIXELS)
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise cur.fail(f"bad sheet size {width}x{height}")
    geometry = [
        cur.uvarint(name, max(width, height))
        for name in ("cell width", "cell height", "x0", "y0", "gap x", "gap y")
    ]
    cols = cur.uvarint("cols", width)
    rows = cur.uvarint("rows", height)
    grid = Grid(*geometry, cols, rows)  # type: ignore[arg-type]
    if not grid.fits(width, height):
        raise cur.fail(f"grid {grid.describe()} does not fit the {width}x{height} sheet")
    blank, dups, distinct = (cur.uvarint(name, grid.cells) for name in ("blank", "duplicates", "distinct"))
    if blank + dups + distinct != grid.cells:
        raise cur.fail(f"cell counts {blank} + {dups} + {distinct} differ from the {grid.cells} cells")
    mode = MODES[mode_code]
    if flags & FLAG_RESIDUAL and mode != "cells":
        raise cur.fail(f"residual flag set in mode {mode}")
    if mode == "cells" and grid.cells > MAX_CELLS:
        raise cur.fail(f"{grid.cells:,} cells in mode cells, more than {MAX_CELLS:,}")
    ink_dark, residual = bool(flags & FLAG_INK_DARK), bool(flags & FLAG_RESIDUAL)
    header = Header(
        version,
        mode,
        ink_dark,
        threshold,
        width,
        height,
        grid,
        blank,
        dups,
        distinct,
        None,
        residual,
        cur.pos,
    )
    return header, bool(flags & FLAG_META)


# ---------------------------------------------------------------- cells


@dataclass
class CellAnalysis:
    blank: np.ndarray  # (cells,) bool
    ids: np.ndarray  # distinct glyph id of each non-blank cell, in cell order
    new: np.ndarray  # whether that non-blank cell is the first of its glyph
    reps: np.ndarray  # cell index of each distinct glyph's first appearance
    boxes: np.ndarray  # (distinct, 4): x, y, w, h of each distinct glyph's ink inside its cell

    @property
    def distinct(self) -> int:
        return len(self.reps)

    @property
    def duplicates(self) -> int:
        return len(self.ids) - len(self.reps)


def analyse_cells(cells: np.ndarray) -> CellAnalysis:
    n = cells.shape[0]
    flat = cells.reshape(n, -1)
    blank = ~flat.any(axis=1)
    inked = np.nonzero(~blank)[0]
    if len(inked) == 0:
        empty = np.zeros(0, np.int64)
        return CellAnalysis(blank, empty, np.zeros(0, bool), empty, np.zeros((0, 4), np.int64))
    packed = np.ascontiguousarray(np.packbits(flat[inked], axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ids = rank[inverse.ravel()]
    new = np.zeros(len(inked), bool)
    new[first] = True
    reps = inked[first[order]]
    glyphs = cells[reps]
    rows_any, cols_any = glyphs.any(axis=2), glyphs.any(axis=1)
    y0 = rows_any.argmax(axis=1)
    y1 = rows_any.shape[1] - rows_any[:, ::-1].argmax(axis=1)
    x0 = cols_any.argmax(axis=1)
    x1 = cols_any.shape[1] - cols_any[:, ::-1].argmax(axis=1)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.int64)
    return CellAnalysis(blank, ids, new, reps, boxes)


def _blank_runs(blank: np.ndarray) -> list[int]:
    """Alternating run lengths of non-blank and blank cells, starting with non-blank (maybe 0)."""
    change = np.nonzero(np.diff(blank.astype(np.int8)))[0] + 1
    bounds = np.concatenate([[0], change, [len(blank)]])
    runs = np.diff(bounds).tolist()
    if blank[0]:
        runs.insert(0, 0)
    return runs


def _cells_payload(sheet: Sheet, grid: Grid, cells: np.ndarray, an: CellAnalysis) -> tuple[bytes, bool]:
    side = bytearray()
    for run in _blank_runs(an.blank):
        varint.write(side, run)
    for is_new, gid in zip(an.new.tolist(), an.ids.tolist(), strict=True):
        varint.write(side, 0 if is_new else gid + 1)
    for x, y, w, h in an.boxes.tolist():
        for v in (x, y, w - 1, h - 1):
            varint.write(side, v)
    out = bytearray()
    block = _pack(bytes(side))
    varint.write(out, len(block))
    out += block
    crops = [
        cells[c, y : y + h, x : x + w]
        for c, (x, y, w, h) in zip(an.reps.tolist(), an.boxes.tolist(), strict=True)
    ]
    stream = coder.encode_bitmaps(crops) if crops else b""
    varint.write(out, len(stream))
    out += stream
    residual = sheet.ink & ~grid.cell_mask(sheet.height, sheet.width)
    if not residual.any():
        return bytes(out), False
    ys, xs = np.nonzero(residual)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    for v in (x0, y0, x1 - x0 - 1, y1 - y0 - 1):
        varint.write(out, v)
    stream = coder.encode_bitmap(residual[y0:y1, x0:x1])
    varint.write(out, len(stream))
    out += stream
    return bytes(out), True


def _coder_call(cur: _Cursor, what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except FontpackError as exc:
        raise cur.fail(f"{what}: {exc}") from None
    except (ValueError, IndexError, OverflowError, MemoryError) as exc:
        raise cur.fail(f"{what}: undecodable ({type(exc).__name__}: {exc})") from None


def _bitmap(arr: Any, shape: tuple[int, int], cur: _Cursor, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.shape != shape:
        raise cur.fail(f"{what}: decoded shape {arr.shape}, expected {shape}")
    # the coder hands out writable bool arrays; a copy only if not, as a sheet may be 256 MiB
    return arr if arr.dtype == np.bool_ and arr.flags.writeable else np.array(arr, dtype=bool)


def _decode_cells(h: Header, cur: _Cursor) -> np.ndarray:
    """The sheet of a mode-1 payload. Glyphs are drawn straight into the sheet (no array of cells), so
    the working memory beyond the sheet is the decoded glyphs and a few bytes per cell."""
    side_at = cur.pos
    limit = _VALUE_BYTES * (6 * h.grid.cells + 1)  # runs <= cells + 1, references <= cells, 4 per glyph
    side = _Cursor(_unpack(cur.section("side information"), cur, "side information", limit), cur.label)
    side.label = f"{cur.label}: side information (packed at offset {side_at})"
    inked, ids, boxes = _side_information(h, side)
    stream_at = cur.pos
    stream = bytes(cur.section("glyph stream"))
    if stream and not h.distinct:
        raise cur.fail("glyph stream present without glyphs")
    flat = np.zeros(0, bool)
    if h.distinct:
        glyph_cur = _Cursor(stream, cur.label, stream_at)
        shapes = boxes[:, [3, 2]]  # (height, width)
        flat = _coder_call(glyph_cur, "glyph stream", coder.decode_bitmaps_flat, stream, shapes)
    sheet = np.zeros((h.height, h.width), bool)  # after the glyphs: a damaged stream costs no sheet
    _draw_glyphs(sheet, h.grid, inked, ids, boxes, flat)
    if h.residual:
        _draw_residual(sheet, h, cur)
    return sheet


def _side_information(h: Header, side: _Cursor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index of each inked cell, its glyph, (x, y, width, height) of each glyph), checked against the
    header. Decoded with numpy, in three steps whose arrays go when each is done: ~40 bytes a cell."""
    inked = np.flatnonzero(~_blank_map(h, side))
    ids = _glyph_ids(h, side, len(inked))
    boxes = _glyph_boxes(h, side)
    if side.left:
        raise side.fail(f"{side.left} bytes of garbage after the glyph boxes")
    return inked, ids, boxes


def _blank_map(h: Header, side: _Cursor) -> np.ndarray:
    n = h.grid.cells
    # the runs go on until they cover every cell: find how many there are, then read them
    held = int(np.count_nonzero(np.frombuffer(side.data, np.uint8) < 0x80))  # varints in the block
    covered = np.cumsum(side.uvarints(min(n + 1, held), "blank run"))
    count = int(np.searchsorted(covered, n)) + 1
    if count > len(covered):
        raise side.fail(f"truncated: blank runs cover {int(covered[-1]) if held else 0:,} of {n:,} cells")
    side.pos = 0
    runs = side.uvarints(count, "blank run", n)
    if int(runs.sum()) != n:
        raise side.fail(f"blank runs cover {int(runs.sum()):,} cells, not {n:,}")
    blank = np.repeat(np.arange(count) % 2 == 1, runs)  # runs alternate, inked first
    if int(blank.sum()) != h.blank:
        raise side.fail(f"{int(blank.sum())} blank cells, the header says {h.blank}")
    return blank


def _glyph_ids(h: Header, side: _Cursor, inked: int) -> np.ndarray:
    refs = side.uvarints(inked, "glyph reference", h.grid.cells)
    new = refs == 0
    before = np.cumsum(new, dtype=np.int32) - new  # distinct glyphs seen before each inked cell
    bad = np.flatnonzero(refs > before)
    if len(bad):
        raise side.fail(f"inked cell {bad[0]} refers to glyph {refs[bad[0]] - 1} of {before[bad[0]]}")
    if int(new.sum()) != h.distinct:
        raise side.fail(f"{int(new.sum())} distinct glyphs, the header says {h.distinct}")
    return np.where(new, before, refs - 1)


def _glyph_boxes(h: Header, side: _Cursor) -> np.ndarray:
    grid = h.grid
    boxes = side.uvarints(4 * h.distinct, "glyph box", max(grid.cell_w, grid.cell_h)).reshape(-1, 4)
    boxes[:, 2:] += 1  # stored as width - 1, height - 1
    x, y, w, hh = boxes.T
    bad = np.flatnonzero((x + w > grid.cell_w) | (y + hh > grid.cell_h))
    if len(bad):
        g = bad[0]
        box = f"{w[g]}x{hh[g]}+{x[g]}+{y[g]}"
        raise side.fail(f"glyph {g} box {box} is outside its {grid.cell_w}x{grid.cell_h} cell")
    return boxes


_DRAW_PIXELS = 1 << 16  # pixels copied per numpy call when drawing glyphs: bounds the index arrays


def _draw_glyphs(
    sheet: np.ndarray, grid: Grid, inked: np.ndarray, ids: np.ndarray, boxes: np.ndarray, flat: np.ndarray
) -> None:
    """Each inked cell's glyph (cropped; the glyphs lie one after the other in ``flat``) into the sheet.
    Cells whose glyphs have the same box are drawn together, ``_DRAW_PIXELS`` at a time: no Python step
    per cell or per glyph, which a file may declare millions of."""
    view = grid.cell_view(sheet)
    areas = boxes[:, 2].astype(np.int64) * boxes[:, 3]
    starts = np.cumsum(areas) - areas
    shapes, shape_of_glyph = np.unique(boxes, axis=0, return_inverse=True)
    shape_of_cell = shape_of_glyph.reshape(-1)[ids]
    order = np.argsort(shape_of_cell, kind="stable")
    bounds = np.searchsorted(shape_of_cell[order], np.arange(len(shapes) + 1))
    for k, (x, y, w, hh) in enumerate(shapes.tolist()):
        step = max(1, _DRAW_PIXELS // (w * hh))
        for lo in range(bounds[k], bounds[k + 1], step):
            cells = order[lo : min(lo + step, bounds[k + 1])]
            pixels = flat[starts[ids[cells]][:, None] + np.arange(w * hh)].reshape(-1, hh, w)
            rows, cols = np.divmod(inked[cells], grid.cols)
            view[rows, y : y + hh, cols, x : x + w] = pixels


def _draw_residual(sheet: np.ndarray, h: Header, cur: _Cursor) -> None:
    """The ink outside the cells, ORed into the sheet (pixels of its box inside cells are ignored)."""
    x0 = cur.uvarint("residual x", h.width - 1)
    y0 = cur.uvarint("residual y", h.height - 1)
    rw = cur.uvarint("residual width", h.width - 1 - x0) + 1
    rh = cur.uvarint("residual height", h.height - 1 - y0) + 1
    at = cur.pos
    stream = bytes(cur.section("residual stream"))
    rcur = _Cursor(stream, cur.label, at)
    part = _coder_call(rcur, "residual stream", coder.decode_bitmap, stream, (rh, rw))
    part = _bitmap(part, (rh, rw), rcur, "residual")
    rows, cols = h.grid.covered(h.height, h.width)
    part &= ~(rows[y0 : y0 + rh, None] & cols[None, x0 : x0 + rw])
    sheet[y0 : y0 + rh, x0 : x0 + rw] |= part


# ---------------------------------------------------------------- whole files


def _section(stream: bytes) -> bytes:
    out = bytearray()
    varint.write(out, len(stream))
    return bytes(out) + stream


def crc_of(header: bytes | memoryview, ink: np.ndarray) -> int:
    """CRC-32 of the header bytes (metadata included) followed by the ink bitmap as PBM P4 rows: MSB first,
    each row padded to whole bytes. So a damaged header field (the polarity, the grid) is caught too."""
    return zlib.crc32(np.packbits(ink, axis=1).tobytes(), zlib.crc32(header))


def encode_sheet(sheet: Sheet, grid: Grid, mode: str = "best") -> bytes:
    """The .fpk bytes of ``sheet`` cut by ``grid``; ``mode`` one of CHOICES."""
    if mode not in CHOICES:
        raise UsageError(f"unknown mode {mode!r} (choose from {', '.join(CHOICES)})")
    if not grid.fits(sheet.width, sheet.height):
        raise UsageError(
            f"{sheet.label}: grid {grid.describe()} does not fit the {sheet.width}x{sheet.height} sheet"
        )
    cells = grid.split(sheet.ink)
    an = analyse_cells(cells)
    counts = (int(an.blank.sum()), an.duplicates, an.distinct)
    meta_block = _pack(encode_meta(sheet.meta)) if sheet.meta is not None else b""
    base_flags = (FLAG_INK_DARK if sheet.ink_dark else 0) | (FLAG_META if meta_block else 0)
    candidates: list[tuple[str, bytes, bool]] = []  # (mode, body after the header, residual flag)
    if mode == "cells" and grid.cells > MAX_CELLS:
        raise UsageError(f"{sheet.label}: mode cells takes at most {MAX_CELLS:,} cells, not {grid.cells:,}")
    if mode == "cells" or (mode == "best" and grid.cells <= MAX_CELLS):
        body, residual = _cells_payload(sheet, grid, cells, an)
        candidates.append(("cells", body, residual))
    if mode in ("best", "sheet"):
        candidates.append(("sheet", _section(coder.encode_bitmap(sheet.ink)), False))
    if mode in ("best", "rle"):
        candidates.append(("rle", _section(rle_encode(np.packbits(sheet.ink.ravel()))), False))
    # the smallest; on a tie cells (it keeps the glyphs apart), then sheet
    chosen, body, residual = min(candidates, key=lambda c: (len(c[1]), ("cells", "sheet", "rle").index(c[0])))
    flags = base_flags | (FLAG_RESIDUAL if residual else 0)
    out = _write_header(chosen, flags, sheet, grid, counts, meta_block)
    crc = crc_of(out, sheet.ink)
    out += body
    out += crc.to_bytes(4, "little")
    return bytes(out)


@dataclass
class Decoded:
    """A decoded .fpk: the ink bitmap and everything the header says."""

    header: Header
    ink: np.ndarray

    @property
    def grid(self) -> Grid:
        return self.header.grid

    @property
    def meta(self) -> FontMeta | None:
        return self.header.meta

    def image(self) -> Any:
        """The binarized sheet as a PIL image of mode "1"."""
        return to_image(self.ink, self.header.ink_dark)

    def cells(self) -> np.ndarray:
        return self.grid.split(self.ink)


def decode(data: bytes | bytearray | memoryview, label: str = "fpk") -> Decoded:
    header, cur = read_header(data, label)
    start = cur.pos
    if header.mode == "rle":
        stream = cur.section("rle stream")
        pixels = header.width * header.height
        packed = rle_decode(stream, -(-pixels // 8), cur)
        bits = np.unpackbits(packed)
        if bits[pixels:].any():
            raise cur.fail("rle stream: padding bits after the last pixel are not zero")
        ink = bits[:pixels].reshape(header.height, header.width).view(bool)
    elif header.mode == "sheet":
        at = cur.pos
        stream = bytes(cur.section("sheet stream"))
        scur = _Cursor(stream, label, at)
        shape = (header.height, header.width)
        ink = _bitmap(
            _coder_call(scur, "sheet stream", coder.decode_bitmap, stream, shape), shape, scur, "sheet"
        )
    else:
        ink = _decode_cells(header, cur)
    header.sizes["payload"] = cur.pos - start
    if cur.left != 4:
        if cur.left < 4:
            raise cur.fail("truncated: CRC-32 missing")
        raise cur.fail(f"{cur.left - 4} bytes of garbage before the CRC-32")
    stored = int.from_bytes(cur.take(4, "CRC-32"), "little")
    actual = crc_of(cur.data[: header.payload_offset], ink)
    if stored != actual:
        raise FontpackError(
            f"{label}: CRC-32 mismatch (stored {stored:08x}, header and decoded bitmap {actual:08x})"
        )
    return Decoded(header, ink)


# ---------------------------------------------------------------- the API


def resolve_grid(sheet: Sheet, grid: Any = None, cols: int | None = None) -> Detection:
    """The grid to use: the font's, or ``grid`` (a Grid, "WxH[+X+Y]" or a (w, h[, x, y]) tuple) and/or
    ``cols`` applied to the sheet, or the detected one."""
    from everybit.fontpack.grid import AxisFit

    if sheet.grid is not None:
        if grid is not None:
            raise UsageError(
                f"{sheet.label}: --grid applies to images; a font is laid out on its own cell grid"
            )
        g = sheet.grid
        return Detection(
            g,
            AxisFit(g.cell_w, 0, g.cell_w, 0, g.cols, 0, 1.0),
            AxisFit(g.cell_h, 0, g.cell_h, 0, g.rows, 0, 1.0),
            "font",
        )
    if isinstance(grid, Grid):
        if not grid.fits(sheet.width, sheet.height):
            raise UsageError(
                f"{sheet.label}: grid {grid.describe()} does not fit the {sheet.width}x{sheet.height} sheet"
            )
        det = detect_grid_array(sheet.ink)
        return Detection(grid, det.x, det.y, "manual")
    det = detect_grid_array(sheet.ink)
    if grid is None and cols is None:
        return det
    if isinstance(grid, str):
        cell = parse_grid(grid)
    elif grid is not None:
        parts = tuple(int(v) for v in grid)
        cell = (*parts, 0, 0)[:4] if len(parts) == 2 else parts  # type: ignore[assignment]
    else:
        cell = None
    try:
        manual = manual_grid(sheet.width, sheet.height, cell, cols, det)  # type: ignore[arg-type]
    except UsageError as exc:
        raise UsageError(f"{sheet.label}: {exc}") from None
    return Detection(manual, det.x, det.y, "manual")


def compress(
    source: Any,
    mode: str = "best",
    grid: Any = None,
    cols: int | None = None,
    threshold: int | None = None,
) -> bytes:
    """A .fpk from an image or font (path, PIL image, Font, 2-D array or Sheet).

    ``mode``: "best" (smallest of the three below), "cells", "sheet" or "rle" (the original algorithm).
    ``grid``: "WxH[+X+Y]" cell size and offset (images only; detected when None); ``cols``: columns of
    cells (images) or glyphs per sheet row (fonts); ``threshold``: 0..255, Otsu's when None.
    """
    sheet = load_sheet(source, threshold, cols)
    det = resolve_grid(sheet, grid, cols if sheet.grid is None else None)
    return encode_sheet(sheet, det.grid, mode)


def decompress(data: bytes | bytearray | memoryview) -> Any:
    """The binarized sheet of a .fpk as a PIL image of mode "1"."""
    return decode(data).image()
