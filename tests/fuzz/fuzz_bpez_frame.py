"""Fuzz target: the ``.bpez`` reader, ``everybit.bpez.decompress`` (frame, block records, the original
``bpez.py`` files it also reads), down to deflate and the C pair decoder.

Input layout: 1 control byte ``c``, then F.

- ``decompress(F)`` returns bytes or raises ``BPEZError``; nothing else. Read with ``legacy=False``
  (``.bpez`` frames only) it raises ``BPEZError`` or gives the same bytes.
- F's first ``MAX_PLAIN`` bytes, compressed at level ``1 + c % 9`` in blocks of ``MIN_BLOCK_SIZE``
  (several blocks once past it), decompress to themselves; that stream without its last byte raises.

The reader is Python, instrumented by atheris (run as a script), so libFuzzer follows its branches too.
"""

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit import bpez
else:
    from everybit import bpez

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

MAX_PLAIN = 1 << 17  # two blocks of MIN_BLOCK_SIZE at most


def decompress(data: bytes, **kw) -> bytes | Exception:
    try:
        return bpez.decompress(c.exact(data), threads=1, **kw)
    except bpez.BPEZError as exc:
        return exc


def TestOneInput(data: bytes) -> None:
    ctl, frame = (data[0], data[1:]) if data else (0, b"")
    got = decompress(frame)
    assert isinstance(got, bpez.BPEZError | bytes), type(got)
    strict = decompress(frame, legacy=False)
    if isinstance(strict, bytes):
        assert got == strict, "the legacy-aware reader disagrees on a .bpez frame"

    plain = frame[:MAX_PLAIN]
    blob = bpez.compress(plain, level=1 + ctl % 9, threads=1, block_size=bpez.MIN_BLOCK_SIZE)
    assert decompress(blob) == plain, "round trip failed"
    assert isinstance(decompress(blob[:-1]), bpez.BPEZError), "a truncated stream decoded"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
