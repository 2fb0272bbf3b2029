"""Fuzz target: imli's archive reader on arbitrary bytes: the block parser (``blocks.parse_block``,
``iter_blocks``, ``header_memory``, stored-block decoding), the journal (``journal.read_journal``: c, h
and i blocks, transactions), the i- and h-record and d-block parsers, and the decrypting reader.

Input layout: 1 control byte, then the archive bytes A. Control bits 0-1 pick how A is read:

- 0: as a plain archive;
- 1: encrypted with ``KEY`` and a fixed salt (as ``imli --key`` writes archives), then read back through
  ``crypto.open_encrypted_reader``: the journal must be the same as mode 0's, field by field;
- 2: as an encrypted archive's payload: the fixed salt, then A (wrong-key detection on arbitrary bytes);
- 3: as mode 0, and every block at a locator tag in A is parsed alone too.

Every call must return or raise an ``EverybitError`` (``BlockError``, ``CorruptDataError``, ``InputError``);
anything else (``IndexError``, ``struct.error``, ``MemoryError``, ``RecursionError``, ...) is a finding, as
are the harness's ``assert``s. The private record parsers (``journal._read_i``, ``_read_h``), called on A
directly, may also raise what ``read_journal`` turns into "damaged index" (``struct.error``,
``ValueError``, ``IndexError``), nothing else.

Stored blocks (no model, no program) are decoded in this process; every other block goes through
``everybit.imli.sandbox.Decoder`` with small budgets (64 MiB, 0.2 s), as every imli verb decodes them: the
budget check (``header_memory`` on the block's header) runs here, libzpaq in a worker process that is
killed when a block's program runs away, so no input can hang or exhaust the fuzzer.
"""

import io
import struct

if __name__ == "__main__":
    import atheris

    with atheris.instrument_imports(include=["everybit"]):
        from everybit.common.errors import EverybitError
        from everybit.imli import blocks, crypto, journal
else:
    from everybit.common.errors import EverybitError
    from everybit.imli import blocks, crypto, journal

KEY = "fuzz-key"
SALT = bytes([0x42]) * crypto.SALT_SIZE  # fixed: scrypt runs once (cached), not once per input
RECORD_ERRORS = (struct.error, ValueError, IndexError)  # what read_journal reports as a damaged index
MAX_TAGS = 16  # blocks parsed alone per input (mode 3)


def _decoder():
    from everybit.imli import sandbox

    return sandbox.Decoder(sandbox.Budget(max_memory=64 << 20, block_timeout=0.2))


DECODE = _decoder()


def _expect(fn, *args, also: tuple[type[BaseException], ...] = ()):
    """fn(*args), or the EverybitError (or one of ``also``) it raised; anything else propagates."""
    try:
        return fn(*args)
    except (EverybitError, *also) as exc:
        return exc


def _summary(j: journal.Journal) -> tuple:
    return (
        [(v.number, v.date, v.offset, v.first_fragment, v.entries) for v in j.versions],
        j.fragments,
        j.end,
        j.incomplete,
        j.damage,
    )


def _read(fp) -> journal.Journal | EverybitError:
    got = _expect(journal.read_journal, fp, DECODE)
    if isinstance(got, journal.Journal):
        size = fp.seek(0, 2)
        assert 0 <= got.end <= size, f"end {got.end} outside the {size}-byte archive"
        assert got.incomplete or got.end == size, "complete journal that stops before the end"
        assert [v.number for v in got.versions] == list(range(1, len(got.versions) + 1))
        for version in got.versions:
            for entry in version.entries:
                got.size_of(entry)
        for until in (None, 1):
            got.state(until)
    return got


def _blocks(data: bytes) -> None:
    """Every block of ``data`` in file order, as imli walks an archive it does not index."""
    fp = io.BytesIO(data)
    try:
        for block in blocks.iter_blocks(fp):
            assert block.size > 0 and block.offset + block.size <= len(data)
            _one(block)
    except EverybitError:
        pass


def _one(block: blocks.Block) -> None:
    _expect(blocks.header_memory, block.raw)
    if blocks.is_stored(block.raw):
        got = _expect(block.data)
        if isinstance(got, bytes):
            _expect(journal.d_block_fragments, got)
            _expect(journal._read_i, got, 1, also=RECORD_ERRORS)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    ctl, body = data[0], data[1:]
    mode = ctl & 3
    _blocks(body)
    _expect(journal.d_block_fragments, body)
    _expect(journal._read_i, body, 1, also=RECORD_ERRORS)
    _expect(journal._read_h, body, 1, 0, {}, also=RECORD_ERRORS)

    if mode == 2:
        fp = _expect(crypto.open_encrypted_reader, io.BytesIO(SALT + body), KEY)
        if not isinstance(fp, EverybitError):
            _read(fp)
        return
    plain = _read(io.BytesIO(body))
    if mode == 1:
        fp = _expect(
            crypto.open_encrypted_reader, io.BytesIO(crypto.encrypt_archive(body, KEY, salt=SALT)), KEY
        )
        if isinstance(fp, EverybitError):
            assert not crypto.plaintext_ok(body[: len(crypto.LOCATOR_TAG)]), (
                "the key check refused a good key"
            )
            return
        encrypted = _read(fp)
        if isinstance(plain, EverybitError):
            assert isinstance(encrypted, EverybitError), "readable encrypted, not plain"
        else:
            assert isinstance(encrypted, journal.Journal), f"readable plain, not encrypted: {encrypted}"
            assert _summary(encrypted) == _summary(plain), "the decrypting reader changes the journal"
    elif mode == 3:
        at, seen = body.find(blocks.TAG), 0
        while at >= 0 and seen < MAX_TAGS:
            block = _expect(blocks.parse_block, body, at)
            if isinstance(block, blocks.Block):
                assert block.offset == at and at + block.size <= len(body)
                _one(block)
            at, seen = body.find(blocks.TAG, at + 1), seen + 1


if __name__ == "__main__":
    try:
        from . import _common as c
    except ImportError:  # run as a script: tests/fuzz is sys.path[0]
        import _common as c

    c.fuzz(TestOneInput)
