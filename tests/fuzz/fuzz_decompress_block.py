"""Fuzz target: ``ulz.block.decompress_block(data, size)`` on arbitrary bytes.

Input layout: 3 bytes little-endian ``size`` (taken modulo ``MAX_OUT + 1``, 1 MiB), then the block.
Every input must either decode or raise ``ULZError``; any other exception, a crash or a sanitizer
report is a finding. Differential checks: ``decompress_block_into`` into an exact-size buffer (and
into a larger one), and ``decompress`` of the same block behind a size header, must agree.
"""

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit import ulz
        from everybit.ulz import block as ulz_block
else:
    from everybit import ulz
    from everybit.ulz import block as ulz_block

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

SLACK = 100  # extra room of the second decompress_block_into buffer


def TestOneInput(data: bytes) -> None:
    size = int.from_bytes(data[:3], "little") % (c.MAX_OUT + 1)
    block = data[3:]
    got = c.outcome(ulz_block.decompress_block, c.exact(block), size)
    buf = c.exact(size)
    into = c.outcome(ulz_block.decompress_block_into, c.exact(block), buf)
    framed = c.outcome(ulz_block.decompress, c.exact(c.varint(size) + block), size)
    if isinstance(got, bytes):
        assert len(got) == size, (len(got), size)
        assert into == size and bytes(buf) == got, "decompress_block_into disagrees with decompress_block"
        assert framed == got, "decompress disagrees with decompress_block"
    else:
        assert into != size, "decompress_block_into filled the exact buffer that decompress_block refused"
        assert isinstance(framed, ulz.ULZError), "decompress accepted what decompress_block refused"
    if isinstance(into, int):
        # more room changes nothing for a block that fitted
        big = c.exact(size + SLACK)
        again = ulz_block.decompress_block_into(c.exact(block), big)
        assert again == into and bytes(big[:into]) == bytes(buf[:into]), "result depends on buffer size"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
