"""Fuzz target: the encoder of ``ulz.block``. ``compress``/``compress_block``/``*_into`` of arbitrary data at
every level must round-trip, stay within ``compress_bound``, and fit an exact-size output buffer (and refuse
one byte less with ``ValueError``, never overrun it).

Input layout: 1 byte level selector (``1 + b % MAX_LEVEL``), then the data to compress.
"""

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit.ulz import block
else:
    from everybit.ulz import block

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    level = 1 + data[0] % block.MAX_LEVEL
    plain = data[1:]
    packed = block.compress_block(c.exact(plain), level=level)
    assert len(packed) <= block.compress_bound(len(plain)), "compress_bound exceeded"
    blob = block.compress(c.exact(plain), level=level)
    assert blob == c.varint(len(plain)) + packed, "compress is not header + compress_block"
    assert block.decompress(c.exact(blob), len(plain)) == plain, "round trip failed"

    out = c.exact(len(packed))
    assert block.compress_block_into(c.exact(plain), out, level=level) == len(packed)
    assert bytes(out) == packed, "compress_block_into disagrees with compress_block"
    whole = c.exact(len(blob))
    assert block.compress_into(c.exact(plain), whole, level=level) == len(blob) and bytes(whole) == blob
    if packed:
        try:
            block.compress_block_into(c.exact(plain), c.exact(len(packed) - 1), level=level)
        except ValueError as exc:
            assert not isinstance(exc, block.ULZError), exc
        else:
            raise AssertionError("compress_block_into fitted a buffer one byte too small")

    dec = c.exact(len(plain))
    assert block.decompress_block_into(c.exact(packed), dec) == len(plain)
    assert bytes(dec) == plain, "decompress_block_into round trip failed"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
