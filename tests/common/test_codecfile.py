"""The shared codec file plumbing, driven by the standard library's bz2 (the protocol's model)."""

import bz2
import io

import pytest

from everybit.common.codecfile import CodecFile, decode_file, encode_file


class _Bz2Decoder:
    """bz2's decompressor plus the ``flush`` of the protocol (the stream must have ended)."""

    def __init__(self):
        self._dec = bz2.BZ2Decompressor()

    eof = property(lambda self: self._dec.eof)
    needs_input = property(lambda self: self._dec.needs_input)

    def decompress(self, data, max_length=-1):
        return self._dec.decompress(data, max_length)

    def flush(self) -> bytes:
        if not self._dec.eof:
            raise ValueError("truncated")
        return b""


def _file(fp, mode):
    return CodecFile(fp, mode, _Bz2Decoder, bz2.BZ2Compressor)


def test_write_then_read_lines():
    buf = io.BytesIO()
    with _file(buf, "w") as f:
        f.write(b"one\ntwo\n")
        f.write(memoryview(b"three\n"))
    with _file(io.BytesIO(buf.getvalue()), "rb") as f:
        assert f.readline() == b"one\n"
        assert f.read() == b"two\nthree\n"
        assert not f.seekable()


def test_modes_and_closed_file():
    with pytest.raises(ValueError, match="mode must be"):
        _file(io.BytesIO(), "rw")
    f = _file(io.BytesIO(), "wb")
    f.close()
    with pytest.raises(ValueError, match="closed file"):
        f.write(b"x")
    with pytest.raises(io.UnsupportedOperation):
        _file(io.BytesIO(bz2.compress(b"")), "rb").write(b"x")


def test_whole_file_helpers(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"hello " * 10_000)
    n_in, n_out = encode_file(
        bz2.BZ2Compressor(), src, tmp_path / "c.bz2", chunk=4096, overwrite=False, desc="t"
    )
    assert n_in == 60_000 and n_out == (tmp_path / "c.bz2").stat().st_size
    consumed, n = decode_file(_Bz2Decoder(), tmp_path / "c.bz2", tmp_path / "out", overwrite=False, desc="t")
    assert (consumed, n) == (n_out, 60_000) and (tmp_path / "out").read_bytes() == src.read_bytes()
    (tmp_path / "cut.bz2").write_bytes((tmp_path / "c.bz2").read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        decode_file(_Bz2Decoder(), tmp_path / "cut.bz2", None, overwrite=False, desc="t")
