"""Fuzz target: ``ulz.block.decompress`` on arbitrary bytes (size header + sequences).

Every input must either decode or raise ``ULZError``; any other exception, a crash or a sanitizer
report is a finding. Differential checks: ``decompress_into`` (into an exact-size buffer) and
``decompress_block`` of the same sequences must give the same outcome and the same bytes.

Run through ``tests/fuzz/run.sh`` (sanitized build). ``TestOneInput`` is plain Python, so
``test_fuzz_smoke.py`` calls it without atheris.
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


def TestOneInput(data: bytes) -> None:
    got = c.outcome(ulz_block.decompress, c.exact(data), c.MAX_OUT)
    header = c.read_varint(data)
    if header is None or header[0] > c.MAX_OUT:
        assert isinstance(got, ulz.ULZError), "bad or too large size header accepted"
        return
    size, hdr = header
    buf = c.exact(size)
    into = c.outcome(ulz_block.decompress_into, c.exact(data), buf)
    block = c.outcome(ulz_block.decompress_block, c.exact(data[hdr:]), size)
    if size:
        small = c.outcome(ulz_block.decompress_into, c.exact(data), c.exact(size - 1))
        assert isinstance(small, ulz.ULZError), "decompress_into wrote into a buffer one byte too small"
    if isinstance(got, bytes):
        assert len(got) == size, (len(got), size)
        assert into == size and bytes(buf) == got, "decompress_into disagrees with decompress"
        assert block == got, "decompress_block disagrees with decompress"
    else:
        assert isinstance(into, ulz.ULZError), "decompress_into accepted what decompress refused"
        assert isinstance(block, ulz.ULZError), "decompress_block accepted what decompress refused"


if __name__ == "__main__":
    c.fuzz(TestOneInput)
