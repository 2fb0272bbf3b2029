"""Fuzz target: imgkan's entropy coder, the C module ``everybit.imgkan._ikcoder``.

Input layout: 1 control byte (planes: ``(b & 0x7f) % 5``; bit 7: values are int16, not int8), 2 bytes per
plane (rows and cols, each ``% 24``), then the rest R.

- ``decode(R, shapes)`` returns one bytearray of rows * cols int32 per plane, every value within
  ``[-MAX_ABS, MAX_ABS]``, or raises ``IkcoderError``. A stream that decodes is the encoder's own:
  ``encode`` of what it decoded gives R back, byte for byte.
- Planes of those shapes filled from R (signed bytes, or little-endian int16 with -32768 read as -32767;
  cells past the end of R are 0) round-trip exactly; the stream without its last byte raises
  "truncated" and with one more byte "trailing".

Only ``IkcoderError`` is an accepted failure. The module is loaded from its file, not through
``everybit.imgkan``, whose ``__init__`` imports torch (slow, and nothing to run under the sanitizers).
"""

import numpy as np

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

MAX_PLANES = 4
MAX_SIDE = 23


if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        ik = c.load_extension("everybit.imgkan._ikcoder")
else:
    ik = c.load_extension("everybit.imgkan._ikcoder")


def header(shapes: list[tuple[int, int]], wide: bool = False) -> bytes:
    """The control and shape bytes that make a harness input ask for these shapes (used by make_seeds)."""
    return bytes([len(shapes) | (0x80 if wide else 0)] + [d for s in shapes for d in s])


def parse(data: bytes) -> tuple[list[tuple[int, int]], bool, bytes]:
    if not data:
        return [], False, b""
    n = (data[0] & 0x7F) % (MAX_PLANES + 1)
    dims = data[1 : 1 + 2 * n].ljust(2 * n, b"\0")
    shapes = [(dims[2 * i] % (MAX_SIDE + 1), dims[2 * i + 1] % (MAX_SIDE + 1)) for i in range(n)]
    return shapes, bool(data[0] & 0x80), data[1 + 2 * n :]


def decode(stream: bytes, shapes):
    try:
        return ik.decode(c.exact(stream), shapes)
    except ik.IkcoderError as exc:
        return exc


def planes_from(rest: bytes, shapes, wide: bool) -> list[np.ndarray]:
    total = sum(r * k for r, k in shapes)
    if wide:
        raw = rest[: 2 * total]
        vals = np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.int32)
        vals[vals == -32768] = -ik.MAX_ABS
    else:
        vals = np.frombuffer(rest[:total], np.int8).astype(np.int32)
    cells = np.zeros(total, np.int32)
    cells[: len(vals)] = vals
    out, pos = [], 0
    for r, k in shapes:
        # each plane in its own exact-size heap block, so an overread shows
        buf = c.exact(cells[pos : pos + r * k].tobytes())
        out.append(np.frombuffer(buf, np.int32).reshape(r, k))
        pos += r * k
    return out


def TestOneInput(data: bytes) -> None:
    shapes, wide, rest = parse(data)

    got = decode(rest, shapes)
    if not isinstance(got, Exception):
        assert [len(b) for b in got] == [4 * r * k for r, k in shapes], "wrong output sizes"
        planes = [
            np.frombuffer(b, "<i4").astype(np.int32).reshape(s) for b, s in zip(got, shapes, strict=True)
        ]
        assert all(np.abs(p).max(initial=0) <= ik.MAX_ABS for p in planes), "value out of range decoded"
        assert ik.encode(planes) == rest, "a stream that decodes is not the encoder's own"

    planes = planes_from(rest, shapes, wide)
    stream = ik.encode(planes)
    back = decode(stream, shapes)
    assert not isinstance(back, Exception), back
    for b, p in zip(back, planes, strict=True):
        assert np.array_equal(np.frombuffer(b, "<i4").reshape(p.shape), p), "round trip failed"
    if stream:
        cut = decode(stream[:-1], shapes)
        assert isinstance(cut, ik.IkcoderError) and "truncated" in str(cut), cut
    more = decode(stream + rest[:1] + b"\0", shapes)
    assert isinstance(more, ik.IkcoderError) and "trailing" in str(more), more


if __name__ == "__main__":
    c.fuzz(TestOneInput)
