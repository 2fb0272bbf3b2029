"""The ``.bpez`` file format: data of any size as independent, checksummed BPE + deflate blocks.

Byte layout: docs/bpez-format.md. Blocks are cut at fixed multiples of the block size and encoded
independently (``core.encode``), so N threads work on N blocks at once and the output is byte-identical
for every thread count. At most 2 x threads blocks are in flight, so memory stays near
block size x threads x 2 whatever the input size. Concatenated frames decode to the concatenated
contents, as with gzip. Every defect raises ``BPEZError`` naming the block and offset.

Decoding also reads the files of the original ``bpez.py`` (no magic; see ``legacy``): an input whose
first bytes are not the bpez magic but start a legacy record is read as legacy records to its end.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections import deque
from typing import IO

from everybit.bpez import core, legacy
from everybit.bpez.core import BPEZError
from everybit.common import codecfile
from everybit.common.codecfile import CodecFile, DecodedReader, PathOrFile, decode_file, encode_file
from everybit.common.parallel import Pipeline, resolve_threads

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_LEVEL",
    "MAGIC",
    "MAX_BLOCK_SIZE",
    "MAX_LEVEL",
    "MIN_BLOCK_SIZE",
    "SUFFIX",
    "BPEZFile",
    "Compressor",
    "Decompressor",
    "compress",
    "compress_file",
    "decompress",
    "decompress_file",
    "open",
]

MAGIC = b"\x89BPZ"
VERSION = 1
MIN_BLOCK_SIZE = 1 << 16
MAX_BLOCK_SIZE = 1 << 24
DEFAULT_BLOCK_SIZE = 1 << 20
MIN_LEVEL, MAX_LEVEL, DEFAULT_LEVEL = 1, 9, 9
SUFFIX = ".bpez"

STORED, DEFLATE, BPE_DEFLATE = 0, 1, 2
_METHODS = ("stored", "deflate", "bpe+deflate")
_HEADER_SIZE = 8  # magic, version, flags, block size log2, header check
_END_SIZE = 16  # end marker u32 0, total length u64, content check u32
_READ_SIZE = 1 << 20
_BAD_MAGIC = "bad magic (neither a bpez file nor one of the original bpez.py)"
_ALL = sys.maxsize

# Decoder states.
_HEADER, _BLOCK, _TRAILER, _LEGACY, _DONE = range(5)

Buffer = bytes | bytearray | memoryview


def _check_block_size(block_size: int) -> None:
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size & (block_size - 1):
        raise ValueError(f"block size must be a power of two from 64 KiB to 16 MiB, not {block_size}")


def _check_level(level: int) -> None:
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ValueError(f"level must be {MIN_LEVEL}..{MAX_LEVEL}, not {level}")


def _byte_view(data: Buffer) -> memoryview:
    """A flat unsigned-byte view of any contiguous buffer, so lengths count bytes."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _header_check(descriptor: Buffer) -> int:
    return zlib.crc32(descriptor) & 0xFF


def _chain(state: int, block_crc: int) -> int:
    """The content check: CRC-32 of the blocks' CRC-32s (u32 little-endian) in order."""
    return zlib.crc32(struct.pack("<I", block_crc), state)


def _encode_block(raw: Buffer, level: int) -> tuple[bytes, int]:
    """One block record (header, table, payload, checksum) and the CRC-32 of its raw bytes."""
    check = core.crc32(raw)
    method, table, payload = core.encode(raw, level)
    size = len(raw)
    if method == BPE_DEFLATE and not table:
        method = DEFLATE
    if method not in (STORED, DEFLATE, BPE_DEFLATE) or len(table) % 3 or len(table) > 3 * core.MAX_CYCLES:
        raise RuntimeError(f"core.encode returned method {method} with a {len(table)}-byte table")
    if method == DEFLATE and table:
        raise RuntimeError("core.encode returned a cycle table for a plain deflate block")
    if method != STORED and len(table) + len(payload) >= size:
        method, table, payload = STORED, b"", raw  # never grow a block by more than its framing
    head = struct.pack("<IBB", size, method, len(table) // 3)
    return b"".join((head, table, struct.pack("<I", len(payload)), payload, struct.pack("<I", check))), check


def _decode_block(
    method: int, table: bytes, payload: Buffer, size: int, check: int, where: str
) -> tuple[bytes, int]:
    try:
        raw = core.decode(method, table, payload, size)
    except BPEZError as exc:
        raise BPEZError(f"{where}: corrupt block data ({exc})") from None
    if len(raw) != size:
        raise BPEZError(f"{where}: decodes to {len(raw):,} bytes, not {size:,}")
    crc = core.crc32(raw)
    if crc != check:
        raise BPEZError(f"{where}: checksum mismatch")
    return raw, crc


def _decode_legacy(record: bytes, where: str) -> tuple[bytes, None]:
    return legacy.decode(record, where), None


class Compressor:
    """Streaming compressor of one frame, like ``bz2.BZ2Compressor``.

    ``compress(data)`` returns the frame bytes ready so far (possibly empty: blocks are emitted whole,
    and with threads > 1 only once encoded); ``flush()`` ends the frame and returns the rest.
    ``threads=0`` uses every core; the output is the same for every thread count.
    """

    def __init__(
        self, level: int = DEFAULT_LEVEL, block_size: int = DEFAULT_BLOCK_SIZE, threads: int = 0
    ) -> None:
        _check_level(level)
        _check_block_size(block_size)
        self._level = level
        self._block_size = block_size
        self._pipe = Pipeline(resolve_threads(threads))
        self._pending = bytearray()
        self._total = 0
        self._state = 0
        self._finished = False
        descriptor = bytes((VERSION, 0, block_size.bit_length() - 1))
        self._out: list[bytes] = [MAGIC, descriptor, bytes((_header_check(descriptor),))]

    def compress(self, data: Buffer) -> bytes:
        # Worker threads may read a block after this call returns; only bytes is sure not to change.
        return self._compress(data, share=isinstance(data, bytes))

    def _compress(self, data: Buffer, share: bool) -> bytes:
        if self._finished:
            raise ValueError("compress() after flush(): the frame is already complete")
        view = _byte_view(data)
        size = len(view)
        self._total += size
        bs, pos = self._block_size, 0
        if self._pending:
            pos = min(bs - len(self._pending), size)
            self._pending += view[:pos]
            if len(self._pending) == bs:
                self._submit(bytes(self._pending))
                self._pending = bytearray()
        share = share or not self._pipe.pooled
        while size - pos >= bs:
            block = view[pos : pos + bs]
            self._submit(block if share else bytes(block))
            pos += bs
        self._pending += view[pos:]
        self._collect(self._pipe.done())
        return self._take()

    def flush(self) -> bytes:
        """End the frame: the remaining blocks, the end marker, the total length and the content check."""
        if self._finished:
            raise ValueError("flush() called twice: the frame is already complete")
        self._finished = True
        try:
            if self._pending:
                self._submit(bytes(self._pending))
                self._pending = bytearray()
            self._collect(self._pipe.drain())
        finally:
            self._pipe.close()
        self._out.append(struct.pack("<IQI", 0, self._total, self._state))
        return self._take()

    def _submit(self, block: Buffer) -> None:
        self._collect(self._pipe.submit(_encode_block, block, self._level))

    def _collect(self, results: list[tuple[bytes, int]]) -> None:
        for record, check in results:
            self._out.append(record)
            self._state = _chain(self._state, check)

    def _take(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out


class Decompressor:
    """Streaming decompressor, like ``bz2.BZ2Decompressor``: ``decompress(data, max_length=-1)``,
    ``eof``, ``unused_data``, ``needs_input``.

    By default it decodes one frame: ``eof`` turns true once the frame is complete and all its output
    returned, later input goes to ``unused_data``, and ``decompress`` after ``eof`` raises ``EOFError``.
    With ``concatenated=True`` it decodes frame after frame (a ``.bpez`` file) and ``eof`` waits for
    ``flush()``. ``flush()`` says the input has ended: it returns the output still held and raises
    ``BPEZError`` if the input stopped inside a frame. ``offset`` is where the input starts in its
    file, for error messages. After an error the object is unusable.

    With ``legacy=True`` (the default) an input that does not start with the bpez magic but with a
    record of the original bpez.py is read as such to its end; ``format`` then says ``"legacy"``
    (``"bpez"`` for the framed format, None until known).
    """

    def __init__(
        self, threads: int = 0, *, offset: int = 0, concatenated: bool = False, legacy: bool = True
    ) -> None:
        self._pipe = Pipeline(resolve_threads(threads))
        self._concatenated = concatenated
        self._legacy = legacy
        self._inbuf = bytearray()
        self._start = offset
        self._pos = offset  # stream offset of the first unparsed byte
        self._ready: deque[bytes] = deque()
        self._ready_bytes = 0
        self._head = 0  # bytes of _ready[0] already returned
        self._state = _HEADER
        self._starved = True
        self._frames = 0
        # Per-frame state, reset by each frame header.
        self._short_seen = False
        self._block = self._total = self._digest = 0
        self.eof = False
        self.unused_data = b""
        self.block_size: int | None = None
        self.format: str | None = None

    @property
    def needs_input(self) -> bool:
        """True when more input is the only way to get more output now."""
        return self._state != _DONE and self._starved and not self._ready and not self.eof

    def decompress(self, data: Buffer, max_length: int = -1) -> bytes:
        """Decode ``data`` (buffered as needed); at most ``max_length`` bytes if that is >= 0."""
        if self.eof:
            raise EOFError("end of the bpez frame already reached")
        view = _byte_view(data)
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
        """End of input: the output still held back; ``BPEZError`` if a frame is incomplete."""
        if self.eof:
            return b""
        out = self.decompress(b"")
        complete = self._state == _DONE or (
            not self._inbuf and (self._state == _LEGACY or (self._state == _HEADER and self._frames))
        )
        self._pipe.close()
        if complete:
            self.eof = True
            return out
        raise BPEZError(self._truncated())

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

    def _fail(self, message: str) -> BPEZError:
        # A bad block still being decoded comes earlier in the stream: its error is the one to report.
        self._pipe.drain()
        return BPEZError(message)

    def _step(self, view: memoryview, i: int) -> int | None:
        """Parse one item (frame header, block, end of frame, legacy record) at ``i``; None: need more."""
        avail, at = len(view) - i, self._pos + i
        if self._state == _HEADER:
            return self._step_header(view, i, avail, at)
        if self._state == _BLOCK:
            return self._step_block(view, i, avail, at)
        if self._state == _LEGACY:
            return self._step_legacy(view, i, avail, at)
        if avail < _END_SIZE - 4:
            return None
        total, check = struct.unpack_from("<QI", view, i)
        if total != self._total:
            raise self._fail(
                f"length mismatch at offset {at}: the frame's end says {total:,} bytes, "
                f"its blocks hold {self._total:,}"
            )
        if check != self._digest:
            raise self._fail(f"content checksum mismatch at offset {at + 8}")
        self._frames += 1
        if self._concatenated:
            self._state = _HEADER
        else:
            self._state = _DONE
            self._pipe.close()
        return i + _END_SIZE - 4

    def _step_header(self, view: memoryview, i: int, avail: int, at: int) -> int | None:
        k = min(avail, 4)
        if view[i : i + k] != MAGIC[:k]:
            if self._frames:
                raise self._fail(f"trailing garbage after frame at offset {at}")
            if not self._legacy:
                raise self._fail(f"bad magic (not a bpez file) at offset {at}")
            if avail < legacy.PROBE_SIZE:
                return None
            if not legacy.looks_legacy(view[i : i + legacy.PROBE_SIZE]):
                raise self._fail(f"{_BAD_MAGIC} at offset {at}")
            self.format = "legacy"
            self._state = _LEGACY
            return i
        if avail < _HEADER_SIZE:
            return None
        version, flags, log = view[i + 4], view[i + 5], view[i + 6]
        if version != VERSION:
            raise self._fail(f"unsupported version {version} at offset {at + 4} (this reads {VERSION})")
        if flags:
            raise self._fail(f"unsupported flags 0x{flags:02x} at offset {at + 5}")
        if not MIN_BLOCK_SIZE <= 1 << log <= MAX_BLOCK_SIZE:
            raise self._fail(f"block size 2^{log} out of range (2^16..2^24) at offset {at + 6}")
        if view[i + 7] != _header_check(view[i + 4 : i + 7]):
            raise self._fail(f"frame header checksum mismatch at offset {at}")
        self.format = "bpez"
        self.block_size = 1 << log
        self._block = self._total = self._digest = 0
        self._short_seen = False
        self._state = _BLOCK
        return i + _HEADER_SIZE

    def _step_block(self, view: memoryview, i: int, avail: int, at: int) -> int | None:
        if avail < 4:
            return None
        (size,) = struct.unpack_from("<I", view, i)
        if size == 0:  # end marker: every block must be in before the totals can be checked
            self._absorb(self._pipe.drain())
            self._state = _TRAILER
            return i + 4
        where = f"block {self._block} (offset {at})"
        bs = self.block_size or 0
        if self._short_seen:
            raise self._fail(f"{where}: a block after the short (last) block")
        if size > bs:
            raise self._fail(f"{where}: raw length {size:,} out of range (1..{bs:,})")
        if avail < 6:
            return None
        method, cycles = view[i + 4], view[i + 5]
        if method > BPE_DEFLATE:
            raise self._fail(f"{where}: unknown method {method}")
        if (method == BPE_DEFLATE) != (cycles > 0):
            expect = "1..255" if method == BPE_DEFLATE else "0"
            raise self._fail(
                f"{where}: cycle count {cycles} invalid for a {_METHODS[method]} block ({expect})"
            )
        head = 6 + 3 * cycles + 4
        if avail < head:
            return None
        (length,) = struct.unpack_from("<I", view, i + head - 4)
        if method == STORED and length != size:
            raise self._fail(f"{where}: stored length {length:,} invalid for a {size:,}-byte block")
        if method != STORED and not 0 < length < size - 3 * cycles:
            raise self._fail(
                f"{where}: payload length {length:,} invalid for a {size:,}-byte block"
                + (f" with {cycles} cycles" if cycles else "")
            )
        end = i + head + length + 4
        if avail < end - i:
            return None
        table = bytes(view[i + 6 : i + 6 + 3 * cycles])
        payload = view[i + head : i + head + length]
        (check,) = struct.unpack_from("<I", view, i + head + length)
        # Pooled jobs outlive this call, and the input buffer is reused: they get their own copy.
        try:
            job = bytes(payload) if self._pipe.pooled else payload
            self._absorb(self._pipe.submit(_decode_block, method, table, job, size, check, where))
        finally:
            payload.release()  # the input buffer is resized later: no view of it may outlive this
        self._block += 1
        self._short_seen = size < bs
        return end

    def _step_legacy(self, view: memoryview, i: int, avail: int, at: int) -> int | None:
        if avail < 4:
            return None
        (n,) = struct.unpack_from(">I", view, i)
        where = f"legacy block {self._block} (offset {at})"
        try:
            legacy.check_record_length(n, where)
        except BPEZError as exc:
            raise self._fail(str(exc)) from None
        if avail < 4 + n:
            return None
        record = bytes(view[i + 4 : i + 4 + n])
        self._absorb(self._pipe.submit(_decode_legacy, record, where))
        self._block += 1
        return i + 4 + n

    def _absorb(self, results: list[tuple[bytes, int | None]]) -> None:
        for raw, crc in results:
            if raw:
                self._ready.append(raw)
                self._ready_bytes += len(raw)
            self._total += len(raw)
            if crc is not None:
                self._digest = _chain(self._digest, crc)

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
            if not self._frames and at == self._start and not self._inbuf:
                return f"empty input (not a bpez file) at offset {at}"
            if not self._frames and not MAGIC.startswith(bytes(self._inbuf[:4])):
                return f"{_BAD_MAGIC} at offset {at}"
            return f"truncated frame: header at offset {at}"
        if self._state == _TRAILER:
            return f"truncated frame: end of frame at offset {at}"
        if self._state == _LEGACY:
            part = "data" if len(self._inbuf) >= 4 else "length"
            return f"truncated legacy file: block {self._block} {part} (offset {at})"
        if len(self._inbuf) < 4:
            return f"truncated frame: block {self._block} header (offset {at})"
        if struct.unpack_from("<I", self._inbuf)[0] == 0:  # pragma: no cover - consumed as the end marker
            return f"truncated frame: end of frame at offset {at}"
        cycles = self._inbuf[5] if len(self._inbuf) >= 6 else 0
        part = "header" if len(self._inbuf) < 10 + 3 * cycles else "data"
        return f"truncated frame: block {self._block} {part} (offset {at})"


def compress(
    data: Buffer, level: int = DEFAULT_LEVEL, block_size: int = DEFAULT_BLOCK_SIZE, threads: int = 0
) -> bytes:
    """``data`` as one frame; ``threads=0`` uses every core (the output is the same for any count)."""
    comp = Compressor(level, block_size, threads)
    return comp._compress(data, share=True) + comp.flush()  # the caller's buffer can't change meanwhile


def decompress(data: Buffer, threads: int = 0, *, legacy: bool = True) -> bytes:
    """The contents of one or more concatenated frames (or of a legacy file, unless ``legacy=False``);
    ``BPEZError`` on any defect or trailing bytes."""
    dec = Decompressor(threads, concatenated=True, legacy=legacy)
    return dec.decompress(data) + dec.flush()


class BPEZFile(CodecFile):
    """A ``.bpez`` file opened for reading ("rb") or writing ("wb", "xb", "ab"); see ``open``.

    Writing appends one frame (so "ab" adds a frame after those already there); the frame is
    completed by ``close()``. ``flush()`` passes on the blocks encoded so far but does not end the
    current block, so it never hurts the ratio. Reading also accepts legacy files. Not seekable.
    """

    def __init__(
        self,
        file: PathOrFile,
        mode: str = "rb",
        *,
        level: int = DEFAULT_LEVEL,
        block_size: int = DEFAULT_BLOCK_SIZE,
        threads: int = 0,
    ) -> None:
        super().__init__(
            file,
            mode,
            lambda: Decompressor(threads, concatenated=True),
            lambda: Compressor(level, block_size, threads),
        )

    @property
    def format(self) -> str | None:
        """For reading: "bpez", "legacy" (a file of the original bpez.py), or None before the first read."""
        return self._raw.decoder.format if self._raw is not None else None


def open(
    file: PathOrFile,
    mode: str = "rb",
    *,
    level: int = DEFAULT_LEVEL,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 0,
) -> BPEZFile:
    """Open a ``.bpez`` file (path or binary file object) as a binary file object; see ``BPEZFile``."""
    return BPEZFile(file, mode, level=level, block_size=block_size, threads=threads)


def compress_file(
    src: PathOrFile,
    dst: PathOrFile,
    *,
    level: int = DEFAULT_LEVEL,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 0,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Compress ``src`` into one frame at ``dst`` (paths or binary file objects), streaming.

    A ``dst`` path is written atomically and not overwritten unless ``overwrite``. Returns
    (bytes read, bytes written).
    """
    comp = Compressor(level, block_size, threads)
    return encode_file(comp, src, dst, chunk=block_size, overwrite=overwrite, desc="bpez")


def decode_stream(
    fin: IO[bytes], fout: IO[bytes] | None, *, threads: int = 0, label: str = ""
) -> tuple[DecodedReader, int]:
    """Copy the decoded contents of ``fin`` to ``fout`` (None: only check), with a progress bar.

    Returns the reader (``consumed``: input bytes read, ``decoder.format``: "bpez" or "legacy") and the
    number of decoded bytes."""
    reader = DecodedReader(fin, Decompressor(threads, concatenated=True))
    return reader, codecfile.decode_stream(reader, fout, f"unbpez {label or codecfile.label(fin)}")


def decompress_file(
    src: PathOrFile, dst: PathOrFile | None, *, threads: int = 0, overwrite: bool = False
) -> tuple[int, int]:
    """Decode the frames (or legacy records) of ``src`` into ``dst`` (path or binary file object).

    ``dst=None`` only checks the data (as ``bpez -t``). A ``dst`` path is written atomically and not
    overwritten unless ``overwrite``. Returns (compressed bytes read, decoded bytes).
    """
    dec = Decompressor(threads, concatenated=True)
    return decode_file(dec, src, dst, overwrite=overwrite, desc="unbpez")
