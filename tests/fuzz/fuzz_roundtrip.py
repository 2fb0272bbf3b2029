"""Fuzz target: the encoder. ``compress``/``compress_block``/``*_into`` of arbitrary data at every level
must round-trip, stay within ``compress_bound``, and fit an exact-size output buffer (and refuse one
byte less with ``ValueError``, never overrun it).

Input layout: 1 byte level selector (``1 + b % MAX_LEVEL``), then the data to compress.
"""

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


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    level = 1 + data[0] % ulz.MAX_LEVEL
    plain = data[1:]
    block = ulz.compress_block(c.exact(plain), level)
    assert len(block) <= ulz.compress_bound(len(plain)), "compress_bound exceeded"
    blob = ulz.compress(c.exact(plain), level)
    assert blob == c.varint(len(plain)) + block, "compress is not header + compress_block"
    assert ulz.decompress(c.exact(blob), len(plain)) == plain, "round trip failed"

    out = c.exact(len(block))
    assert ulz.compress_block_into(c.exact(plain), out, level) == len(block)
    assert bytes(out) == block, "compress_block_into disagrees with compress_block"
    whole = c.exact(len(blob))
    assert ulz.compress_into(c.exact(plain), whole, level) == len(blob) and bytes(whole) == blob
    if block:
        try:
            ulz.compress_block_into(c.exact(plain), c.exact(len(block) - 1), level)
        except ValueError as exc:
            assert not isinstance(exc, ulz.ULZError), exc
        else:
            raise AssertionError("compress_block_into fitted a buffer one byte too small")

    dec = c.exact(len(plain))
    assert ulz.decompress_block_into(c.exact(block), dec) == len(plain)
    assert bytes(dec) == plain, "decompress_block_into round trip failed"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
