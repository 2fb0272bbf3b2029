"""File plumbing shared by the block codecs (ulz, bpez): decoded bytes read from any bz2-style
decompressor, a binary file object over that and a compressor, and whole-file helpers with progress.

A *decoder* has ``decompress(data, max_length) -> bytes``, ``needs_input``, ``eof`` and ``flush()`` (which
raises if the input stopped inside a frame); an *encoder* has ``compress(data)`` and ``flush()``.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from everybit.common.atomic import atomic_write
from everybit.common.progress import progress_bar

READ_SIZE = 1 << 20
PathOrFile = str | os.PathLike[str] | IO[bytes]


class Decoder(Protocol):
    eof: bool
    needs_input: bool

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...

    def flush(self) -> bytes: ...


class Encoder(Protocol):
    def compress(self, data: Any) -> bytes: ...

    def flush(self) -> bytes: ...


class DecodedReader(io.RawIOBase):
    """The decoded bytes of everything ``decoder`` reads from ``fp``, in bounded memory."""

    def __init__(self, fp: IO[bytes], decoder: Decoder) -> None:
        self.fp = fp
        self.decoder = decoder
        self._source_done = False
        self.consumed = 0  # compressed bytes read from fp

    def readable(self) -> bool:
        return True

    def next_chunk(self, size: int) -> bytes:
        """Up to ``size`` (> 0) decoded bytes; empty at the end of the input."""
        dec = self.decoder
        while not dec.eof:
            data = b""
            if dec.needs_input and not self._source_done:
                data = self.fp.read(READ_SIZE)
                self.consumed += len(data)
                self._source_done = not data
            out = dec.decompress(data, size)
            if out:
                return out
            if self._source_done and dec.needs_input:
                dec.flush()  # nothing is held here; this raises if the input stopped inside a frame
        return b""

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view, view.cast("B") as out:
            if not len(out):
                return 0
            data = self.next_chunk(len(out))
            out[: len(data)] = data
            return len(data)

    def readall(self) -> bytes:
        return b"".join(iter(lambda: self.next_chunk(READ_SIZE), b""))


class CodecFile(io.BufferedIOBase):
    """A compressed file opened for reading ("rb") or writing ("wb", "xb", "ab"); not seekable.

    Writing appends one frame ("ab" adds it after those already there), completed by ``close()``;
    ``flush()`` passes on what is encoded so far without ending the current block.
    """

    def __init__(
        self,
        file: PathOrFile | bytes,
        mode: str,
        make_decoder: Callable[[], Decoder],
        make_encoder: Callable[[], Encoder],
    ) -> None:
        if mode in ("r", "w", "x", "a"):
            mode += "b"
        if mode not in ("rb", "wb", "xb", "ab"):
            raise ValueError(f"mode must be 'rb', 'wb', 'xb' or 'ab', not {mode!r}")
        self._fp: IO[bytes]
        if isinstance(file, str | bytes | os.PathLike):
            self._fp, self._owns = builtins.open(file, mode), True  # noqa: SIM115 - closed by close()
            self.name = os.fsdecode(file)
        elif hasattr(file, "read" if mode == "rb" else "write"):
            self._fp, self._owns = file, False
            self.name = getattr(file, "name", "")
        else:
            raise TypeError("file must be a path or a binary file object")
        self.mode = mode
        self._raw: DecodedReader | None = None
        self._reader: io.BufferedReader | None = None
        self._writer: Encoder | None = None
        try:
            if mode == "rb":
                self._raw = DecodedReader(self._fp, make_decoder())
                self._reader = io.BufferedReader(self._raw, 1 << 17)
            else:
                self._writer = make_encoder()
        except BaseException:
            if self._owns:
                self._fp.close()
            raise

    def readable(self) -> bool:
        self._check_open()
        return self._reader is not None

    def writable(self) -> bool:
        self._check_open()
        return self._writer is not None

    def seekable(self) -> bool:
        return False

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _need_reader(self) -> io.BufferedReader:
        self._check_open()
        if self._reader is None:
            raise io.UnsupportedOperation("not open for reading")
        return self._reader

    def read(self, size: int | None = -1) -> bytes:
        return self._need_reader().read(size)

    def read1(self, size: int = -1) -> bytes:
        return self._need_reader().read1(size)

    def readinto(self, buffer: Any) -> int:
        return self._need_reader().readinto(buffer)

    def readinto1(self, buffer: Any) -> int:
        return self._need_reader().readinto1(buffer)

    def readline(self, size: int | None = -1) -> bytes:
        return self._need_reader().readline(size)

    def peek(self, size: int = 0) -> bytes:
        return self._need_reader().peek(size)

    def write(self, data: Any) -> int:
        self._check_open()
        if self._writer is None:
            raise io.UnsupportedOperation("not open for writing")
        self._fp.write(self._writer.compress(data))
        with memoryview(data) as view:
            return view.nbytes

    def flush(self) -> None:
        self._check_open()
        if self._writer is not None:
            self._fp.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._writer is not None:
                self._fp.write(self._writer.flush())
                self._fp.flush()
        finally:
            try:
                if self._owns:
                    self._fp.close()
            finally:
                self._reader = self._writer = None
                super().close()


@contextlib.contextmanager
def source(src: PathOrFile) -> Iterator[IO[bytes]]:
    if isinstance(src, str | os.PathLike):
        with builtins.open(src, "rb") as fp:
            yield fp
    else:
        yield src


@contextlib.contextmanager
def sink(dst: PathOrFile | None, overwrite: bool) -> Iterator[IO[bytes] | None]:
    """A path is written atomically (refused if it exists, unless ``overwrite``); None checks only."""
    if isinstance(dst, str | os.PathLike):
        with atomic_write(dst, overwrite=overwrite) as fp:
            yield fp
    else:
        yield dst


def remaining(fp: IO[bytes]) -> int | None:
    """Bytes left to read in ``fp`` if it is a regular file (for the progress bar)."""
    try:
        return max(os.fstat(fp.fileno()).st_size - fp.tell(), 0) or None
    except (OSError, AttributeError, ValueError):
        return None


def label(src: PathOrFile) -> str:
    return os.fspath(src) if isinstance(src, str | os.PathLike) else getattr(src, "name", "") or "stream"


def encode_file(
    encoder: Encoder, src: PathOrFile, dst: PathOrFile, *, chunk: int, overwrite: bool, desc: str
) -> tuple[int, int]:
    """Stream ``src`` through ``encoder`` into ``dst``; returns (bytes read, bytes written)."""
    n_in = n_out = 0
    with source(src) as fin, sink(dst, overwrite) as fout:
        assert fout is not None
        with progress_bar(remaining(fin), f"{desc} {label(src)}") as bar:
            while data := fin.read(chunk):
                n_in += len(data)
                out = encoder.compress(data)
                fout.write(out)
                n_out += len(out)
                bar.update(len(data))
            out = encoder.flush()
            fout.write(out)
            n_out += len(out)
    return n_in, n_out


def decode_stream(reader: DecodedReader, fout: IO[bytes] | None, desc: str) -> int:
    """Copy the decoded bytes of ``reader`` to ``fout`` (None: only check); the number of bytes."""
    n_out = 0
    with progress_bar(remaining(reader.fp), desc) as bar:
        while data := reader.next_chunk(READ_SIZE):
            if fout is not None:
                fout.write(data)
            n_out += len(data)
            bar.update(reader.consumed - bar.n)
    return n_out


def decode_file(
    decoder: Decoder, src: PathOrFile, dst: PathOrFile | None, *, overwrite: bool, desc: str
) -> tuple[int, int]:
    """Decode ``src`` into ``dst`` (None: only check); returns (compressed bytes read, decoded bytes)."""
    with source(src) as fin, sink(dst, overwrite) as fout:
        reader = DecodedReader(fin, decoder)
        n_out = decode_stream(reader, fout, f"{desc} {label(src)}")
    return reader.consumed, n_out
