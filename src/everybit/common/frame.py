"""The frame engine of the block codecs (ulz, bpez): one streaming compressor, decompressor, file object and
file functions over a per-format *spec*, as lz4's lz4frame.c is one frame layer over its block functions.

The engine owns what every block format needs: cutting the input into blocks, the thread pipeline (output
byte-identical for any thread count, a few blocks per thread in flight), concatenated frames, bounded
memory, ``max_length`` streaming, and error messages naming the block and offset. A ``FrameSpec`` owns
what differs: its constants, how a block is coded and parsed, how block checksums chain. Both formats
share one outline, so it is read and written here (docs/ulz-format.md, docs/bpez-format.md):

    header  magic (4) | version (1) | flags (1) | log2 block size (1) | [content size, u64] | check (1)
    blocks  one record per block, laid out by the format; only the last block may be short
    end     00 00 00 00 | [total length, u64] | [content checksum]

A codec binds the engine to its spec with one-line subclasses (``class Compressor(frame.Compressor,
spec=ULZ)``) and takes the spec's functions (``compress = ULZ.compress``).
"""

from __future__ import annotations

import struct
import sys
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import IO, Any, ClassVar, NamedTuple

from everybit.common.codecfile import (
    READ_SIZE,
    CodecFile,
    DecodedReader,
    PathOrFile,
    decode_file,
    encode_file,
)
from everybit.common.errors import CorruptDataError
from everybit.common.parallel import Pipeline, resolve_threads

__all__ = [
    "CONTENT_CHECKSUM",
    "CONTENT_SIZE",
    "Block",
    "Compressor",
    "Decompressor",
    "FrameFile",
    "FrameSpec",
    "FrameState",
    "byte_view",
]

Buffer = bytes | bytearray | memoryview
CONTENT_SIZE, CONTENT_CHECKSUM = 0x01, 0x02  # header flag bits, in the formats that define them
END_MARKER = b"\0\0\0\0"
_ALL = sys.maxsize
# Decoder states.
_HEADER, _BLOCK, _END, _DONE = range(4)


def byte_view(data: Any) -> memoryview:
    """A flat unsigned-byte view of any buffer, so lengths count bytes; a non-contiguous one is copied.

    Anything that is not a buffer (a str, an int) raises TypeError."""
    view = memoryview(data)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Block(NamedTuple):
    """One block record, parsed: ``decode(payload, *args)`` gives ``(raw block, its digest or None)``."""

    end: int  # index just past the record
    size: int | None  # the decoded length, None when only decoding tells (legacy records)
    short: bool  # the short (last) block of its frame
    payload: memoryview  # the coded bytes: a view of the input, copied before a worker thread gets it
    decode: Callable[..., tuple[Buffer, int | None]]
    args: tuple[Any, ...]


class FrameState:
    """What a reader knows about the frame it is in: its header's fields and its blocks so far."""

    def __init__(
        self,
        format: str,
        block_size: int | None,
        content_size: int | None = None,
        checksum: bool = True,
        endless: bool = False,
    ) -> None:
        self.format = format  # the spec's name, or "legacy"
        self.block_size = block_size
        self.content_size = content_size
        self.checksum = checksum
        self.endless = endless  # no end marker: the frame ends with the input (legacy files)
        self.index = 0  # blocks parsed
        self.queued = 0  # their decoded bytes, as the block headers declare them
        self.short_seen = False

    @property
    def kind(self) -> str:
        return "legacy file" if self.format == "legacy" else "frame"

    def where(self, at: int) -> str:
        prefix = "legacy " if self.format == "legacy" else ""
        return f"{prefix}block {self.index} (offset {at})"


class FrameSpec(ABC):
    """One frame format: its constants, and how its blocks are coded, parsed and checksummed.

    A subclass sets the class attributes and defines ``header_check``, ``chain``, ``encode_block``,
    ``read_block`` and ``block_part``; ``foreign`` lets it read another layout (bpez's legacy files).
    An instance is the codec's whole frame API: ``compress``, ``decompress``, ``open``, ``compress_file``,
    ``decompress_file``, ``measure``, and the classes bound to it: ``compressor``, ``decompressor``, ``file``.
    """

    name: ClassVar[str]  # "ulz": in messages, and what Decompressor.format says
    magic: ClassVar[bytes]
    suffix: ClassVar[str]
    error: ClassVar[type[CorruptDataError]]
    not_magic: ClassVar[str]  # what an input with another magic is not, as "bad magic (...)" says it
    version: ClassVar[int] = 1
    min_block_size: ClassVar[int] = 1 << 16
    max_block_size: ClassVar[int]
    default_block_size: ClassVar[int] = 1 << 20
    min_level: ClassVar[int] = 1
    max_level: ClassVar[int]
    default_level: ClassVar[int]
    # The header flag bits the format defines (others must be 0); a format that does not define
    # CONTENT_CHECKSUM always ends its frames with the checksum.
    flags: ClassVar[int] = 0
    end_total: ClassVar[bool] = False  # the end of a frame repeats its total length
    depth: ClassVar[int] = 2  # blocks in flight per thread (common.parallel.Pipeline)
    digest: ClassVar[struct.Struct]  # the content checksum's field

    compressor: type[Compressor]
    decompressor: type[Decompressor]
    file: type[FrameFile]

    # -- what a format defines

    @abstractmethod
    def header_check(self, descriptor: Buffer) -> int:
        """The header check byte of the header bytes from the version to the check, exclusive."""

    @staticmethod
    @abstractmethod
    def chain(state: int, digest: int) -> int:
        """The content checksum after one more block whose digest is ``digest``."""

    @staticmethod
    @abstractmethod
    def encode_block(raw: Buffer, level: int, last: bool) -> tuple[bytes, int]:
        """One block's record and digest (runs on worker threads); ``last``: the frame's final block."""

    @abstractmethod
    def read_block(self, view: memoryview, i: int, frame: FrameState, where: str) -> Block | None:
        """Parse the record at ``i`` (at least 4 bytes, not the end marker); None: it is not all there yet.

        Every field is checked (raising ``self.error`` with ``where``) before more input is awaited."""

    @abstractmethod
    def block_part(self, frame: FrameState, pending: Buffer) -> str:
        """What the unfinished record ``pending`` stops in, for "truncated" messages: "header" or "data"."""

    def foreign(self, view: memoryview, i: int, at: int, read_legacy: bool) -> FrameState | None:
        """A first input that does not start with the magic: the state of another layout this format
        reads (with a 0-byte header), None to wait for more bytes, or an error."""
        raise self.error(f"bad magic ({self.not_magic}) at offset {at}")

    # -- options

    def check_level(self, level: int | None) -> int:
        if level is None:
            return self.default_level
        if not self.min_level <= level <= self.max_level:
            raise ValueError(f"level must be {self.min_level}..{self.max_level}, not {level}")
        return level

    def check_block_size(self, block_size: int | None) -> int:
        if block_size is None:
            return self.default_block_size
        if not self.min_block_size <= block_size <= self.max_block_size or block_size & (block_size - 1):
            lo, hi = self.min_block_size >> 10, self.max_block_size >> 20
            raise ValueError(f"block size must be a power of two from {lo} KiB to {hi} MiB, not {block_size}")
        return block_size

    # -- the outline: header and end of a frame

    def header(self, block_size: int, content_size: int | None, checksum: bool) -> bytes:
        flags = (CONTENT_SIZE if content_size is not None else 0) | (CONTENT_CHECKSUM if checksum else 0)
        descriptor = bytes((self.version, flags & self.flags, block_size.bit_length() - 1))
        if flags & self.flags & CONTENT_SIZE:
            descriptor += struct.pack("<Q", content_size)
        return self.magic + descriptor + bytes((self.header_check(descriptor),))

    def end(self, total: int, state: int, checksum: bool) -> bytes:
        tail = struct.pack("<Q", total) if self.end_total else b""
        return END_MARKER + tail + (self.digest.pack(state) if checksum else b"")

    def read_header(self, view: memoryview, i: int, at: int) -> tuple[int, FrameState] | None:
        """The header at ``i`` (magic checked by the caller): its length and the frame's state."""
        if len(view) - i < 7:
            return None
        version, flags, log = view[i + 4], view[i + 5], view[i + 6]
        if version != self.version:
            raise self.error(f"unsupported version {version} at offset {at + 4} (this reads {self.version})")
        if flags & ~self.flags:
            raise self.error(f"unsupported flags 0x{flags:02x} at offset {at + 5}")
        if not self.min_block_size <= 1 << log <= self.max_block_size:
            lo, hi = self.min_block_size.bit_length() - 1, self.max_block_size.bit_length() - 1
            raise self.error(f"block size 2^{log} out of range (2^{lo}..2^{hi}) at offset {at + 6}")
        size = 16 if flags & CONTENT_SIZE else 8
        if len(view) - i < size:
            return None
        if view[i + size - 1] != self.header_check(view[i + 4 : i + size - 1]):
            raise self.error(f"frame header checksum mismatch at offset {at}")
        content_size = struct.unpack_from("<Q", view, i + 7)[0] if size == 16 else None
        checksum = bool(flags & CONTENT_CHECKSUM) or not self.flags & CONTENT_CHECKSUM
        return size, FrameState(self.name, 1 << log, content_size, checksum)

    # -- the codec's API

    def compress(
        self,
        data: Buffer,
        *,
        level: int | None = None,
        threads: int = 0,
        block_size: int | None = None,
        content_checksum: bool = True,
    ) -> bytes:
        """``data`` (any buffer) as one frame. ``level``/``block_size`` None: the format's defaults;
        ``threads=0``: every core (the output is the same for any count)."""
        view = byte_view(data)
        blocks = -(-len(view) // self.check_block_size(block_size)) or 1
        comp = self.compressor(
            level=level,
            threads=min(resolve_threads(threads), blocks),  # no pool for what one thread does alone
            block_size=block_size,
            content_size=len(view),
            content_checksum=content_checksum,
        )
        return comp._compress(view, share=True) + comp.flush()  # the caller's buffer can't change meanwhile

    def decompress(self, data: Buffer, *, threads: int = 0, legacy: bool = True) -> bytes:
        """The contents of one or more concatenated frames; ``self.error`` on any defect or trailing bytes.
        ``legacy``: also read the format's legacy files, where it has them (bpez: the original bpez.py's)."""
        dec = self.decompressor(threads=threads, concatenated=True, legacy=legacy)
        return dec.decompress(data) + dec.flush()

    def open(
        self,
        file: PathOrFile,
        mode: str = "rb",
        *,
        level: int | None = None,
        threads: int = 0,
        block_size: int | None = None,
    ) -> FrameFile:
        """Open a compressed file (path or binary file object) as a binary file object (see ``FrameFile``);
        ``level`` and ``block_size`` are for writing, None meaning the format's defaults."""
        return self.file(file, mode, level=level, threads=threads, block_size=block_size)

    def compress_file(
        self,
        src: PathOrFile,
        dst: PathOrFile,
        *,
        level: int | None = None,
        threads: int = 0,
        block_size: int | None = None,
        overwrite: bool = False,
    ) -> tuple[int, int]:
        """Compress ``src`` into one frame at ``dst`` (paths or binary file objects), streaming.

        A ``dst`` path is written atomically and not overwritten unless ``overwrite``. Returns
        (bytes read, bytes written)."""
        comp = self.compressor(level=level, threads=threads, block_size=block_size)
        chunk = self.check_block_size(block_size)
        return encode_file(comp, src, dst, chunk=chunk, overwrite=overwrite, desc=self.name)

    def decompress_file(
        self, src: PathOrFile, dst: PathOrFile | None, *, threads: int = 0, overwrite: bool = False
    ) -> tuple[int, int]:
        """Decode the frames of ``src`` into ``dst`` (path or binary file object), streaming.

        ``dst=None`` only checks the data (as ``-t``). A ``dst`` path is written atomically and not
        overwritten unless ``overwrite``. Returns (compressed bytes read, decoded bytes)."""
        dec = self.decompressor(threads=threads, concatenated=True)
        return decode_file(dec, src, dst, overwrite=overwrite, desc=f"un{self.name}")

    def measure(self, fp: IO[bytes]) -> tuple[int, int]:
        """(compressed, decoded) size of the frames in ``fp``, from the block headers, without decoding
        the blocks (records whose size only decoding tells are decoded) or checking their checksums."""
        dec = self.decompressor(threads=1, concatenated=True)
        dec._measuring = True
        reader = DecodedReader(fp, dec)
        while reader.next_chunk(READ_SIZE):
            pass
        return reader.consumed, dec.decoded


class _Bound:
    """A class that a codec binds to its spec, which then knows it: ``class X(Compressor, spec=ULZ)``."""

    spec: ClassVar[FrameSpec]
    _role: ClassVar[str]

    def __init_subclass__(cls, spec: FrameSpec | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if spec is not None:
            cls.spec = spec
            setattr(spec, cls._role, cls)


class Compressor(_Bound):
    """Streaming compressor of one frame, like ``bz2.BZ2Compressor``.

    ``compress(data)`` returns the frame bytes ready so far (possibly empty: blocks are emitted whole,
    and with threads > 1 only once coded); ``flush()`` ends the frame and returns the rest. ``level`` and
    ``block_size`` None mean the format's defaults, ``threads=0`` every core; the output is the same for
    every thread count. ``content_size``, if given, must match the bytes compressed (formats with room
    for it write it in the header: ulz). ``content_checksum=False`` leaves out the checksum of the whole
    content, where the format allows it (ulz).
    """

    _role = "compressor"

    def __init__(
        self,
        *,
        level: int | None = None,
        threads: int = 0,
        block_size: int | None = None,
        content_size: int | None = None,
        content_checksum: bool = True,
    ) -> None:
        spec = self.spec
        self._level = spec.check_level(level)
        self._block_size = spec.check_block_size(block_size)
        if content_size is not None and content_size < 0:
            raise ValueError(f"content_size must be >= 0, not {content_size}")
        if not content_checksum and not spec.flags & CONTENT_CHECKSUM:
            raise ValueError(f"{spec.name} frames always end with their content checksum")
        self._content_size = content_size
        self._checksum = content_checksum
        self._pipe = Pipeline(resolve_threads(threads), spec.depth)
        self._pending = bytearray()
        self._total = self._state = 0
        self._finished = False
        self._out = [spec.header(self._block_size, content_size, content_checksum)]

    def compress(self, data: Buffer) -> bytes:
        # Worker threads may read a block after this call returns; only bytes is sure not to change.
        return self._compress(byte_view(data), share=isinstance(data, bytes))

    def _compress(self, view: memoryview, share: bool) -> bytes:
        if self._finished:
            raise ValueError("compress() after flush(): the frame is already complete")
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
                self._pending = bytearray()  # a new one: the worker owns the old one now
        share = share or not self._pipe.pooled
        while size - pos >= bs:
            block = view[pos : pos + bs]
            self._submit(block if share else bytes(block), False)
            pos += bs
        self._pending += view[pos:]
        self._collect(self._pipe.done())
        return self._take()

    def flush(self) -> bytes:
        """End the frame: the remaining blocks, the end marker and what follows it."""
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
        self._out.append(self.spec.end(self._total, self._state, self._checksum))
        return self._take()

    def _submit(self, block: Buffer, last: bool) -> None:
        self._collect(self._pipe.submit(self.spec.encode_block, block, self._level, last))

    def _collect(self, results: list[tuple[bytes, int]]) -> None:
        for record, digest in results:
            self._out.append(record)
            self._state = self.spec.chain(self._state, digest)

    def _take(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out


class Decompressor(_Bound):
    """Streaming decompressor, like ``bz2.BZ2Decompressor``: ``decompress(data, max_length=-1)``, ``eof``,
    ``unused_data``, ``needs_input``.

    By default it decodes one frame: ``eof`` turns true once the frame is complete and all its output
    returned, later input goes to ``unused_data``, and ``decompress`` after ``eof`` raises ``EOFError``.
    With ``concatenated=True`` it decodes frame after frame (a file) and ``eof`` waits for ``flush()``.
    ``flush()`` says the input has ended: it returns the output still held and raises the format's error
    if the input stopped inside a frame. ``offset`` is where the input starts in its file, for error
    messages. ``legacy``: also read the format's legacy files (bpez: the original bpez.py's, recognized
    at the start of the input). ``block_size``, ``content_size`` and ``format`` (the spec's name, or
    "legacy") describe the current frame. After an error the object is unusable.
    """

    _role = "decompressor"

    def __init__(
        self, *, threads: int = 0, offset: int = 0, concatenated: bool = False, legacy: bool = True
    ) -> None:
        self._pipe = Pipeline(resolve_threads(threads), self.spec.depth)
        self._concatenated = concatenated
        self._legacy = legacy
        self._inbuf = bytearray()
        self._start = offset
        self._pos = offset  # stream offset of the first unparsed byte
        self._ready: deque[Buffer] = deque()
        self._ready_bytes = 0
        self._head = 0  # bytes of _ready[0] already returned
        self._state = _HEADER
        self._starved = True
        self._frames = 0
        self._frame = FrameState(self.spec.name, None)
        self._total = self._digest = 0  # of the current frame
        self._measuring = False  # count the sizes the block headers declare instead of decoding (measure)
        self.decoded = 0  # bytes of content decoded (or counted) from every frame so far
        self.eof = False
        self.unused_data = b""

    @property
    def block_size(self) -> int | None:
        return self._frame.block_size

    @property
    def content_size(self) -> int | None:
        return self._frame.content_size

    @property
    def format(self) -> str | None:
        return self._frame.format if self._frames or self._state != _HEADER else None

    @property
    def needs_input(self) -> bool:
        """True when more input is the only way to get more output now."""
        return self._state != _DONE and self._starved and not self._ready and not self.eof

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:
        """Decode ``data`` (buffered as needed); at most ``max_length`` bytes if that is >= 0."""
        if self.eof:
            raise EOFError(f"end of the {self.spec.name} frame already reached")
        view = byte_view(data)
        want = max_length if max_length >= 0 else _ALL
        if self._state == _DONE:
            self.unused_data += view
        elif len(view):
            self._starved = False
            if self._inbuf:
                self._inbuf += view
                view = memoryview(self._inbuf)
            self._parse(view, want)
        elif not self._starved or self._pipe:
            self._parse(memoryview(self._inbuf), want)
        out = self._take(want)
        if self._state == _DONE and not self._ready:
            self.eof = True
        return out

    def flush(self) -> bytes:
        """End of input: the output still held back; the format's error if a frame is incomplete."""
        if self.eof:
            return b""
        out = self.decompress(b"")
        complete = self._state == _DONE or (
            not self._inbuf and (self._frame.endless or (self._state == _HEADER and self._frames))
        )
        self._pipe.close()
        if complete:
            self.eof = True
            return out
        raise self.spec.error(self._truncated())

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

    def _parsed(self, parse: Callable[..., Any], *args: Any) -> Any:
        """``parse(*args)``, a check of the stream's structure. A bad block still being decoded comes
        earlier in the stream, so its error is the one to report: drain() raises it first."""
        try:
            return parse(*args)
        except CorruptDataError:
            self._pipe.drain()
            raise

    def _fail(self, message: str) -> CorruptDataError:
        """The format's error for a defect of the structure the engine itself checks (see ``_parsed``)."""
        self._pipe.drain()
        return self.spec.error(message)

    def _step(self, view: memoryview, i: int) -> int | None:
        """Parse one item (frame header, block, end of frame) at ``i``; None: it needs more input."""
        at = self._pos + i
        if self._state == _HEADER:
            return self._step_header(view, i, at)
        if self._state == _BLOCK:
            return self._step_block(view, i, at)
        return self._step_end(view, i, at)

    def _step_header(self, view: memoryview, i: int, at: int) -> int | None:
        spec = self.spec
        k = min(len(view) - i, 4)
        if view[i : i + k] == spec.magic[:k]:
            got = self._parsed(spec.read_header, view, i, at)
        elif self._frames:
            raise self._fail(f"trailing garbage after frame at offset {at}")
        else:
            frame = self._parsed(spec.foreign, view, i, at, self._legacy)
            got = None if frame is None else (0, frame)
        if got is None:
            return None
        size, self._frame = got
        self._total = self._digest = 0
        self._state = _BLOCK
        return i + size

    def _step_block(self, view: memoryview, i: int, at: int) -> int | None:
        frame = self._frame
        if len(view) - i < 4:
            return None
        if not frame.endless and view[i : i + 4] == END_MARKER:
            self._absorb(self._pipe.drain())  # every block must be in before the totals can be checked
            if frame.content_size is not None and self._total != frame.content_size:
                raise self.spec.error(
                    f"content size mismatch at offset {at}: the header says {frame.content_size:,} bytes, "
                    f"the blocks hold {self._total:,}"
                )
            self._state = _END
            return i + 4
        where = frame.where(at)
        if frame.short_seen:
            raise self._fail(f"{where}: a block after the short (last) block")
        block = self._parsed(self.spec.read_block, view, i, frame, where)
        if block is None:
            return None
        try:
            if self._measuring and block.size is not None:
                self._count(block.size)
            else:
                # Pooled jobs outlive this call, and the input buffer is reused: they get their own copy.
                job = bytes(block.payload) if self._pipe.pooled else block.payload
                self._absorb(self._pipe.submit(block.decode, job, *block.args))
        finally:
            block.payload.release()  # the input buffer is resized later: no view of it may outlive this
        frame.index += 1
        frame.queued += block.size or 0
        frame.short_seen = block.short
        return block.end

    def _step_end(self, view: memoryview, i: int, at: int) -> int | None:
        spec, frame = self.spec, self._frame
        size = (8 if spec.end_total else 0) + (spec.digest.size if frame.checksum else 0)
        if len(view) - i < size:
            return None
        if spec.end_total:
            (total,) = struct.unpack_from("<Q", view, i)
            if total != self._total:
                raise spec.error(
                    f"length mismatch at offset {at}: the frame's end says {total:,} bytes, "
                    f"its blocks hold {self._total:,}"
                )
            at, i = at + 8, i + 8
        if frame.checksum and not self._measuring and spec.digest.unpack_from(view, i)[0] != self._digest:
            raise spec.error(f"content checksum mismatch at offset {at}")
        self._frames += 1
        if self._concatenated:
            self._state = _HEADER
        else:
            self._state = _DONE
            self._pipe.close()
        return i + (spec.digest.size if frame.checksum else 0)

    def _count(self, size: int) -> None:
        self._total += size
        self.decoded += size

    def _absorb(self, results: list[tuple[Buffer, int | None]]) -> None:
        for raw, digest in results:
            if raw:
                self._ready.append(raw)
                self._ready_bytes += len(raw)
            self._count(len(raw))
            if digest is not None:
                self._digest = self.spec.chain(self._digest, digest)

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
        at, spec, frame, pending = self._pos, self.spec, self._frame, self._inbuf
        if self._state == _HEADER:
            if not self._frames and at == self._start and not pending:
                return f"empty input (not a {spec.name} file) at offset {at}"
            if not self._frames and not spec.magic.startswith(bytes(pending[:4])):
                return f"bad magic ({spec.not_magic}) at offset {at}"
            return f"truncated frame: header at offset {at}"
        if self._state == _END:
            return f"truncated frame: end of frame at offset {at}"
        part = spec.block_part(frame, pending)
        return f"truncated {frame.kind}: block {frame.index} {part} (offset {at})"


class FrameFile(_Bound, CodecFile):
    """A compressed file opened for reading ("rb") or writing ("wb", "xb", "ab"); not seekable. ``open``
    makes one.

    Writing appends one frame ("ab" adds it after those already there), completed by ``close()``;
    ``flush()`` passes on the blocks coded so far but does not end the current block, so it never hurts
    the ratio. Reading decodes every frame (and the format's legacy files). ``threads`` is the
    ``Compressor``'s and ``Decompressor``'s; ``writing`` the ``Compressor``'s other options.
    """

    _role = "file"

    def __init__(self, file: PathOrFile, mode: str = "rb", *, threads: int = 0, **writing: Any) -> None:
        spec = self.spec
        super().__init__(
            file,
            mode,
            lambda: spec.decompressor(threads=threads, concatenated=True),
            lambda: spec.compressor(threads=threads, **writing),
        )

    @property
    def format(self) -> str | None:
        """For reading: the format's name, "legacy" for its legacy files, None before the first read."""
        return self._raw.decoder.format if self._raw is not None else None
