"""Hostile ZPAQ journaling archives, built from code (nothing binary is committed).

Every case starts from a real archive that imli writes in a fresh folder (``_base``): version 1 holds
``t1/a.txt`` and ``t1/b.bin`` (method 1), version 2 holds ``t2/c.txt`` (method 1 or 3, one ``d`` block),
and ``t3/new.txt`` waits on disk for an ``add``. The builder then edits version 2 (or the whole file) the
way an attacker would: it keeps the SHA-1s consistent wherever the attack would (a checksum covers a
segment's *decoded* data, so replacing a program leaves it valid; changing stored data recomputes it)
and fixes the c block's d size and the h block's compressed size when a d block changes length, so a
reader really reaches the hostile block.

Facts used (ZPAQ level-2 spec, libzpaq 7.15): a block header is ``zPQ level=2 type=1 hsize:u16`` then
``hh hm ph pm n``, ``n`` components (bytes by type: CONST 2, CM 3, ICM 2, MATCH 3, AVG 4, MIX2 6, MIX 6,
ISSE 3, SSE 5), ``0``, the HCOMP program, ``0``; ``hsize`` counts every byte after itself. A block
without components stores its data in big-endian length-prefixed chunks ending with a zero length;
decoded data starts with ``0`` (no post-processor) or ``1 psize:u16 PCOMP`` (the post-processor program,
run on every decoded byte and once more with -1 at the end). libzpaq runs HCOMP after every decoded byte
of a modeled block. ZPAQL ``JMP N`` (63) adds ``((N + 128) & 255) - 127`` to the program counter, which
already points at N: ``63 254`` jumps to itself. Other opcodes used: ``A=0`` 4, ``OUT`` 57 (writes A's
low byte), ``HALT`` 56, ``A= N`` 71, ``A<<= N`` 207, ``A|= N`` 191, ``D=A`` 88, ``C=0`` 20, ``C++`` 17,
``A=C`` 66, ``A==D`` 219, ``JF N`` 47. libzpaq allocates a CM's 2^bits 4-byte counters (and writes
every one), an ICM's 2^bits 64-byte buckets (bits <= 26), and 4 x 2^hh + 2^hm bytes for HCOMP.

``CASES`` maps a case name to its builder: ``builder(root) -> Case`` writes ``root/<name>/hostile.zpaq``
(beside the ``t1``, ``t2``, ``t3`` trees it was made from) and returns a path-like ``Case`` holding the
path and a one-line description. Each builder's docstring says what a correct reader must do.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from everybit.imli import crypto, methods
from everybit.imli.archive import Archive
from everybit.imli.blocks import TAG, decode_block, iter_blocks
from everybit.imli.journal import c_block, journal_block

ARCHIVE = "hostile.zpaq"
KEY = "hostile-key"
SALT = bytes([0x42]) * crypto.SALT_SIZE  # fixed, so the encrypted case is the same every time
BASE_TIME = 1_622_548_800  # 2021-06-01 12:00:00 UTC: every file and folder gets this date

COMPSIZE = {1: 2, 2: 3, 3: 2, 4: 3, 5: 4, 6: 6, 7: 6, 8: 3, 9: 5}
CM, ICM = 2, 3
JMP_SELF = bytes([63, 254])  # JMP -1: back to the JMP itself
HALT = 56
EMIT_FOREVER = bytes([4, 57, 63, 253])  # A=0; OUT; JMP back to OUT


@dataclass(frozen=True)
class Case:
    """A built hostile archive: usable wherever a path is (``os.fspath``, ``open``, ``str``)."""

    path: Path
    description: str
    key: str | None = None

    @property
    def folder(self) -> Path:
        """Where the archive lies, beside ``t1`` (version 1's files), ``t2`` and ``t3`` (not archived)."""
        return self.path.parent

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return os.fspath(self.path)


# ---------------------------------------------------------------------------------------------- blocks


@dataclass
class Blk:
    """One single-segment block, split into the fields an attacker edits."""

    level: int
    kind: int  # the type byte
    arrays: bytes  # hh hm ph pm
    comps: list[bytes]
    hcomp: bytes  # without its closing 0
    name: bytes
    comment: bytes
    data: bytes  # the segment's coded data or stored chunks, terminator included
    sha1: bytes | None  # None: the segment ends with FE (no checksum)
    tag: bool = True

    @classmethod
    def parse(cls, raw: bytes) -> Blk:
        tag = raw.startswith(TAG)
        pos = len(TAG) if tag else 0
        if raw[pos : pos + 3] != b"zPQ":
            raise ValueError("not a block")
        level, kind = raw[pos + 3], raw[pos + 4]
        (hsize,) = struct.unpack_from("<H", raw, pos + 5)
        head = raw[pos + 7 : pos + 7 + hsize]
        arrays, n, p, comps = head[:4], head[4], 5, []
        for _ in range(n):
            size = COMPSIZE[head[p]]
            comps.append(head[p : p + size])
            p += size
        if head[p] != 0 or head[-1] != 0:
            raise ValueError("header does not parse")
        hcomp = head[p + 1 : -1]
        seg = pos + 7 + hsize
        name_end = raw.index(b"\x00", seg + 1)
        comment_end = raw.index(b"\x00", name_end + 1)
        start = comment_end + 2
        end = _stored_end(raw, start) if not comps else _coded_end(raw, start)
        sha1 = raw[end + 1 : end + 21] if raw[end] == 0xFD else None
        close = end + (21 if sha1 is not None else 1)
        if raw[seg] != 1 or raw[close:] != b"\xff":
            raise ValueError("not a single-segment block")
        return cls(
            level,
            kind,
            arrays,
            comps,
            hcomp,
            raw[seg + 1 : name_end],
            raw[name_end + 1 : comment_end],
            raw[start:end],
            sha1,
            tag,
        )

    def header(self) -> bytes:
        return self.arrays + bytes([len(self.comps)]) + b"".join(self.comps) + b"\x00" + self.hcomp + b"\x00"

    def bytes(self) -> bytes:
        head = self.header()
        return b"".join(
            (
                TAG if self.tag else b"",
                b"zPQ",
                bytes([self.level, self.kind]),
                struct.pack("<H", len(head)),
                head,
                b"\x01" + self.name + b"\x00" + self.comment + b"\x00\x00",
                self.data,
                b"\xfe" if self.sha1 is None else b"\xfd" + self.sha1,
                b"\xff",
            )
        )

    # Blocks without components: the data is stored in chunks; the payload starts with the PCOMP flag.
    def payload(self) -> bytes:
        assert not self.comps, "a modeled block's data is arithmetic-coded"
        parts, pos = [], 0
        while True:
            (n,) = struct.unpack_from(">I", self.data, pos)
            if not n:
                return b"".join(parts)
            parts.append(self.data[pos + 4 : pos + 4 + n])
            pos += 4 + n

    def with_payload(self, payload: bytes) -> Blk:
        return replace(self, data=struct.pack(">I", len(payload)) + payload + bytes(4))

    def pcomp(self) -> tuple[bytes, bytes]:
        """(PCOMP program, the data it post-processes) of an unmodeled block that has one."""
        payload = self.payload()
        if payload[:1] != b"\x01":
            raise AssertionError(f"{self.name!r}: expected a PCOMP program (zpaq's LZ77)")
        (psize,) = struct.unpack_from("<H", payload, 1)
        return payload[3 : 3 + psize], payload[3 + psize :]

    def with_pcomp(self, program: bytes, rest: bytes | None = None) -> Blk:
        rest = self.pcomp()[1] if rest is None else rest
        return self.with_payload(b"\x01" + struct.pack("<H", len(program)) + program + rest)


def _stored_end(raw: bytes, pos: int) -> int:
    while True:
        (n,) = struct.unpack_from(">I", raw, pos)
        pos += 4 + n
        if not n:
            return pos


def _coded_end(raw: bytes, pos: int) -> int:
    end = raw.index(bytes(4), pos) + 4
    while raw[end] == 0:
        end += 1
    return end


def _fill(program: bytes, size: int) -> bytes:
    """``program`` padded with HALTs (never reached) to ``size`` bytes, the last one the END 0."""
    if len(program) + 1 > size:
        raise AssertionError(f"no room for a {len(program)}-byte program in {size} bytes")
    return program + bytes([HALT]) * (size - len(program) - 1) + b"\x00"


def emit_zeros(count: int) -> bytes:
    """A PCOMP program that writes ``count`` (< 2^32) zero bytes and halts: D = count, then
    ``loop: A=0; OUT; C++; A=C; A==D; JF loop; HALT``."""
    b3, b2, b1, b0 = count.to_bytes(4, "big")
    load = [71, b3, 207, 8, 191, b2, 207, 8, 191, b1, 207, 8, 191, b0, 88, 20]  # D=count, C=0
    loop = [4, 57, 17, 66, 219, 47, 249, HALT]  # JF 249: back 6 bytes, to the A=0 at offset 16
    return bytes(load + loop) + b"\x00"


# ---------------------------------------------------------------------------------------------- journals


@dataclass
class JBlock:
    blk: Blk
    version: int  # 1-based: the transaction it belongs to (its place in the file)

    @property
    def letter(self) -> str:
        return chr(self.blk.name[17])

    @property
    def number(self) -> int:
        return int(self.blk.name[18:28])

    @property
    def date(self) -> int:
        return int(self.blk.name[3:17])

    @property
    def raw(self) -> bytes:
        return self.blk.bytes()


@dataclass
class Base:
    folder: Path
    blocks: list[JBlock] = field(default_factory=list)

    def find(self, letter: str, version: int = 2) -> JBlock:
        return next(b for b in self.blocks if b.letter == letter and b.version == version)

    def offset(self, target: JBlock) -> int:
        return sum(len(b.raw) for b in self.blocks[: self.blocks.index(target)])

    def data(self) -> bytes:
        return b"".join(b.raw for b in self.blocks)

    def write(self, description: str, data: bytes | None = None) -> Case:
        path = self.folder / ARCHIVE
        path.write_bytes(self.data() if data is None else data)
        return Case(path, description)

    def fix_sizes(self, version: int = 2) -> None:
        """After a d block changed length: the c block's d size and each h block's compressed size."""
        ds = {b.number: len(b.raw) for b in self.blocks if b.version == version and b.letter == "d"}
        for b in self.blocks:
            if b.version != version:
                continue
            if b.letter == "c":
                b.blk = Blk.parse(c_block(b.date, b.number, sum(ds.values())))
            elif b.letter == "h" and b.number in ds:
                data = stored_data(b.blk)
                b.blk = Blk.parse(
                    journal_block(b.date, "h", b.number, struct.pack("<I", ds[b.number]) + data[4:])
                )


def stored_data(blk: Blk) -> bytes:
    payload = blk.payload()
    assert payload[:1] == b"\x00" and not blk.hcomp and blk.arrays == bytes(4), "not a stored block"
    return payload[1:]


def block_data(blk: Blk) -> bytes:
    """The decoded data of a block of the (trusted) base archive, through libzpaq."""
    return decode_block(blk.bytes())


def _text(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    words = b"archive journal fragment block version hostile program model the of and to a".split()
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)
    os.utime(path, (BASE_TIME, BASE_TIME))


def _base(root: Path, name: str, method: int = 1) -> Base:
    """A two-version archive made by imli in ``root/name`` (v2 with ``method``), split into blocks."""
    folder = root / name
    _write(folder / "t1/a.txt", _text(20_000, 1))
    _write(folder / "t1/b.bin", random.Random(2).randbytes(3_000))
    _write(folder / "t2/c.txt", _text(12_000, 3))
    _write(folder / "t3/new.txt", b"a new file, for add\n")
    for d in ("t1", "t2", "t3"):
        os.utime(folder / d, (BASE_TIME, BASE_TIME))
    with contextlib.chdir(folder):
        Archive(ARCHIVE).add(["t1"], method=1, quiet=True)
        Archive(ARCHIVE).add(["t2"], method=method, quiet=True)
    base = Base(folder)
    version = 0
    with open(folder / ARCHIVE, "rb") as fp:
        for block in iter_blocks(fp):
            blk = Blk.parse(block.raw)
            version += blk.name[17:18] == b"c"
            base.blocks.append(JBlock(blk, version))
    assert [b.letter for b in base.blocks] == list("cdhicdhi"), "expected c d h i, twice"
    assert base.data() == (folder / ARCHIVE).read_bytes(), "the block parser does not round-trip"
    return base


def _loop_hcomp(blk: Blk) -> Blk:
    assert blk.comps and len(blk.hcomp) >= 2, "HCOMP only runs in a block with components"
    return replace(blk, hcomp=JMP_SELF + bytes([HALT]) * (len(blk.hcomp) - 2))


def _loop_pcomp(blk: Blk, program: bytes = JMP_SELF) -> Blk:
    code, _ = blk.pcomp()
    return blk.with_pcomp(_fill(program, len(code)))


def _reencode(jb: JBlock, data: bytes, method: str) -> Blk:
    """``jb`` with ``data``, compressed by libzpaq with ``method`` (same name and comment)."""
    return Blk.parse(journal_block(jb.date, jb.letter, jb.number, data, methods.compressor(method)))


def _i_records(data: bytes) -> list[list]:
    """[date, name, attr, [fragment ids]] per i-block record."""
    out, pos = [], 0
    while pos < len(data):
        (date,) = struct.unpack_from("<Q", data, pos)
        end = data.index(b"\x00", pos + 8)
        name, pos = data[pos + 8 : end], end + 1
        if not date:
            out.append([0, name, b"", []])
            continue
        (alen,) = struct.unpack_from("<I", data, pos)
        attr = data[pos + 4 : pos + 4 + alen]
        pos += 4 + alen
        (n,) = struct.unpack_from("<I", data, pos)
        out.append([date, name, attr, list(struct.unpack_from(f"<{n}I", data, pos + 4))])
        pos += 4 + 4 * n
    return out


def _i_data(records: list[list], counts: dict[bytes, int] | None = None) -> bytes:
    """Records back to i-block data; ``counts`` overrides a record's fragment count field."""
    out = b""
    for date, name, attr, ids in records:
        out += struct.pack("<Q", date) + name + b"\x00"
        if date:
            n = (counts or {}).get(name, len(ids))
            out += struct.pack("<I", len(attr)) + attr + struct.pack(f"<I{len(ids)}I", n, *ids)
    return out


def _edit_i(base: Base, counts: dict[bytes, int] | None = None, ids: dict[bytes, list[int]] | None = None):
    jb = base.find("i")
    records = _i_records(block_data(jb.blk))
    for r in records:
        r[3] = (ids or {}).get(r[1], r[3])
    jb.blk = _reencode(jb, _i_data(records, counts), "1")  # as imli and zpaq write i blocks


# ---------------------------------------------------------------------------------------------- (a) (b) (c)


def d_hcomp_loop(root: Path) -> Case:
    """Version 2's d block (method 3: a CM model) has an HCOMP that jumps to itself; libzpaq runs HCOMP
    after the first decoded byte and never returns. The index is intact.

    A correct reader: list, versions, compare, add and delete never decode d blocks and succeed; test,
    extract and purge stop the block after --block-timeout, report it on one line and exit 1 (extract
    still writes version 1's files, and nothing partial)."""
    base = _base(root, "d_hcomp_loop", method=3)
    d = base.find("d")
    d.blk = _loop_hcomp(d.blk)
    return base.write("v2's d block (CM model): HCOMP is 'JMP -1'")


def d_pcomp_loop(root: Path) -> Case:
    """Version 2's d block (method 1: LZ77, no model) has a PCOMP post-processor that jumps to itself;
    libzpaq runs it on the first byte of data and never returns. The index is intact.

    A correct reader: as for ``d_hcomp_loop``."""
    base = _base(root, "d_pcomp_loop")
    d = base.find("d")
    d.blk = _loop_pcomp(d.blk)
    return base.write("v2's d block (LZ77): PCOMP is 'JMP -1'")


def i_pcomp_loop(root: Path) -> Case:
    """Version 2's i block (compressed with method 1, as zpaq writes them) has a PCOMP that jumps to
    itself: reading the index of version 2 never ends in libzpaq.

    A correct reader: every verb stops the block after --block-timeout; reading verbs (list, versions,
    compare, extract, purge) work on version 1, then exit 1 with one line naming the block (or 0 with
    one warning); test exits 1; add and delete refuse with one line (the archive unchanged)."""
    base = _base(root, "i_pcomp_loop")
    i = base.find("i")
    i.blk = _loop_pcomp(i.blk)
    return base.write("v2's i block: PCOMP is 'JMP -1'")


def h_hcomp_loop(root: Path) -> Case:
    """Version 2's h block (normally stored) is re-encoded with a CM model (method 3) whose HCOMP jumps to
    itself. zpaq reads any block the same way, so an h block may be compressed.

    A correct reader: as for ``i_pcomp_loop`` (the index of version 2 cannot be read)."""
    base = _base(root, "h_hcomp_loop")
    h = base.find("h")
    h.blk = _loop_hcomp(_reencode(h, stored_data(h.blk), "3"))
    return base.write("v2's h block, compressed with a CM model: HCOMP is 'JMP -1'")


def i_output_bomb(root: Path) -> Case:
    """Version 2's i block has a PCOMP that writes zero bytes forever (A=0; OUT; JMP back): it runs away
    while its memory grows, so a watchdog that only looks for a program spinning in place misses it.

    A correct reader: as for ``i_pcomp_loop``, and its memory stays bounded (the output is capped by
    the size the block's comment declares, as zpaq 7.15 does: "Write error", or by --max-memory)."""
    base = _base(root, "i_output_bomb")
    i = base.find("i")
    i.blk = _loop_pcomp(i.blk, EMIT_FOREVER)
    return base.write("v2's i block: PCOMP writes zeros forever")


# ---------------------------------------------------------------------------------------------- (d) (e)


def d_huge_model(root: Path) -> Case:
    """Version 2's d block declares 4 CM components of 2^28 counters (libzpaq allocates and fills 4 GiB),
    with its HCOMP and coded data unchanged; the header size field, the c block's d size and the h
    block's compressed size are fixed to match.

    A correct reader refuses the block from its header alone (over --max-memory, default 1 GiB)
    without allocating it: test, extract and purge exit 1 with one line; the other verbs succeed."""
    base = _base(root, "d_huge_model", method=3)
    d = base.find("d")
    d.blk = replace(d.blk, comps=[bytes([CM, 28, 255])] * 4)
    base.fix_sizes()
    return base.write("v2's d block: 4 CM components of 2^28 entries (4 GiB)")


def i_huge_model(root: Path) -> Case:
    """Version 2's i block is re-encoded with a model (method 3), then its header asks for an ICM of 2^26
    buckets (4 GiB) and a CM of 2^30 counters (4 GiB), its HCOMP unchanged.

    A correct reader refuses the block from its header, without allocating: as for ``i_pcomp_loop``,
    and no verb runs out of memory."""
    base = _base(root, "i_huge_model")
    i = base.find("i")
    blk = _reencode(i, block_data(i.blk), "3")
    assert len(blk.comps) == 2
    i.blk = replace(blk, comps=[bytes([ICM, 26]), bytes([CM, 30, 255])])
    return base.write("v2's i block: an ICM of 2^26 and a CM of 2^30 entries (8 GiB)")


# ---------------------------------------------------------------------------------------------- (f)


def h_huge_fragment_size(root: Path) -> Case:
    """Version 2's h block (stored, SHA-1 recomputed) says its fragment is 0xFFFFFFFF bytes long; the d
    block holds the real 12,000-byte fragment, whose SHA-1 matches the h block's.

    A correct reader allocates nothing by that size. Either it reads the h block (list and versions
    may show the size; add, delete and compare succeed) and test, extract and purge find that the
    fragment does not have the size the index gives and report the file on one line, exit 1, no
    partial file; or it refuses the h block, as zpaq 7.15 does ("fragment too big"), and behaves as
    for ``i_pcomp_loop``."""
    base = _base(root, "h_huge_fragment_size")
    h = base.find("h")
    data = bytearray(stored_data(h.blk))
    assert len(data) == 4 + 24, "one fragment"
    data[24:28] = struct.pack("<I", 0xFFFFFFFF)
    h.blk = Blk.parse(journal_block(h.date, "h", h.number, bytes(data)))
    return base.write("v2's h block: fragment size 0xFFFFFFFF")


def h_fragment_count_bomb(root: Path) -> Case:
    """Version 2's h block is replaced by a 400-byte block whose PCOMP writes 2,400,000,004 zero bytes:
    the length implies 10^8 fragments (4 + 24 x 10^8), which its comment declares honestly; it has no
    checksum (FE, which the format allows).

    A correct reader refuses it (the declared size is over the memory budget) or stops it; never holds
    2.4 GB nor builds 10^8 fragment records: as for ``i_pcomp_loop``. (zpaq 7.15 decodes it: its
    memory grows by about 200 MB/s.)"""
    base = _base(root, "h_fragment_count_bomb")
    h, model = base.find("h"), base.find("i").blk  # an i block: zpaq's method-1 header, with PCOMP
    size = 4 + 24 * 10**8
    bomb = replace(model, name=h.blk.name, comment=f"{size} jDC\x01".encode(), sha1=None)
    h.blk = bomb.with_pcomp(emit_zeros(size), b"")
    return base.write("v2's h block: PCOMP writes 2.4 GB (10^8 fragments)")


def i_huge_fragment_count(root: Path) -> Case:
    """Version 2's i block (method 1, as written by zpaq) has a record whose fragment count is 2^32-1,
    followed by the single real id.

    A correct reader does not try to read 2^32-1 ids: the index of version 2 is damaged, as for
    ``i_pcomp_loop``."""
    base = _base(root, "i_huge_fragment_count")
    _edit_i(base, counts={b"t2/c.txt": 0xFFFFFFFF})
    return base.write("v2's i block: a record claiming 2^32-1 fragment ids")


def i_missing_fragments(root: Path) -> Case:
    """Version 2's i block lists t2/c.txt with fragment ids 10^9 and 2^32-1, which no h block defines.

    A correct reader: list, versions, compare, add and delete succeed (list may show size 0); test,
    extract and purge report t2/c.txt on one line and exit 1 (purge must not silently drop it)."""
    base = _base(root, "i_missing_fragments")
    _edit_i(base, ids={b"t2/c.txt": [10**9, 0xFFFFFFFF]})
    return base.write("v2's i block: fragment ids that do not exist")


# ---------------------------------------------------------------------------------------------- (g) (h) (i)


def truncated_in_d(root: Path) -> Case:
    """The file ends in the middle of version 2's d block (an interrupted copy, or an attacker).

    A correct reader: version 1 is readable, as for ``i_pcomp_loop``."""
    base = _base(root, "truncated_in_d")
    d = base.find("d")
    return base.write("cut in the middle of v2's d block", base.data()[: base.offset(d) + len(d.raw) // 2])


def truncated_in_i(root: Path) -> Case:
    """The file ends in the middle of version 2's i block.

    A correct reader: version 1 is readable, as for ``i_pcomp_loop``."""
    base = _base(root, "truncated_in_i")
    i = base.find("i")
    return base.write("cut in the middle of v2's i block", base.data()[: base.offset(i) + len(i.raw) // 2])


def reordered_i_before_h(root: Path) -> Case:
    """Version 2's blocks come as c d i h: every block is intact and the c block's d size is right.

    zpaq 7.15 reads h and i blocks in any order within a transaction (it lists and extracts every file),
    and so must a correct reader: every verb behaves as on an intact archive (exit 0)."""
    base = _base(root, "reordered_i_before_h")
    h, i = base.find("h"), base.find("i")
    a, b = base.blocks.index(h), base.blocks.index(i)
    base.blocks[a], base.blocks[b] = i, h
    return base.write("v2's i block before its h block")


def reordered_d_after_i(root: Path) -> Case:
    """Version 2's blocks come as c h i d; the c block still gives the d size, so skipping it lands in
    the middle of a block.

    A correct reader: version 1 is readable, as for ``i_pcomp_loop``."""
    base = _base(root, "reordered_d_after_i")
    d = base.find("d")
    base.blocks.remove(d)
    base.blocks.append(d)
    c = base.find("c")
    landing = base.offset(c) + len(c.raw) + len(d.raw)
    assert landing not in {base.offset(b) for b in base.blocks}, "lands on a block by chance"
    return base.write("v2's d block after its i block")


def reordered_c_swapped(root: Path) -> Case:
    """The c blocks of versions 1 and 2 are swapped (they have the same size): the first transaction's
    d size is version 2's, so skipping its d blocks lands in the middle of a block.

    A correct reader finds nothing readable: every verb exits 1 with one line; add and delete refuse
    and leave the archive unchanged."""
    base = _base(root, "reordered_c_swapped")
    c1, c2 = base.find("c", 1), base.find("c", 2)
    assert len(c1.raw) == len(c2.raw)
    a, b = base.blocks.index(c1), base.blocks.index(c2)
    base.blocks[a], base.blocks[b] = c2, c1
    landing = len(c2.raw) + struct.unpack("<q", stored_data(c2.blk))[0]
    assert landing not in {base.offset(x) for x in base.blocks}, "lands on a block by chance"
    return base.write("the c blocks of v1 and v2 swapped")


def c_dsize_past_eof(root: Path) -> Case:
    """Version 2's c block (stored, SHA-1 recomputed) gives a d size of 2^63-1, far past the end of file.

    A correct reader does not seek or read there: version 1 is readable, as for ``i_pcomp_loop``."""
    base = _base(root, "c_dsize_past_eof")
    c = base.find("c")
    c.blk = Blk.parse(c_block(c.date, c.number, 2**63 - 1))
    return base.write("v2's c block: d size 2^63-1")


# ---------------------------------------------------------------------------------------------- (j)


def _bad_byte(root: Path, name: str, letter: str, level: int | None, kind: int | None) -> Case:
    base = _base(root, name)
    jb = base.find(letter)
    jb.blk = replace(
        jb.blk, level=jb.blk.level if level is None else level, kind=jb.blk.kind if kind is None else kind
    )
    what = f"level byte {level}" if level is not None else f"type byte {kind}"
    return base.write(f"v2's {letter} block: {what}")


def bad_level_c(root: Path) -> Case:
    """Version 2's c block has level byte 3 (zpaq knows levels 1 and 2; the header is not covered by the
    SHA-1). A correct reader: version 1 is readable, as for ``i_pcomp_loop``."""
    return _bad_byte(root, "bad_level_c", "c", 3, None)


def bad_type_d(root: Path) -> Case:
    """Version 2's d block has type byte 2 (only 1 exists). A correct reader: the index is intact; test,
    extract and purge report t2/c.txt on one line and exit 1, as for ``d_hcomp_loop``."""
    return _bad_byte(root, "bad_type_d", "d", None, 2)


def bad_level_h(root: Path) -> Case:
    """Version 2's h block has level byte 3. A correct reader: as for ``i_pcomp_loop``."""
    return _bad_byte(root, "bad_level_h", "h", 3, None)


def bad_type_i(root: Path) -> Case:
    """Version 2's i block has type byte 2. A correct reader: as for ``i_pcomp_loop``."""
    return _bad_byte(root, "bad_type_i", "i", None, 2)


# ---------------------------------------------------------------------------------------------- (k) (l)


def encrypted_i_loop(root: Path) -> Case:
    """``i_pcomp_loop``, encrypted with key ``KEY`` exactly as ``imli --key`` (zpaq -key) writes archives:
    a 32-byte salt, then AES-256-CTR (written through ``crypto.open_encrypted_writer``).

    A correct reader given the key: as for ``i_pcomp_loop``; the decrypting layer changes nothing."""
    plain = i_pcomp_loop(root / "plain")
    base = _base(root, "encrypted_i_loop")  # the trees beside it, for compare and add
    out = io.BytesIO()
    writer = crypto.open_encrypted_writer(out, KEY, salt=SALT)
    writer.write(plain.path.read_bytes())
    writer.flush()
    (base.folder / ARCHIVE).write_bytes(out.getvalue())
    return Case(base.folder / ARCHIVE, f"i_pcomp_loop encrypted with --key {KEY}", KEY)


def d_huge_declared_size(root: Path) -> Case:
    """Version 2's d block declares 999,999,999,999,999 decoded bytes in its comment (``<size> jDC\\x01``,
    outside the SHA-1) and its PCOMP writes zeros forever. A reader that sizes its time or memory
    allowance from the comment would let it run for years, or until the machine runs out of memory.

    A correct reader does not trust the comment: test, extract and purge stop the block within
    --block-timeout (plus the allowance for what the block can really hold), with bounded memory,
    and exit 1 with one line; the other verbs succeed."""
    base = _base(root, "d_huge_declared_size")
    d = base.find("d")
    d.blk = replace(_loop_pcomp(d.blk, EMIT_FOREVER), comment=b"999999999999999 jDC\x01")
    base.fix_sizes()
    return base.write("v2's d block: comment declares 10^15 bytes; PCOMP writes zeros forever")


CASES: dict[str, Callable[[Path], Case]] = {
    f.__name__: f
    for f in (
        d_hcomp_loop,
        d_pcomp_loop,
        i_pcomp_loop,
        h_hcomp_loop,
        i_output_bomb,
        d_huge_model,
        i_huge_model,
        h_huge_fragment_size,
        h_fragment_count_bomb,
        i_huge_fragment_count,
        i_missing_fragments,
        truncated_in_d,
        truncated_in_i,
        reordered_i_before_h,
        reordered_d_after_i,
        reordered_c_swapped,
        c_dsize_past_eof,
        bad_level_c,
        bad_type_d,
        bad_level_h,
        bad_type_i,
        encrypted_i_loop,
        d_huge_declared_size,
    )
}


def build_all(root: Path) -> dict[str, Case]:
    return {name: build(root) for name, build in CASES.items()}
