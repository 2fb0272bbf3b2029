"""libdeflate's deflate, crc32 and inflate, called so that threads run in parallel and no block is copied.

The ``deflate`` package bundles libdeflate but holds the GIL in its functions, so blocks handed to a
thread pool would run one after another. Its shared library also exports libdeflate's own C API, and a
ctypes call releases the GIL for its duration: calling that API through ctypes makes ``-T N`` real.
Compressor and decompressor objects are not thread-safe, so each thread keeps its own.

Memory is what bounds a bpez process (docs/bpez-format.md, "Memory and threads"), so inputs are passed by
address whatever buffer holds them (a read-only view of a file chunk included), and deflate writes into a
fresh anonymous mapping sized for the worst case, of which only the pages it fills are ever touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import threading
from collections.abc import Iterator

import deflate._deflate as _bundled

from everybit.common.errors import CorruptDataError

_lib = ctypes.CDLL(_bundled.__file__)
_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
for _name, _res, _args in (
    ("libdeflate_alloc_compressor", _vp, [ctypes.c_int]),
    ("libdeflate_deflate_compress", _sz, [_vp, _vp, _sz, _vp, _sz]),
    ("libdeflate_deflate_compress_bound", _sz, [_vp, _sz]),
    ("libdeflate_alloc_decompressor", _vp, []),
    ("libdeflate_deflate_decompress", ctypes.c_int, [_vp, _vp, _sz, _vp, _sz, ctypes.POINTER(_sz)]),
    ("libdeflate_crc32", ctypes.c_uint32, [ctypes.c_uint32, _vp, _sz]),
):
    _fn = getattr(_lib, _name)
    _fn.restype, _fn.argtypes = _res, _args

_local = threading.local()
Buffer = bytes | bytearray | memoryview


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to borrow the address of any buffer, read-only ones included."""

    _fields_ = [
        ("buf", _vp),
        ("obj", _vp),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", _vp),
        ("strides", _vp),
        ("suboffsets", _vp),
        ("internal", _vp),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes, _get_buffer.restype = (
    [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int],
    ctypes.c_int,
)
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes, _release_buffer.restype = [ctypes.POINTER(_PyBuffer)], None
_PYBUF_C_CONTIGUOUS = 0x0020 | 0x0008  # PyBUF_C_CONTIGUOUS includes PyBUF_STRIDES


@contextlib.contextmanager
def _pinned(data: Buffer) -> Iterator[tuple[int | bytes | None, int]]:
    """The address and length of the bytes of ``data``, held still (no copy) for the ``with`` block."""
    if isinstance(data, bytes):
        yield data, len(data)  # ctypes passes a bytes object as a pointer to its contents
        return
    view = _PyBuffer()
    _get_buffer(data, ctypes.byref(view), _PYBUF_C_CONTIGUOUS)  # raises if data can't be pinned
    try:
        yield view.buf, view.len
    finally:
        _release_buffer(ctypes.byref(view))


def _compressor(level: int) -> int:
    cache = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        handle = _lib.libdeflate_alloc_compressor(level)
        if not handle:
            raise MemoryError("libdeflate_alloc_compressor failed")
        cache[level] = handle  # lives as long as the thread's pool: a handful of levels at most
    return cache[level]


def compress(data: Buffer, level: int) -> bytes:
    """A raw deflate stream of ``data`` at libdeflate ``level`` (1-12)."""
    comp = _compressor(level)
    # The output goes to a mapping of the worst-case size: a zero-filled buffer would cost its every page,
    # a mapping only the pages deflate writes.
    with _pinned(data) as (src, n), mmap.mmap(-1, _lib.libdeflate_deflate_compress_bound(comp, n)) as out:
        dst = ctypes.c_char.from_buffer(out)
        try:
            size = _lib.libdeflate_deflate_compress(comp, src, n, ctypes.addressof(dst), len(out))
            return ctypes.string_at(ctypes.addressof(dst), size)
        finally:
            del dst  # the mapping can't close while ctypes holds a view of it


def decompress(data: Buffer, max_size: int) -> bytearray:
    """Inflate a raw deflate stream that holds at most ``max_size`` bytes; ``CorruptDataError`` if not."""
    dec = getattr(_local, "decompressor", None)
    if dec is None:
        dec = _local.decompressor = _lib.libdeflate_alloc_decompressor()
        if not dec:
            raise MemoryError("libdeflate_alloc_decompressor failed")
    out = bytearray(max_size)
    actual = _sz()
    with _pinned(data) as (src, n), _pinned(out) as (dst, _):
        status = _lib.libdeflate_deflate_decompress(dec, src, n, dst, max_size, ctypes.byref(actual))
    if status != 0:
        raise CorruptDataError(
            "corrupt deflate data" if status == 1 else "deflate data larger than its block"
        )
    del out[actual.value :]
    return out


def crc32(data: Buffer, crc: int = 0) -> int:
    with _pinned(data) as (src, n):
        return _lib.libdeflate_crc32(crc, src, n)
