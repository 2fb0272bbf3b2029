"""The journaling layer of ZPAQ: transactions of c, d, h and i blocks, read into an index and written.

A transaction (one version) is a ``c`` block holding the byte size of the ``d`` blocks after it (-1
while it is being written), the ``d`` blocks (fragment data), one ``h`` block per ``d`` block (its
compressed size, then SHA-1 and size of each fragment) and ``i`` blocks (one record per file: date,
name, attributes, fragment ids; date 0 marks a deletion). Reading skips ``d`` blocks by the sizes
that ``c`` and ``h`` give, so listing never touches file contents.
"""

from __future__ import annotations

import calendar
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from everybit.imli.blocks import Block, BlockError, read_block, stored_block

Decode = Callable[[Block, str, int], bytes]  # (block, what to call it in errors, declared size) -> data

NAME_LEN = 28  # "jDC" + 14-digit date + type letter + 10-digit number


@dataclass
class Fragment:
    sha1: bytes
    size: int
    block: int  # file offset of its d block
    block_size: int  # that d block's size in the archive
    index: int  # position among the d block's fragments


@dataclass
class Entry:
    """One i-block record: a file or directory as of one version (date 0: deleted then)."""

    path: str
    date: int  # YYYYMMDDHHMMSS (UTC) as an integer
    attr: bytes
    fragments: list[int]
    version: int

    @property
    def deleted(self) -> bool:
        return self.date == 0

    @property
    def is_dir(self) -> bool:
        return self.path.endswith("/")

    @property
    def mode(self) -> int | None:
        """Unix permission and type bits, when the attributes carry them."""
        if len(self.attr) >= 3 and self.attr[:1] == b"u":
            return int.from_bytes(self.attr[1:3], "little")
        return None


@dataclass
class Version:
    number: int  # 1-based
    date: int
    offset: int  # of its c block
    first_fragment: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Journal:
    versions: list[Version] = field(default_factory=list)
    fragments: dict[int, Fragment] = field(default_factory=dict)
    end: int = 0  # offset after the last complete transaction
    incomplete: bool = False  # bytes after `end` belong to an unfinished or damaged transaction
    damage: str | None = None  # why reading stopped at `end`, when a block there failed to parse or decode
    tail: str | None = None  # what follows `end` (set by Archive.journal): None (unfinished) or "damaged"

    @property
    def next_fragment(self) -> int:
        return max(self.fragments, default=0) + 1

    def state(self, until: int | None = None) -> dict[str, Entry]:
        """Each path's latest record up to version ``until`` (all by default), deletions dropped."""
        files: dict[str, Entry] = {}
        for version in self.versions[:until]:
            for entry in version.entries:
                files[entry.path] = entry
        return {p: e for p, e in files.items() if not e.deleted}

    def size_of(self, entry: Entry) -> int:
        return sum(self.fragments[f].size for f in entry.fragments if f in self.fragments)


def date_of(timestamp: float) -> int:
    """A POSIX time as zpaq's decimal YYYYMMDDHHMMSS in UTC."""
    return int(datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y%m%d%H%M%S"))


def timestamp_of(date: int) -> float:
    """zpaq's YYYYMMDDHHMMSS (UTC) as a POSIX time (ValueError for a date that is not one)."""
    parts = []
    for unit in (100, 100, 100, 100, 100):  # seconds, minutes, hours, day, month; the rest is the year
        date, part = divmod(date, unit)
        parts.append(part)
    second, minute, hour, day, month = parts
    datetime(date, month, day, hour, minute, second)  # validates (strptime did)
    return float(calendar.timegm((date, month, day, hour, minute, second)))


def block_name(date: int, kind: str, number: int) -> bytes:
    return f"jDC{date:014d}{kind}{number:010d}".encode()


def describe(block: Block) -> str:
    """How errors name a block: "i block 2 at offset 1234" for journaling blocks."""
    kind = _journal_kind(block)
    where = f"block at offset {block.offset}"
    return f"{kind[0]} {where.replace('block', f'block {kind[1]}', 1)}" if kind else where


def declared_size(block: Block) -> int:
    """The data size a journaling block's comment declares ("<size> jDC\\x01"), 0 when it has none."""
    words = block.segments[0].comment.split(b" ", 1) if block.segments else []
    return int(words[0]) if words and words[0].isdigit() and len(words[0]) < 16 else 0


def _journal_kind(block: Block) -> tuple[str, int] | None:
    """(type letter, number) of a journaling block, None for any other block."""
    if len(block.segments) != 1:
        return None
    name = block.segments[0].name
    if len(name) != NAME_LEN or not name.startswith(b"jDC") or not (name[3:17] + name[18:28]).isdigit():
        return None
    return chr(name[17]), int(name[18:28])


def read_journal(fp: BinaryIO, decode: Decode) -> Journal:
    """Index every complete transaction; stop (marking ``incomplete``) at the first that is not.

    ``decode`` turns c, h and i blocks into their data: ``sandbox.Decoder`` (memory and time budgets),
    since a block's own program could run for ever in this process."""
    journal = Journal()
    size = fp.seek(0, 2)
    pos = 0
    while pos < size:
        try:
            block = read_block(fp, pos)
        except BlockError as exc:
            journal.incomplete, journal.damage = True, str(exc)
            break
        kind = _journal_kind(block)
        if kind is None:  # a non-journaling block (zpaq's streaming format): not part of any version
            pos += block.size
            journal.end = pos
            continue
        if kind[0] != "c":
            journal.incomplete = True
            journal.damage = f"{describe(block)}: a {kind[0]} block where a transaction should start"
            break
        try:
            pos = _read_transaction(fp, block, kind[1], size, journal, decode)
        except BlockError as exc:  # a damaged, refused or runaway c, h or i block
            journal.incomplete, journal.damage = True, str(exc)
            break
        except (struct.error, ValueError, IndexError):  # records that do not parse
            journal.incomplete, journal.damage = True, f"transaction at offset {block.offset}: damaged index"
            break
        if pos < 0:
            journal.incomplete = True
            break
        journal.end = pos
    return journal


def _read_transaction(
    fp: BinaryIO, cblock: Block, first: int, size: int, journal: Journal, decode: Decode
) -> int:
    """Reads one transaction from its c block; returns the offset after it, -1 if it is unfinished."""
    (dsize,) = struct.unpack("<q", decode(cblock, describe(cblock), 8)[:8])
    dstart = cblock.offset + cblock.size
    if dsize < 0 or dstart + dsize > size:
        return -1
    date = int(cblock.segments[0].name[3:17])
    version = Version(len(journal.versions) + 1, date, cblock.offset, first)
    pos, dpos = dstart + dsize, dstart
    fragments: dict[int, Fragment] = {}
    seen_index = False
    while pos < size:
        try:
            block = read_block(fp, pos)
        except BlockError:
            if not seen_index:
                raise
            break  # this transaction is whole (it has its index); the damage starts the next one
        kind = _journal_kind(block)
        if kind is None or kind[0] == "c":
            break
        seen_index = seen_index or kind[0] == "i"
        if kind[0] in "hi":
            data = decode(block, describe(block), declared_size(block))
            if kind[0] == "h":
                dpos = _read_h(data, kind[1], dpos, fragments)
            else:
                version.entries.extend(_read_i(data, version.number))
        pos += block.size
    journal.fragments.update(fragments)
    journal.versions.append(version)
    return pos


def _read_h(data: bytes, first: int, dpos: int, out: dict[int, Fragment]) -> int:
    (csize,) = struct.unpack_from("<I", data, 0)
    count = (len(data) - 4) // 24
    for k in range(count):
        sha1 = data[4 + 24 * k : 24 + 24 * k]
        (fsize,) = struct.unpack_from("<I", data, 24 + 24 * k)
        out[first + k] = Fragment(sha1, fsize, dpos, csize, k)
    return dpos + csize


def _read_i(data: bytes, version: int) -> list[Entry]:
    entries, pos = [], 0
    while pos < len(data):
        (date,) = struct.unpack_from("<Q", data, pos)
        end = data.index(b"\x00", pos + 8)
        path = data[pos + 8 : end].decode("utf-8", "surrogateescape")
        pos = end + 1
        if date == 0:
            entries.append(Entry(path, 0, b"", [], version))
            continue
        (alen,) = struct.unpack_from("<I", data, pos)
        attr = data[pos + 4 : pos + 4 + alen]
        pos += 4 + alen
        (n,) = struct.unpack_from("<I", data, pos)
        frags = list(struct.unpack_from(f"<{n}I", data, pos + 4))
        pos += 4 + 4 * n
        entries.append(Entry(path, date, attr, frags, version))
    return entries


def d_block_fragments(data: bytes | memoryview) -> list[bytes | memoryview]:
    """The fragments stored in a decoded d block (bytes, then sizes, then 0 and the count): slices of
    ``data``, so views when it is a memoryview."""
    if len(data) < 8:
        raise BlockError("d block too short")
    (count,) = struct.unpack_from("<I", data, len(data) - 4)
    table = len(data) - 8 - 4 * count
    if table < 0:
        raise BlockError("d block fragment table is damaged")
    sizes = struct.unpack_from(f"<{count}I", data, table)
    if sum(sizes) != table:
        raise BlockError("d block sizes do not add up")
    out, pos = [], 0
    for s in sizes:
        out.append(data[pos : pos + s])
        pos += s
    return out


def d_block_data(fragments: list[bytes]) -> bytes:
    sizes = struct.pack(f"<{len(fragments)}I", *(len(f) for f in fragments))
    return b"".join((*fragments, sizes, struct.pack("<II", 0, len(fragments))))


def h_block_data(compressed_size: int, fragments: list[tuple[bytes, int]]) -> bytes:
    return struct.pack("<I", compressed_size) + b"".join(sha1 + struct.pack("<I", n) for sha1, n in fragments)


def i_record(entry: Entry) -> bytes:
    head = struct.pack("<Q", entry.date) + entry.path.encode("utf-8", "surrogateescape") + b"\x00"
    if entry.deleted:
        return head
    frags = struct.pack(f"<I{len(entry.fragments)}I", len(entry.fragments), *entry.fragments)
    return head + struct.pack("<I", len(entry.attr)) + entry.attr + frags


def journal_block(date: int, kind: str, number: int, data: bytes, compress=None) -> bytes:
    """A c/d/h/i block: its jDC name, the "<size> jDC\\x01" comment, stored or compressed by ``compress``."""
    name, comment = block_name(date, kind, number), f"{len(data)} jDC\x01".encode()
    return compress(name, comment, data) if compress else stored_block(name, comment, data)


def c_block(date: int, first: int, dsize: int) -> bytes:
    return journal_block(date, "c", first, struct.pack("<q", dsize))
