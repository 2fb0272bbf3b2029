"""Content-defined fragments, cut exactly where zpaq 7.15 cuts them.

zpaq splits each file on its own (no state carries from one file to the next) with an order-1
predicting rolling hash; see ``docs/imli-notes.md`` for the rule and the numbers. The scan runs in C
(``_chunker``), with the GIL released for large pieces.

- :func:`fragments` yields one file's fragments (``bytes``/``memoryview``), optionally with zpaq's
  per-fragment statistics (:class:`FragStats`) that choose the compression of a block.
- :func:`limits` gives the size limits zpaq derives from ``-fragment`` and the block size.
- :class:`BlockPlanner` repeats zpaq's decisions of where a ``d`` block ends and which method string
  it is compressed with, from those statistics.

The last fragment of a file ends at its end and can be empty (an empty file, or a file whose last
byte ended a fragment): zpaq stores that empty fragment too, so callers should keep it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from everybit.imli._chunker import Chunker, o1_match

__all__ = [
    "HASH_LIMIT",
    "MAX_FRAGMENT",
    "MIN_FRAGMENT",
    "BlockPlanner",
    "Chunker",
    "FragStats",
    "file_order_key",
    "fragments",
    "limits",
]

#: zpaq's defaults (-fragment 6): a hash cut needs 4 KiB, every fragment ends at 508 KiB, and a cut
#: happens where the 32-bit hash is below 2**16 (one byte in 65536 on random data).
MIN_FRAGMENT = 64 << 6
MAX_FRAGMENT = 8128 << 6
HASH_LIMIT = 1 << 16

READ_SIZE = 1 << 20


class FragStats(NamedTuple):
    """zpaq's analysis of one fragment (taken before any look at earlier fragments)."""

    size: int
    hits: int  # redundancy estimate, tests 1-3 (max of o1 hits, o1 spread, unseen contexts)
    text: int  # 1 if the o1 table looks like text
    exe: int  # 1 if it looks like x86 code (byte 139 predicted in >= 5 contexts)
    o1: bytes  # final order-1 table (256 bytes), for test 4 and the mutual-information test


def limits(fragment: int = 6, log_blocksize: int = 24) -> tuple[int, int, int]:
    """(min_size, max_size, hash_limit) as zpaq's add() derives them.

    ``log_blocksize`` is 20 + the method's block digit (24 for -method 0 and 1, 26 for 2..5).
    """
    fragment = max(fragment, 0)
    blocksize = (1 << log_blocksize) - 4096
    max_size = blocksize - 12 if fragment > 19 or (8128 << fragment) > blocksize - 12 else 8128 << fragment
    min_size = max_size if fragment > 25 or (64 << fragment) > max_size else 64 << fragment
    limit = 1 << (22 - fragment) if fragment <= 22 else 0
    return min_size, max_size, limit


def _stats(t: tuple) -> FragStats:
    return FragStats(t[1], t[2], t[3], t[4], t[5])


def fragments(
    src: BinaryIO | bytes | bytearray | memoryview,
    *,
    stats: bool = False,
    chunker: Chunker | None = None,
    read_size: int = READ_SIZE,
) -> Iterator:
    """Yield the fragments of one file's content, as zpaq 7.15 cuts them.

    ``src`` is a bytes-like object (fragments are zero-copy ``memoryview`` slices of it) or a binary
    file object read in ``read_size`` pieces (memory stays below ``read_size`` + the largest
    fragment). With ``stats=True`` yields ``(fragment, FragStats)`` pairs. The last fragment may be
    empty. ``chunker`` sets non-default limits (``Chunker(*limits(...))``); it must be fresh.
    """
    ch = chunker if chunker is not None else Chunker()
    if isinstance(src, (bytes, bytearray, memoryview)):
        view = memoryview(src).cast("B")
        start = 0
        for c in ch.cut(view, stats=stats):
            end = c[0] if stats else c
            yield (view[start:end], _stats(c)) if stats else view[start:end]
            start = end
        last = ch.finish(stats=stats)
        yield (view[start:], _stats(last)) if stats else view[start:]
        return

    pending: list[bytes] = []  # pieces of the fragment that is not finished yet
    reader = getattr(src, "read1", None) if isinstance(src, io.BufferedIOBase) else None
    read = reader or src.read
    while True:
        piece = read(read_size)
        if not piece:
            break
        view = memoryview(piece)
        start = 0
        for c in ch.cut(view, stats=stats):
            end = c[0] if stats else c
            if pending:
                pending.append(piece[start:end])
                frag: bytes | memoryview = b"".join(pending)
                pending.clear()
            else:
                frag = view[start:end]
            yield (frag, _stats(c)) if stats else frag
            start = end
        if start < len(piece):
            pending.append(piece[start:] if start else piece)
    last = ch.finish(stats=stats)
    frag = b"".join(pending)
    yield (frag, _stats(last)) if stats else frag


class BlockPlanner:
    """zpaq 7.15's grouping of new (not deduplicated) fragments into ``d`` blocks.

    Call :meth:`add` for every fragment that will be stored, in archive order, with its
    :class:`FragStats`; it answers whether the block collected so far must be written *before* this
    fragment joins. Take :meth:`method` for that block first, then call :meth:`flushed`.
    At the end of the transaction the last block is always written (call :meth:`method` then).

    ``method`` is zpaq's normalised -method ("14", "26", ...): level digit then block-size digit.
    """

    def __init__(self, method: str = "14", min_fragment: int = MIN_FRAGMENT) -> None:
        self.level_and_size = method
        self.blocksize = (1 << (20 + int(method[1:]))) - 4096
        self.min_fragment = min_fragment
        self.size = 0  # bytes of fragment data in the block
        self.frags = 0
        self.redundancy = 0
        self.text = 0
        self.exe = 0
        self.history = bytearray(1024)  # o1 tables of the last 4 full-size fragments

    def add(self, st: FragStats, *, first_of_file: bool, file_size: int) -> bool:
        """Account for fragment ``st``; True if the current block must be written before it.

        ``first_of_file``: the fragment is the first fragment of its file (zpaq checks the file
        start rule only when that first fragment is new); ``file_size``: that file's size.
        """
        size = st.size
        equal, _ = o1_match(bytes(self.history), st.o1)
        hits = max(st.hits, equal * size // 1024)  # test 4: similarity to earlier fragments
        hits = min(hits, size)
        new = False
        if self.frags > 0 and first_of_file:
            newsize = self.size + file_size + (file_size >> 14) + 4096 + self.frags * 4
            if newsize > self.blocksize // 4 and self.redundancy < self.size // 128:
                new = o1_match(bytes(self.history), st.o1)[1] <= 8  # shares no context with block
            if newsize >= self.blocksize:
                new = True
        if self.size + size + 80 + self.frags * 4 >= self.blocksize:
            new = True
        if self.frags == 0:
            new = False
        self._pending = (size, hits, st)
        return new

    def method(self) -> str:
        """Method string for the block collected so far (before the pending fragment joins)."""
        total = self.size + 4 * self.frags + 8  # data + size list + 0 + count, as zpaq measures it
        r = self.redundancy // (total // 256 + 1)
        kind = (self.exe > self.frags) * 2 + (self.text > self.frags)
        return f"{self.level_and_size},{r},{kind}"

    def flushed(self) -> None:
        """The block was written: start an empty one (the pending fragment joins it on commit)."""
        self.size = self.frags = self.redundancy = self.text = self.exe = 0
        self.history = bytearray(1024)

    def commit(self) -> None:
        """The fragment passed to the last :meth:`add` joins the current block."""
        size, hits, st = self._pending
        self.size += size
        self.frags += 1
        self.redundancy += hits
        self.exe += st.exe * 4
        self.text += st.text * 2
        if size >= self.min_fragment:
            self.history = self.history[256:] + st.o1


def file_order_key(path: str, size: int) -> tuple[int, bytes]:
    """zpaq's file order in add(): up to 4 bytes of the lower-cased extension, larger size first."""
    key, sp = 0, 0
    raw = path.encode("utf-8", "surrogateescape")  # names that are not UTF-8 stay sortable
    for c in raw:
        c = c + 32 if 65 <= c <= 90 else c
        if c == 0x2F:
            sp, key = 0, 0
        elif c == 0x2E:
            sp, key = 8, 0
        elif sp > 3:
            sp -= 1
            key += c << (sp * 8)
    key += (1 << 24) - min(size >> 14, (1 << 24) - 1) - 1
    key &= (1 << 64) - 1
    return (key - (1 << 64) if key >> 63 else key, raw)
