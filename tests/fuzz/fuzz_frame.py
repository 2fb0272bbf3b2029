"""Fuzz target: the framed ``.ulz`` reader (``everybit.ulz``): one-shot ``decompress``, the
streaming ``Decompressor`` (split input, ``max_length``, one or two threads) and ``open(f, "rb")``.

Input layout: 1 control byte, then the frame bytes. Control bits 0-2 pick the chunk size the input is
fed in, bits 3-4 the ``max_length`` per call, bit 5 small ``read(n)`` calls instead of ``read()``,
bit 6 two decoder threads. Every reader must decode or raise ``ULZError`` (nothing else), and all of
them must agree: same bytes, or all refusing.
"""

import io

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit import ulz
else:
    from everybit import ulz

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

CHUNKS = (1, 3, 16, 255, 4096, 65536, 1 << 30, 1 << 30)
MAX_LENGTHS = (-1, 1, 1000, 1 << 16)
MAX_CALLS = 64  # chunk sizes and max_length grow so that one input makes about this many calls


def _one_shot(data) -> bytes:
    return ulz.decompress(data, threads=1)


def _stream(data: bytes, chunk: int, max_length: int, threads: int) -> bytes | ulz.ULZError:
    dec = ulz.Decompressor(threads=threads, concatenated=True)
    out = bytearray()
    try:
        for pos in range(0, max(len(data), 1), chunk):
            out += dec.decompress(c.exact(data[pos : pos + chunk]), max_length)
            idle = 0
            while not dec.needs_input:
                got = dec.decompress(b"", max_length)
                assert max_length < 0 or len(got) <= max_length, "max_length exceeded"
                idle = 0 if got else idle + 1
                assert idle < 3, "Decompressor makes no progress but does not ask for input"
                out += got
        out += dec.flush()
    except ulz.ULZError as exc:
        return exc
    assert dec.eof, "flush() returned without error but eof is false"
    return bytes(out)


def _read(data: bytes, piece: int | None) -> bytes | ulz.ULZError:
    try:
        with ulz.open(io.BytesIO(data), "rb") as f:
            if piece is None:
                return f.read()
            parts = []
            while part := f.read(piece):
                assert len(part) <= piece
                parts.append(part)
            return b"".join(parts)
    except ulz.ULZError as exc:
        return exc


def _same(a, b) -> bool:
    if isinstance(a, ulz.ULZError) or isinstance(b, ulz.ULZError):
        return isinstance(a, ulz.ULZError) and isinstance(b, ulz.ULZError)
    return a == b


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    ctl, data = data[0], data[1:]
    one = c.outcome(_one_shot, c.exact(data))
    out_len = len(one) if isinstance(one, bytes) else 0

    chunk = max(CHUNKS[ctl & 7], len(data) // MAX_CALLS)
    max_length = MAX_LENGTHS[(ctl >> 3) & 3]
    if max_length > 0:
        max_length = max(max_length, out_len // MAX_CALLS)
    threads = 2 if ctl & 0x40 else 1
    streamed = _stream(data, chunk, max_length, threads)
    assert _same(one, streamed), f"streaming ({chunk=}, {max_length=}) disagrees: {streamed!r:.200}"

    piece = max(7, out_len // MAX_CALLS) if ctl & 0x20 else None
    read = _read(data, piece)
    assert _same(one, read), f"open().read({piece}) disagrees: {read!r:.200}"

    # one frame only: what it consumed must decode alone, to a prefix of the whole
    dec = ulz.Decompressor(threads=1)
    first = c.outcome(dec.decompress, c.exact(data))
    if isinstance(first, ulz.ULZError):
        assert isinstance(one, ulz.ULZError), "the first frame fails alone but not among all frames"
    elif dec.eof:
        consumed = len(data) - len(dec.unused_data)
        assert _one_shot(data[:consumed]) == first
        assert not isinstance(one, bytes) or one.startswith(first)


if __name__ == "__main__":
    c.fuzz(TestOneInput)
