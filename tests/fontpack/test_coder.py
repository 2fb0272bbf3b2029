"""The fontpack context coder: round trips, determinism, pinned streams, hostile input, compression."""

import contextlib
import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from everybit.common import CorruptDataError
from everybit.fontpack import _jbigctx, coder  # the real C core: fail, not skip, without it
from everybit.fontpack.coder import FontpackError


def _pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A glyph-like deterministic bitmap: a frame, a diagonal, ~5% of dots from a fixed integer hash."""
    gold = np.uint64(2654435761)
    a = np.zeros((h, w), bool)
    if h and w:
        a[0, :] = a[-1, :] = a[:, 0] = a[:, -1] = True
        for i in range(min(h, w)):
            a[i, i] = True
        y, x = np.mgrid[0:h, 0:w].astype(np.uint64)
        mix = (y * np.uint64(7919) + x * np.uint64(104729) + np.uint64(seed * 31 + 17)) * gold
        a |= (mix >> np.uint64(11)) % np.uint64(20) == 0
    return a


def _sheet(size: int = 32) -> np.ndarray:
    """Printable ASCII in Pillow's built-in font (FreeType), 16 cells a row, 1-bit: a real rendered sheet."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    chars = [chr(c) for c in range(33, 127)]
    asc, desc = font.getmetrics()
    cw = max(font.getbbox(c)[2] for c in chars) + 2
    ch = asc + desc + 2
    img = Image.new("1", (16 * cw, -(-len(chars) // 16) * ch), 0)
    draw = ImageDraw.Draw(img)
    for i, c in enumerate(chars):
        draw.text((i % 16 * cw + 1, i // 16 * ch + 1), c, fill=1, font=font)
    return np.array(img, bool)


def _crops(sheet: np.ndarray, cw: int, ch: int) -> list[np.ndarray]:
    out = []
    for y in range(0, sheet.shape[0], ch):
        for x in range(0, sheet.shape[1], cw):
            cell = sheet[y : y + ch, x : x + cw]
            ys, xs = np.nonzero(cell)
            if len(ys):
                out.append(cell[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    return out


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    if len(a) != len(b):
        return False
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------- round trips

# ink density: any, sparse (1/9), about half, dense (8/9)
DENSITY = [
    st.booleans(),
    st.sampled_from([False] * 8 + [True]),
    st.sampled_from([False, True]),
    st.sampled_from([False] + [True] * 8),
]
SHAPES = st.tuples(st.integers(0, 24), st.integers(0, 24))
bitmaps = st.sampled_from(DENSITY).flatmap(lambda elements: hnp.arrays(np.bool_, SHAPES, elements=elements))


@settings(max_examples=150, deadline=None)
@given(st.lists(bitmaps, max_size=12))
def test_list_round_trip(items):
    data = coder.encode_bitmaps(items)
    assert _same(coder.decode_bitmaps(data, [b.shape for b in items]), items)


@settings(max_examples=100, deadline=None)
@given(bitmaps, st.one_of(st.none(), st.just(0), st.integers(2, 30)))
def test_single_round_trip(bitmap, period):
    data = coder.encode_bitmap(bitmap, period=period)
    back = coder.decode_bitmap(data, bitmap.shape)
    assert back.dtype == np.bool_ and back.shape == bitmap.shape and np.array_equal(back, bitmap)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (1, 300), (300, 1), (2, 1000), (1000, 2)])
def test_edge_shapes(shape):
    for bitmap in (np.zeros(shape, bool), np.ones(shape, bool), _pattern(*shape)):
        assert np.array_equal(coder.decode_bitmap(coder.encode_bitmap(bitmap), shape), bitmap)
        items = [bitmap, _pattern(3, 4), bitmap]
        assert _same(coder.decode_bitmaps(coder.encode_bitmaps(items), [b.shape for b in items]), items)


def test_empty_list_and_empty_bitmaps():
    assert coder.decode_bitmaps(coder.encode_bitmaps([]), []) == []
    data = coder.encode_bitmaps([np.zeros((0, 3), bool), np.zeros((4, 0), bool)])
    assert len(data) == 1  # only the header: no pixels, no payload
    out = coder.decode_bitmaps(data, [(0, 3), (4, 0)])
    assert [b.shape for b in out] == [(0, 3), (4, 0)]


def test_many_glyphs_share_state():
    rng = random.Random(5)
    glyphs = [_pattern(rng.randint(1, 20), rng.randint(1, 20), seed=i % 50) for i in range(2000)]
    data = coder.encode_bitmaps(glyphs)
    assert _same(coder.decode_bitmaps(data, [g.shape for g in glyphs]), glyphs)
    # the 50 distinct patterns repeat: the shared state learns them, so the stream is far below 1 bit/pixel
    assert len(data) * 8 < 0.25 * sum(g.size for g in glyphs)


def test_input_types_and_layouts():
    a = _pattern(13, 17, seed=3)
    ref = coder.encode_bitmap(a)
    assert coder.encode_bitmap(a.astype(np.uint8) * 255) == ref  # nonzero = ink
    assert coder.encode_bitmap(a.astype(np.int32)) == ref
    assert coder.encode_bitmap(a.tolist()) == ref
    wide = np.zeros((13, 40), bool)
    wide[:, ::2][:, :17] = a  # a strided, non-contiguous view
    assert coder.encode_bitmap(wide[:, ::2][:, :17]) == ref
    assert coder.encode_bitmaps([a.T.copy()]) == coder.encode_bitmaps([a.T])
    out = coder.decode_bitmaps(coder.encode_bitmaps([a, a]), [a.shape, a.shape])
    out[0][0, 0] = not out[0][0, 0]  # writable, and each bitmap its own region
    assert np.array_equal(out[1], a)


def test_large_bitmap_threads():
    """Over the GIL threshold: the work runs unlocked; parallel calls give the same bytes."""
    big = np.tile(_pattern(20, 18, seed=9), (20, 12))  # 400 x 216 = 86,400 pixels
    expected = coder.encode_bitmap(big)
    results = []

    def work():
        results.append(coder.encode_bitmap(big))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3
    assert np.array_equal(coder.decode_bitmap(expected, big.shape), big)
    assert coder.encode_bitmap(big, period=18)[1] == 18  # header: tag, varint period
    assert expected[1] == 18  # the encoder finds the cell width itself


# ---------------------------------------------------------------- determinism and the pinned format

# Whole streams: the coder is deterministic and integer-only, so these must never change silently (a change
# breaks every .fpk file written before it).
GOLDEN = {
    "list": "10049c757aa30485a763e99aff807672a85d7941b8dbf9",
    "single": "1100047ebf06ae0a023a43adf69e0d0b6db84ef10e",
    "single_p6": "110603aa2de282e66fc770942f71dc6fe2",
}


def _golden_streams() -> dict[str, bytes]:
    glyphs = [_pattern(h, w, seed=h * 31 + w) for h, w in [(12, 7), (16, 8), (9, 9), (1, 1), (20, 3)]]
    sheet = np.tile(_pattern(8, 6, seed=1), (4, 8))
    return {
        "list": coder.encode_bitmaps(glyphs),
        "single": coder.encode_bitmap(sheet, period=0),
        "single_p6": coder.encode_bitmap(sheet, period=6),
    }


def test_golden_streams():
    got = {k: v.hex() for k, v in _golden_streams().items()}
    assert got == GOLDEN


def test_format_header():
    assert coder.encode_bitmaps([]) == bytes([0x10])
    assert coder.encode_bitmap(np.zeros((0, 0), bool)) == bytes([0x11, 0x00])
    assert coder.encode_bitmap(np.zeros((3, 300), bool), period=200)[:3] == bytes([0x11, 0xC8, 0x01])


def test_deterministic():
    glyphs = [_pattern(10, 10, seed=s) for s in range(30)]
    assert len({coder.encode_bitmaps(glyphs) for _ in range(3)}) == 1


# ---------------------------------------------------------------- errors and hostile input


def test_error_type():
    assert issubclass(FontpackError, CorruptDataError) and issubclass(FontpackError, ValueError)
    assert FontpackError is _jbigctx.FontpackError


@pytest.mark.parametrize(
    "shapes",
    [
        [(-1, 3)],
        [(3, -1)],
        [(1, coder.MAX_WIDTH + 1)],
        [(1 << 16, 1 << 16)],
        [(1 << 30, 1), (1 << 30, 1), (1, 1)],
    ],
)
def test_bad_shapes_refused_before_allocating(shapes):
    with pytest.raises(ValueError):
        coder.decode_bitmaps(bytes([0x10, 1, 2, 3]), shapes)


def test_bad_arguments():
    with pytest.raises(ValueError):
        coder.encode_bitmap(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError):
        coder.encode_bitmap(np.zeros((4, 4), bool), period=1)
    with pytest.raises(ValueError):
        coder.encode_bitmap(np.zeros((4, 4), bool), period=coder.MAX_PERIOD + 1)
    with pytest.raises(ValueError):
        _jbigctx.encode_list(b"\x00" * 5, np.array([[2, 2]], np.int64))  # pixel count mismatch
    with pytest.raises(ValueError):
        _jbigctx.encode_list(b"", b"\x00" * 15)  # shapes not int64 pairs


def test_corrupt_streams_raise():
    glyphs = [_pattern(16, 9, seed=s) for s in range(40)]
    shapes = [g.shape for g in glyphs]
    data = coder.encode_bitmaps(glyphs)
    cut, extended = (data[: len(data) // 2], data[:-8]), (data + b"\x00", data + b"junk")
    for bad in (b"", b"\x11" + data[1:], b"\x20" + data[1:], *cut, *extended):
        with pytest.raises(FontpackError):
            coder.decode_bitmaps(bad, shapes)
    # the end check (the decoder must have read exactly len + 3 bytes) catches a lost last byte only when
    # the pixels decoded from the zeros put in its place change the interval's path; the container's CRC
    # catches the rest
    with contextlib.suppress(FontpackError):
        coder.decode_bitmaps(data[:-1], shapes)
    with pytest.raises(FontpackError):
        coder.decode_bitmap(data, (16, 9))  # a list stream given to the single-bitmap decoder
    with pytest.raises(FontpackError):
        coder.decode_bitmap(b"\x11\x01" + b"\x00" * 8, (4, 4))  # period 1 is never written
    with pytest.raises(FontpackError):
        coder.decode_bitmap(b"\x11\x80", (4, 4))  # truncated varint
    with pytest.raises(FontpackError):
        coder.decode_bitmaps(b"\x10\x00", [(0, 4)])  # payload without pixels


def test_hostile_input_never_crashes():
    rng = random.Random(1234)
    outcomes = {"error": 0, "bitmap": 0}
    for i in range(400):
        n = rng.randint(0, 5)
        shapes = [(rng.randint(0, 40), rng.randint(0, 40)) for _ in range(n)]
        tag = rng.choice([0x10, 0x11, rng.randrange(256)])
        data = bytes([tag]) + rng.randbytes(rng.randint(0, 300))
        try:
            if i % 2:
                out = coder.decode_bitmaps(data, shapes)
                assert [b.shape for b in out] == shapes
            else:
                shape = shapes[0] if shapes else (7, 7)
                assert coder.decode_bitmap(data, shape).shape == shape
            outcomes["bitmap"] += 1
        except FontpackError:
            outcomes["error"] += 1
    assert outcomes["error"] > 300  # nearly all random streams fail the end-of-stream check


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_damaged_stream_fails_or_decodes(data):
    glyphs = [_pattern(12, 10, seed=s) for s in range(8)]
    stream = bytearray(coder.encode_bitmaps(glyphs))
    pos = data.draw(st.integers(0, len(stream) - 1))
    stream[pos] ^= data.draw(st.integers(1, 255))
    try:
        out = coder.decode_bitmaps(bytes(stream), [g.shape for g in glyphs])
    except FontpackError:
        return
    assert [b.shape for b in out] == [g.shape for g in glyphs]


# ---------------------------------------------------------------- compression


def test_compresses_real_sheet():
    sheet = _sheet(32)
    packed = (sheet.shape[1] + 7) // 8 * sheet.shape[0]
    whole = coder.encode_bitmap(sheet)
    assert np.array_equal(coder.decode_bitmap(whole, sheet.shape), sheet)
    assert len(whole) < packed / 10
    cw, ch = sheet.shape[1] // 16, sheet.shape[0] // 6
    glyphs = _crops(sheet, cw, ch)
    stream = coder.encode_bitmaps(glyphs)
    assert _same(coder.decode_bitmaps(stream, [g.shape for g in glyphs]), glyphs)
    assert len(stream) < len(whole)  # cropped glyphs cost less than the sheet they come from
    assert whole[1] and whole[1] % cw == 0  # the reference offset found is a multiple of the cell width
