"""libdeflate's deflate, crc32 and inflate, called so that threads run in parallel.

The ``deflate`` package bundles libdeflate but holds the GIL in its functions, so blocks handed to a
thread pool would run one after another. Its shared library also exports libdeflate's own C API, and a
ctypes call releases the GIL for its duration: calling that API through ctypes makes ``-T N`` real.
Compressor and decompressor objects are not thread-safe, so each thread keeps its own.
"""

from __future__ import annotations

import ctypes
import threading

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


def _address(data: Buffer) -> tuple[int | bytes, int]:
    """A C pointer to the bytes of ``data`` (no copy for bytes and writable buffers), and its length."""
    if isinstance(data, bytes):
        return data, len(data)  # ctypes passes a bytes object as a pointer to its contents
    view = memoryview(data).cast("B")
    if view.readonly:
        raw = view.tobytes()
        return raw, len(raw)
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) if len(view) else 0, len(view)


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
    src, n = _address(data)
    out = ctypes.create_string_buffer(_lib.libdeflate_deflate_compress_bound(comp, n))
    size = _lib.libdeflate_deflate_compress(comp, src, n, out, len(out))
    return out.raw[:size]


def decompress(data: Buffer, max_size: int) -> bytearray:
    """Inflate a raw deflate stream that holds at most ``max_size`` bytes; ``CorruptDataError`` if not."""
    dec = getattr(_local, "decompressor", None)
    if dec is None:
        dec = _local.decompressor = _lib.libdeflate_alloc_decompressor()
        if not dec:
            raise MemoryError("libdeflate_alloc_decompressor failed")
    src, n = _address(data)
    out = bytearray(max_size)
    actual = _sz()
    dst = ctypes.addressof(ctypes.c_char.from_buffer(out)) if max_size else None
    status = _lib.libdeflate_deflate_decompress(dec, src, n, dst, max_size, ctypes.byref(actual))
    if status != 0:
        raise CorruptDataError(
            "corrupt deflate data" if status == 1 else "deflate data larger than its block"
        )
    del out[actual.value :]
    return out


def crc32(data: Buffer, crc: int = 0) -> int:
    src, n = _address(data)
    return _lib.libdeflate_crc32(crc, src, n)
