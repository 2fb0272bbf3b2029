"""The framed ULZ format (``.ulz`` files): data of any size as independent, checksummed blocks.

Byte layout: docs/ulz-format.md, "Framed format". Blocks are cut at fixed multiples of the block size
and compressed independently, so N threads work on N blocks at once and the output is byte-identical
for every thread count. At most 2 x threads blocks are in flight, so memory stays near
block size x threads x 2 whatever the input size. Concatenated frames decode to the concatenated
contents, as with gzip. Every defect of a frame raises ``ULZError`` naming the block and offset.
"""

from __future__ import annotations

import struct
import sys
from collections import deque

from everybit.common.codecfile import CodecFile, PathOrFile, decode_file, encode_file
from everybit.common.parallel import Pipeline, available_cores, resolve_threads
from everybit.ulz._ulz import MAX_LEVEL, ULZError, compress_block, decompress_block, xxh64

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAGIC",
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "SUFFIX",
    "Compressor",
    "Decompressor",
    "ULZFile",
    "available_cores",
    "compress",
    "compress_file",
    "decompress",
    "decompress_file",
    "open",
]

MAGIC = b"\x89ULZ"
VERSION = 1
MIN_BLOCK_SIZE = 1 << 16
MAX_BLOCK_SIZE = 1 << 26
DEFAULT_BLOCK_SIZE = 1 << 20
SUFFIX = ".ulz"

_FLAG_CONTENT_SIZE = 0x01
_FLAG_CONTENT_CHECKSUM = 0x02
_KNOWN_FLAGS = _FLAG_CONTENT_SIZE | _FLAG_CONTENT_CHECKSUM
_STORED = 1 << 31  # block header bit: the data is the raw block (compression did not shrink it)
_SHORT = 1 << 30  # block header bit: a u32 raw length follows (the last block of a frame)
_LENGTH_MASK = _SHORT - 1
_END_MARKER = b"\0\0\0\0"
_READ_SIZE = 1 << 20
_ALL = sys.maxsize

# Decoder states.
_HEADER, _BLOCK, _TRAILER, _DONE = range(4)

Buffer = bytes | bytearray | memoryview


def _check_block_size(block_size: int) -> None:
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size & (block_size - 1):
        raise ValueError(f"block size must be a power of two from 64 KiB to 64 MiB, not {block_size}")


def _byte_view(data: Buffer) -> memoryview:
    """A flat unsigned-byte view of any contiguous buffer, so lengths count bytes."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _header_check(descriptor: Buffer) -> int:
    return (xxh64(descriptor) >> 8) & 0xFF


def _chain(state: int, block_hash: int) -> int:
    """The content checksum folds in each block's XXH64 in order: O(1) memory, any frame size."""
    return xxh64(struct.pack("<Q", block_hash), state)


def _encode_block(raw: Buffer, level: int, short: bool) -> tuple[bytes, int]:
    """One block as it appears in the frame (header, data, checksum) and the XXH64 of its raw bytes."""
    digest = xxh64(raw)
    packed = compress_block(raw, level)
    size = len(raw)
    word, body = (len(packed), packed) if len(packed) < size else (size | _STORED, raw)
    head = struct.pack("<II", word | _SHORT, size) if short else struct.pack("<I", word)
    return b"".join((head, body, struct.pack("<I", digest & 0xFFFFFFFF))), digest


def _decode_block(data: Buffer, size: int, stored: bool, check: int, where: str) -> tuple[bytes, int]:
    if stored:
        raw = bytes(data)
    else:
        try:
            raw = decompress_block(data, size)
        except ULZError as exc:
            raise ULZError(f"{where}: corrupt block data ({exc})") from None
    digest = xxh64(raw)
    if digest & 0xFFFFFFFF != check:
        raise ULZError(f"{where}: checksum mismatch")
    return raw, digest


class Compressor:
    """Streaming compressor of one frame, like ``bz2.BZ2Compressor``.

    ``compress(data)`` returns the frame bytes ready so far (possibly empty: blocks are emitted whole,
    and with threads > 1 only once compressed); ``flush()`` ends the frame and returns the rest.
    ``content_size``, if given, is written in the header and must match the bytes compressed.
    """

    def __init__(
        self,
        level: int = 1,
        threads: int = 1,
        block_size: int = DEFAULT_BLOCK_SIZE,
        content_size: int | None = None,
        *,
        content_checksum: bool = True,
    ) -> None:
        if not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"level must be 1..{MAX_LEVEL}, not {level}")
        _check_block_size(block_size)
        if content_size is not None and content_size < 0:
            raise ValueError(f"content_size must be >= 0, not {content_size}")
        self._level = level
        self._block_size = block_size
        self._content_size = content_size
        self._checksum = content_checksum
        self._pipe = Pipeline(resolve_threads(threads))
        self._pending = bytearray()
        self._total = 0
        self._state = 0
        self._finished = False
        flags = (_FLAG_CONTENT_SIZE if content_size is not None else 0) | (
            _FLAG_CONTENT_CHECKSUM if content_checksum else 0
        )
        descriptor = bytes((VERSION, flags, block_size.bit_length() - 1))
        if content_size is not None:
            descriptor += struct.pack("<Q", content_size)
        self._out = [MAGIC, descriptor, bytes((_header_check(descriptor),))]

    def compress(self, data: Buffer) -> bytes:
        if self._finished:
            raise ValueError("compress() after flush(): the frame is already complete")
        view = _byte_view(data)
        size = len(view)
        self._total += size
        if self._content_size is not None and self._total > self._content_size:
            raise ValueError(f"more data than the declared content_size ({self._content_size:,} bytes)")
        bs, pos = self._block_size, 0
        if self._pending:
            pos = min(bs - len(self._pending), size)
            self._pending += view[:pos]
            if len(self._pending) == bs:
                self._submit(self._pending, False)
                self._pending = bytearray()
        # Worker threads may read a block after this call returns; only bytes is sure not to change.
        share = not self._pipe.pooled or isinstance(data, bytes)
        while size - pos >= bs:
            block = view[pos : pos + bs]
            self._submit(block if share else bytes(block), False)
            pos += bs
        self._pending += view[pos:]
        self._collect(self._pipe.done())
        return self._take()

    def flush(self) -> bytes:
        """End the frame: the remaining blocks, the end marker and the content checksum."""
        if self._finished:
            raise ValueError("flush() called twice: the frame is already complete")
        self._finished = True
        try:
            if self._pending:
                self._submit(self._pending, True)
                self._pending = bytearray()
            self._collect(self._pipe.drain())
        finally:
            self._pipe.close()
        if self._content_size is not None and self._total != self._content_size:
            raise ValueError(f"declared content_size {self._content_size:,}, got {self._total:,} bytes")
        self._out.append(_END_MARKER)
        if self._checksum:
            self._out.append(struct.pack("<Q", self._state))
        return self._take()

    def _submit(self, block: Buffer, short: bool) -> None:
        self._collect(self._pipe.submit(_encode_block, block, self._level, short))

    def _collect(self, results: list[tuple[bytes, int]]) -> None:
        for blob, digest in results:
            self._out.append(blob)
            self._state = _chain(self._state, digest)

    def _take(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out


class Decompressor:
    """Streaming decompressor, like ``bz2.BZ2Decompressor``: ``decompress(data, max_length=-1)``,
    ``eof``, ``unused_data``, ``needs_input``.

    By default it decodes one frame: ``eof`` turns true once the frame is complete and all its output
    returned, later input goes to ``unused_data``, and ``decompress`` after ``eof`` raises ``EOFError``.
    With ``concatenated=True`` it decodes frame after frame (a ``.ulz`` file) and ``eof`` waits for
    ``flush()``. ``flush()`` says the input has ended: it returns the output still held and raises
    ``ULZError`` if the input stopped inside a frame. ``offset`` is where the input starts in its
    file, for error messages. After an error the object is unusable.
    """

    def __init__(self, threads: int = 1, *, offset: int = 0, concatenated: bool = False) -> None:
        self._pipe = Pipeline(resolve_threads(threads))
        self._concatenated = concatenated
        self._inbuf = bytearray()
        self._pos = offset  # stream offset of the first unparsed byte
        self._ready: deque[bytes] = deque()
        self._ready_bytes = 0
        self._head = 0  # bytes of _ready[0] already returned
        self._state = _HEADER
        self._starved = True
        self._frames = 0
        self._magic_error = "bad magic (not a ULZ frame)"
        # Per-frame state, reset by each frame header.
        self._has_checksum = self._short_seen = False
        self._block = self._queued = self._total = self._digest = 0
        self.eof = False
        self.unused_data = b""
        self.block_size: int | None = None
        self.content_size: int | None = None

    @property
    def needs_input(self) -> bool:
        """True when more input is the only way to get more output now."""
        return self._state != _DONE and self._starved and not self._ready and not self.eof

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:
        """Decode ``data`` (buffered as needed); at most ``max_length`` bytes if that is >= 0."""
        if self.eof:
            raise EOFError("end of the ULZ frame already reached")
        view = _byte_view(data)
        if self._state == _DONE:
            self.unused_data += view
        elif len(view):
            self._starved = False
            if self._inbuf:
                self._inbuf += view
                view = memoryview(self._inbuf)
            self._parse(view, max_length if max_length >= 0 else _ALL)
        elif not self._starved or self._pipe:
            self._parse(memoryview(self._inbuf), max_length if max_length >= 0 else _ALL)
        out = self._take(max_length if max_length >= 0 else _ALL)
        if self._state == _DONE and not self._ready:
            self.eof = True
        return out

    def flush(self) -> bytes:
        """End of input: the output still held back; ``ULZError`` if a frame is incomplete."""
        if self.eof:
            return b""
        out = self.decompress(b"")
        if self._state == _DONE or (self._state == _HEADER and not self._inbuf and self._frames):
            self.eof = True
            self._pipe.close()
            return out
        self._pipe.close()
        raise ULZError(self._truncated())

    def _parse(self, view: memoryview, want: int) -> None:
        """Parse ``view`` from its start and decode blocks until ``want`` bytes are ready."""
        try:
            used = self._run(view, want)
        except BaseException:
            self._pipe.close()
            raise
        rest = view[used:]
        if self._state == _DONE:
            self.unused_data += rest
            rest = view[:0]
        if view.obj is self._inbuf:
            rest.release()
            view.release()
            del self._inbuf[:used]
        else:
            self._inbuf = bytearray(rest)
        self._pos += used

    def _run(self, view: memoryview, want: int) -> int:
        i = 0
        while True:
            self._absorb(self._pipe.done())
            if self._ready_bytes >= want:
                break
            room = want == _ALL or len(self._pipe) + len(self._ready) < self._pipe.limit
            if self._state != _DONE and room:
                j = self._step(view, i)
                if j is not None:
                    i = j
                    continue
                self._starved = True
            if self._pipe:
                self._absorb([self._pipe.oldest()])
                continue
            break
        return i

    def _fail(self, message: str) -> ULZError:
        # A bad block still being decoded comes earlier in the stream: its error is the one to report.
        self._pipe.drain()
        return ULZError(message)

    def _step(self, view: memoryview, i: int) -> int | None:
        """Parse one item (frame header, block, end marker, content checksum) at ``i``; None: need more."""
        avail, at = len(view) - i, self._pos + i
        if self._state == _HEADER:
            k = min(avail, 4)
            if view[i : i + k] != MAGIC[:k]:
                raise self._fail(f"{self._magic_error} at offset {at}")
            if avail < 7:
                return None
            version, flags, log = view[i + 4], view[i + 5], view[i + 6]
            if version != VERSION:
                raise self._fail(f"unsupported version {version} at offset {at + 4} (this reads {VERSION})")
            if flags & ~_KNOWN_FLAGS:
                raise self._fail(f"unsupported flags 0x{flags:02x} at offset {at + 5}")
            if not MIN_BLOCK_SIZE <= 1 << log <= MAX_BLOCK_SIZE:
                raise self._fail(f"block size 2^{log} out of range (2^16..2^26) at offset {at + 6}")
            size = 16 if flags & _FLAG_CONTENT_SIZE else 8
            if avail < size:
                return None
            if view[i + size - 1] != _header_check(view[i + 4 : i + size - 1]):
                raise self._fail(f"frame header checksum mismatch at offset {at}")
            self.block_size = 1 << log
            self.content_size = struct.unpack_from("<Q", view, i + 7)[0] if size == 16 else None
            self._has_checksum = bool(flags & _FLAG_CONTENT_CHECKSUM)
            self._block = self._queued = self._total = self._digest = 0
            self._short_seen = False
            self._state = _BLOCK
            return i + size
        if self._state == _BLOCK:
            return self._step_block(view, i, avail, at)
        if avail < 8:
            return None
        if struct.unpack_from("<Q", view, i)[0] != self._digest:
            raise self._fail(f"content checksum mismatch at offset {at}")
        self._end_frame()
        return i + 8

    def _step_block(self, view: memoryview, i: int, avail: int, at: int) -> int | None:
        if avail < 4:
            return None
        word = struct.unpack_from("<I", view, i)[0]
        if word == 0:  # end marker: every block must be in before the totals can be checked
            self._absorb(self._pipe.drain())
            if self.content_size is not None and self._total != self.content_size:
                raise self._fail(
                    f"content size mismatch at offset {at}: the header says {self.content_size:,} bytes, "
                    f"the blocks hold {self._total:,}"
                )
            if self._has_checksum:
                self._state = _TRAILER
            else:
                self._end_frame()
            return i + 4
        where = f"block {self._block} (offset {at})"
        if self._short_seen:
            raise self._fail(f"{where}: a block after the short (last) block")
        bs, short, stored, length = self.block_size or 0, word & _SHORT, word & _STORED, word & _LENGTH_MASK
        head = 8 if short else 4
        if avail < head:
            return None
        size = struct.unpack_from("<I", view, i + 4)[0] if short else bs
        if not 1 <= size <= bs:
            raise self._fail(f"{where}: raw length {size:,} out of range (1..{bs:,})")
        if length > bs or (stored and length != size):
            raise self._fail(f"{where}: stored length {length:,} invalid for a {size:,}-byte block")
        if self.content_size is not None and self._queued + size > self.content_size:
            raise self._fail(f"{where}: more data than the header's content size {self.content_size:,}")
        if avail < head + length + 4:
            return None
        data = view[i + head : i + head + length]
        check = struct.unpack_from("<I", view, i + head + length)[0]
        # Pooled jobs outlive this call, and the input buffer is reused: they get their own copy.
        try:
            job = bytes(data) if self._pipe.pooled else data
            self._absorb(self._pipe.submit(_decode_block, job, size, bool(stored), check, where))
        finally:
            data.release()  # the input buffer is resized later: no view of it may outlive this
        self._block += 1
        self._queued += size
        self._short_seen = bool(short)
        return i + head + length + 4

    def _end_frame(self) -> None:
        self._frames += 1
        if self._concatenated:
            self._state = _HEADER
            self._magic_error = "trailing garbage after frame"
        else:
            self._state = _DONE
            self._pipe.close()

    def _absorb(self, results: list[tuple[bytes, int]]) -> None:
        for raw, digest in results:
            self._ready.append(raw)
            self._ready_bytes += len(raw)
            self._total += len(raw)
            self._digest = _chain(self._digest, digest)

    def _take(self, want: int) -> bytes:
        parts: list[Buffer] = []
        got = 0
        while self._ready and got < want:
            chunk = self._ready[0]
            k = min(len(chunk) - self._head, want - got)
            if self._head == 0 and k == len(chunk):
                parts.append(chunk)
            else:
                parts.append(memoryview(chunk)[self._head : self._head + k])
            self._head += k
            got += k
            if self._head == len(chunk):
                self._ready.popleft()
                self._head = 0
        self._ready_bytes -= got
        return b"".join(parts)

    def _truncated(self) -> str:
        at = self._pos
        if self._state == _HEADER:
            return f"truncated frame: header at offset {at}"
        if self._state == _TRAILER:
            return f"truncated frame: content checksum at offset {at}"
        part = "data" if len(self._inbuf) >= 4 else "header"
        return f"truncated frame: block {self._block} {part} (offset {at})"


def compress(
    data: Buffer,
    level: int = 1,
    threads: int = 1,
    block_size: int = DEFAULT_BLOCK_SIZE,
    *,
    content_checksum: bool = True,
) -> bytes:
    """``data`` as one frame (with its content size); ``threads=0`` uses every core."""
    comp = Compressor(level, threads, block_size, len(_byte_view(data)), content_checksum=content_checksum)
    return comp.compress(data) + comp.flush()


def decompress(data: Buffer, threads: int = 1) -> bytes:
    """The contents of one or more concatenated frames; ``ULZError`` on any defect or trailing bytes."""
    dec = Decompressor(threads, concatenated=True)
    return dec.decompress(data) + dec.flush()


class ULZFile(CodecFile):
    """A ``.ulz`` file opened for reading ("rb") or writing ("wb", "xb", "ab"); see ``open``.

    Writing appends one frame (so "ab" adds a frame after those already there); the frame is
    completed by ``close()``. ``flush()`` passes on the blocks compressed so far but does not end
    the current block, so it never hurts the ratio. Not seekable.
    """

    def __init__(
        self,
        file: PathOrFile,
        mode: str = "rb",
        *,
        level: int = 1,
        threads: int = 1,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> None:
        super().__init__(
            file,
            mode,
            lambda: Decompressor(threads, concatenated=True),
            lambda: Compressor(level, threads, block_size),
        )


def open(
    file: PathOrFile,
    mode: str = "rb",
    *,
    level: int = 1,
    threads: int = 1,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> ULZFile:
    """Open a ``.ulz`` file (path or binary file object) as a binary file object; see ``ULZFile``."""
    return ULZFile(file, mode, level=level, threads=threads, block_size=block_size)


def compress_file(
    src: PathOrFile,
    dst: PathOrFile,
    *,
    level: int = 1,
    threads: int = 1,
    block_size: int = DEFAULT_BLOCK_SIZE,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Compress ``src`` into one frame at ``dst`` (paths or binary file objects), streaming.

    A ``dst`` path is written atomically and not overwritten unless ``overwrite``. Returns
    (bytes read, bytes written).
    """
    comp = Compressor(level, threads, block_size)
    return encode_file(comp, src, dst, chunk=block_size, overwrite=overwrite, desc="ulz")


def decompress_file(
    src: PathOrFile, dst: PathOrFile | None, *, threads: int = 1, overwrite: bool = False
) -> tuple[int, int]:
    """Decode the frames of ``src`` into ``dst`` (path or binary file object), streaming.

    ``dst=None`` only checks the data (as ``ulz -t``). A ``dst`` path is written atomically and not
    overwritten unless ``overwrite``. Returns (compressed bytes read, decoded bytes).
    """
    dec = Decompressor(threads, concatenated=True)
    return decode_file(dec, src, dst, overwrite=overwrite, desc="unulz")
