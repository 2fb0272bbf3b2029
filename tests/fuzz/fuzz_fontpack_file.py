"""Fuzz target: the ``.fpk`` reader, ``everybit.fontpack.decode`` (header, font metadata, the rle, cells and
sheet payloads, side information, CRC), down to the C context coder.

Input: the file bytes, as is.

- ``decode(F)`` returns a ``Decoded`` whose ink is a bool array of the header's height x width, or raises
  ``FontpackError``; nothing else.
- A header that declares more than ``MAX_PIXELS`` pixels is not decoded (legal, only slow: the reader
  allocates the sheet before it reads the payload); the fuzzer sees the header parsed anyway, through the
  cheap checks that come before any pixel.

The reader is Python, instrumented by atheris (run as a script), so libFuzzer follows its branches too.
"""

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit import fontpack
else:
    from everybit import fontpack

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

MAX_PIXELS = 1 << 16
SIZE_AT = 8  # width and height, two varints, follow magic (4), version, mode, flags and threshold


def declared_pixels(data: bytes) -> int:
    """width x height as the header declares them (0 when it cannot be read: decode refuses it cheaply)."""
    rest = data[SIZE_AT:]
    width = c.read_varint(rest)
    height = width and c.read_varint(rest[width[1] :])
    return width[0] * height[0] if width and height else 0


def TestOneInput(data: bytes) -> None:
    if declared_pixels(data) > MAX_PIXELS:
        return
    try:
        got = fontpack.decode(c.exact(data))
    except fontpack.FontpackError:
        return
    h = got.header
    assert got.ink.dtype == bool and got.ink.shape == (h.height, h.width), (got.ink.shape, h.height, h.width)


if __name__ == "__main__":
    c.fuzz(TestOneInput)
