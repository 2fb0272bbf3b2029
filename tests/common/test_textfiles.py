import pytest

from everybit.common.errors import InputError
from everybit.common.textfiles import decode_utf8, read_text


def test_reads_utf8_exactly(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("naïve\r\n日本\n".encode())
    assert read_text(path) == "naïve\r\n日本\n"  # no newline translation, no normalisation


def test_errors_name_the_file_and_the_byte(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"na\xefve\n")
    with pytest.raises(InputError, match=r"latin.txt: not UTF-8 text \(byte 2\)"):
        read_text(latin)
    with pytest.raises(InputError, match=r"^big.txt: not UTF-8 text \(byte 1026\)"):
        decode_utf8(b"ab\xff", "big.txt", offset=1024)
    with pytest.raises(FileNotFoundError) as exc:
        read_text(tmp_path / "missing.txt")
    assert exc.value.filename == str(tmp_path / "missing.txt")
