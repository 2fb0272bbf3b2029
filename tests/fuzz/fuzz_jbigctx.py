"""Fuzz target: fontpack's context coder, the C module ``everybit.fontpack._jbigctx``.

Input layout: 1 control byte ``c``: bit 0 one bitmap (``*_single``) instead of a list (``*_list``); bit 1
hostile shapes; bits 2-3 the period given to ``encode_single`` (None, 0, 2 + a byte, or a bad one);
bits 4-6 the number of bitmaps of a list (0-4); bit 7 which damaged stream is tried. Then the shapes:
2 bytes (height ``% 17``, width ``% 33``) per bitmap, or 16 bytes (two raw int64) with bit 1, then the
rest R.

- Shapes are passed as a misaligned int64 buffer. Hostile ones (negative, too wide, too many pixels) raise
  ``ValueError`` exactly when the harness's copy of the rules says so; valid ones larger than
  ``MAX_PIXELS`` pixels in all are not decoded (they are legal, only slow).
- ``decode_*(R, shapes)`` returns a bytearray of 0/1 bytes, one per pixel, or raises ``FontpackError``;
  what it decoded encodes to a stream that decodes to it again.
- Pixels filled from R (bits of its bytes; 0 past its end) round-trip through ``encode_*`` and
  ``decode_*``; the stream with its last byte cut (or a byte appended) raises ``FontpackError`` or
  decodes to something (never anything else).

Each call sets up the model's tables (600 KB), which costs far more than a few hundred pixels under the
sanitizers: bitmaps stay small and an input makes at most 5 calls.
"""

import struct

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

jb = c.load_extension("everybit.fontpack._jbigctx")

MAX_PIXELS = 1024  # per call: a larger bitmap adds little coverage
LIMIT_PIXELS = 1 << 31  # the extension's own limits (MAX_PIXELS, MAX_WIDTH in _jbigctx.c)
LIMIT_WIDTH = 1 << 24


def parse(data: bytes) -> tuple[int, list[tuple[int, int]], bytes]:
    ctl = data[0] if data else 0
    n = 1 if ctl & 1 else (ctl >> 4) % 5
    pos, shapes = 1, []
    for _ in range(n):
        if ctl & 2:
            field = data[pos : pos + 16].ljust(16, b"\0")
            shapes.append(struct.unpack("<qq", field))
            pos += 16
        else:
            field = data[pos : pos + 2].ljust(2, b"\0")
            shapes.append((field[0] % 17, field[1] % 33))
            pos += 2
    return ctl, shapes, data[pos:]


def shapes_valid(shapes: list[tuple[int, int]]) -> bool:
    """The extension's rules for shapes (get_shapes in _jbigctx.c)."""
    total = 0
    for h, w in shapes:
        if h < 0 or w < 0 or w > LIMIT_WIDTH or (w and h > LIMIT_PIXELS // w) or h > LIMIT_PIXELS:
            return False
        total += h * w
        if total > LIMIT_PIXELS:
            return False
    return True


def pixels_from(rest: bytes, total: int) -> bytes:
    bits = bytearray(total)
    for i in range(min(total, 8 * len(rest))):
        bits[i] = rest[i >> 3] >> (i & 7) & 1
    return bytes(bits)


def call(single: bool, fn: str, payload: bytes, shapes: list[tuple[int, int]], *extra):
    """fn of the list or single API (payload: stream or pixels), or the ValueError it raised."""
    try:
        if single:
            (h, w) = shapes[0]
            return getattr(jb, f"{fn}_single")(c.exact(payload), h, w, *extra)
        raw = struct.pack(f"<{2 * len(shapes)}q", *(v for s in shapes for v in s))
        return getattr(jb, f"{fn}_list")(c.exact(payload), c.misaligned(raw), *extra)
    except ValueError as exc:  # FontpackError is one too
        return exc


def TestOneInput(data: bytes) -> None:
    ctl, shapes, rest = parse(data)
    single = bool(ctl & 1)
    got = call(single, "decode", rest, shapes)
    if not shapes_valid(shapes):
        assert isinstance(got, ValueError) and not isinstance(got, jb.FontpackError), got
        return
    total = sum(h * w for h, w in shapes)
    if total > MAX_PIXELS:
        return
    if isinstance(got, bytearray):
        assert len(got) == total and not got.strip(b"\0\1"), "decoded pixels are not 0/1 bytes"
        again = call(single, "decode", call(single, "encode", bytes(got), shapes), shapes)
        assert again == got, "what a stream decoded to does not round-trip"
    else:
        assert isinstance(got, jb.FontpackError), got

    pix = pixels_from(rest, total)
    extra = ()
    if single:
        mode = ctl >> 2 & 3
        extra = (None, 0, 2 + (rest[:1] or b"\0")[0], 1)[mode:][:1]  # period; 1 is refused
    stream = call(single, "encode", pix, shapes, *extra)
    if extra == (1,):
        assert isinstance(stream, ValueError) and not isinstance(stream, jb.FontpackError), stream
        return
    assert isinstance(stream, bytes), stream
    assert call(single, "decode", stream, shapes) == pix, "round trip failed"
    damaged = stream + rest[:1] + b"\0" if ctl & 0x80 else stream[:-1]
    out = call(single, "decode", damaged, shapes)
    assert isinstance(out, jb.FontpackError | bytearray), out


if __name__ == "__main__":
    c.fuzz(TestOneInput)
