"""zpaq-compatible archive encryption: keystream layout, streams, key check, and the real ``zpaq -key``."""

import base64
import hashlib
import io
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from everybit.common.errors import InputError
from everybit.imli import crypto

ZPAQ = shutil.which("zpaq") or ("/usr/bin/zpaq" if os.path.exists("/usr/bin/zpaq") else None)
needs_zpaq = pytest.mark.skipif(ZPAQ is None, reason="the zpaq binary is not installed")

# `zpaq add kat.zpaq h/hi.txt -key kat-secret -m0` (zpaq 7.15), hi.txt = "hello imli\n".
KAT_ARCHIVE = base64.b64decode(
    "pwWgWgCE7Ny7SB1qJT8oVG6YvOyYA8IjfnLrLlyLNl1MBgq5d9Q7se8lXIbz2R+nUfTmxMM2rNhll3W/IQjx4E504nrI9fG6"
    "AU/reMnqRrpH9uodSvxrl1MPhIabavrWq+rRWIYRDt1FQ/lOApA5BN76Go46VIjcCvj0kMmmXGb0asiD+O6rP+mQ77nRLnBZ"
    "ImKg88HHZ0fJgST1oF6nXOh4z9zdcp71uFo0Xyb9vZ3Zy/4ywfcEIRT63OezHW4fFuFcXDi6whIvgaioJwqPkQHDkTQT7SpC"
    "BBlguRRy33rn2aBeW5bOVa2/j4+IG2M/d5ZJ5ECDo4QvwKjxKH/s8v4wKe3DIzM/xhuDxvKp7nYYY8ilgqq2iPlc6uKwxWDS"
    "HjkRMQ2A+UuDo1r9dwv+Gx4qJN40d3sFId46NoBTDS4jPHRpbOhepJyjZLLWEA1oTLeNA3RDDkwIA4CgiftPEhUfxCAuJTPN"
    "+hTYNzgCN+COvhKG6wahat8WNR4n2b1DnY67TDwy9ptnqf5jJUtlqwleIxOaxNgelzsIKlGx1vxJENKCVwAIKjEyPUr/q79u"
    "oBzBaBrSuNJaDwBLygIj3Lso7YvOA6aMjBQ6KAO96Nv7KUAdf5iRmFYt1zLgwMQTp4u94vgvbrLEZanJcLVMLbBEVHYMSnQa"
    "a7lJIegbsutnNrzVcsagrEM8DWhVlXTs59lMj1p+obDnxMkWc1qoF7fHJVDFuVdvNKKEQkZL8yGwCKHtTrumcxU9OYU7GXt3"
    "UB1WLDTauQ7xzZa78coZlFpUjxJ7r1tqXCpAwYeywCpCB/N62IyOw5s9p5rBDPYImnwgv3mOJJB/9/JRQOSKbKB2Zi/ZYkOF"
    "VF0xkItn9ec4tLPCc2MZThKKlDdfbMJBuNNj+cpCKUu5GPSemSy8mbZ1XGAAmLFxxdf+L0V0oz+Y97rHUVm6p9Oo3RM1di74"
    "y+9Ij5cyUCVvCf7X0L0rW6C9P010GgRtoGvS+BN4PBmHE9aLeo8X+Bj+fw5tTwISbqqxP0ypIgH8GpI4w1jCnGSqMfXeanNE"
    "wOgntMaPTb/zU5uotouHT9xcH3UfzmA3LFAOj3QQsA=="
)
KAT_PASSWORD = b"kat-secret"
KAT_PLAIN_SHA256 = "2744f83a0ed0d182324b95603ae496464c4bedc3995776fbbce261fa94f9f245"

SALT = bytes(range(1, 33))


def _expected_keystream(password: bytes, salt: bytes, offset: int, n: int) -> bytes:
    """The keystream computed block by block with AES-ECB: AES(key, salt[:8] || be64(offset // 16))."""
    key = hashlib.scrypt(hashlib.sha256(password).digest(), salt=salt, n=1 << 14, r=8, p=1, dklen=32)
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    first, last = offset // 16, (offset + n - 1) // 16
    blocks = b"".join(salt[:8] + i.to_bytes(8, "big") for i in range(first, last + 1))
    stream = ecb.update(blocks)
    return stream[offset % 16 : offset % 16 + n]


# ------------------------------------------------------------------------------------------ offline checks


def test_known_zpaq_archive_decrypts():
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    assert plain.startswith(crypto.LOCATOR_TAG)
    assert plain.count(crypto.LOCATOR_TAG) == 4  # c, d, h, i blocks of one transaction
    assert b"hello imli\n" in plain  # -m0 stores the fragment as is
    assert hashlib.sha256(plain).hexdigest() == KAT_PLAIN_SHA256
    with pytest.raises(InputError, match="wrong key or not an encrypted archive"):
        crypto.decrypt_archive(KAT_ARCHIVE, b"kat-secreT")


def test_known_archive_reencrypts_to_same_bytes():
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    again = crypto.encrypt_archive(plain, KAT_PASSWORD.decode(), salt=KAT_ARCHIVE[:32])
    assert again == KAT_ARCHIVE


def test_key_is_scrypt_of_sha256():
    digest = hashlib.sha256(b"secret").digest()
    want = hashlib.scrypt(digest, salt=SALT, n=16384, r=8, p=1, dklen=32)
    assert crypto.derive_key(b"secret", SALT) == want
    assert crypto.derive_key("secret", SALT) == want
    with pytest.raises(ValueError):
        crypto.derive_key(b"secret", SALT[:16])


@pytest.mark.parametrize("offset", [0, 5, 16, 32, 47, 1000, 2**33 + 7])
def test_keystream_layout(offset):
    n = 100
    stream = crypto.ArchiveCipher(b"pw", SALT).apply(bytes(n), offset)
    assert stream == _expected_keystream(b"pw", SALT, offset, n)


def test_apply_is_offset_addressable_and_involutive():
    cipher = crypto.ArchiveCipher(b"pw", SALT)
    data = os.urandom(5000)
    whole = cipher.apply(data, 32)
    cuts = [0, 1, 15, 16, 17, 100, 2047, 4999, 5000]
    pieces = b"".join(cipher.apply(data[a:b], 32 + a) for a, b in itertools.pairwise(cuts))
    assert pieces == whole
    assert cipher.apply(whole, 32) == data
    assert cipher.apply(memoryview(bytearray(data)), 32) == whole
    assert cipher.apply(b"", 7) == b""
    assert crypto.ArchiveCipher.from_key(crypto.derive_key(b"pw", SALT), SALT).apply(data, 32) == whole
    with pytest.raises(ValueError):
        cipher.apply(b"x", -1)


def test_new_salt(monkeypatch):
    salts = {crypto.new_salt() for _ in range(50)}
    assert len(salts) == 50
    assert all(len(s) == 32 and s[0] not in b"z7" for s in salts)
    draws = iter([b"z" + bytes(31), b"7" + bytes(31), b"\x01" + bytes(31)])
    monkeypatch.setattr(crypto.os, "urandom", lambda n: next(draws))
    assert crypto.new_salt() == b"\x01" + bytes(31)


def test_plaintext_ok_follows_zpaq():
    assert crypto.plaintext_ok(b"")
    assert crypto.plaintext_ok(crypto.LOCATOR_TAG + b"zPQ\x02")
    assert crypto.plaintext_ok(crypto.LOCATOR_TAG[:4])
    assert crypto.plaintext_ok(b"zPQ\x01\x01")
    assert crypto.plaintext_ok(b"zPQ\x02")
    assert not crypto.plaintext_ok(b"zPQ\x00")
    assert not crypto.plaintext_ok(b"zPQ\x80")
    assert not crypto.plaintext_ok(b"7kSt\x00")  # locator tag prefix, then wrong
    assert not crypto.plaintext_ok(b"zPQ")  # zpaq rejects 1..3 bytes
    assert not crypto.plaintext_ok(os.urandom(3) + b"\xff" * 10)


def test_looks_encrypted():
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    assert crypto.looks_encrypted(KAT_ARCHIVE[:64])
    assert not crypto.looks_encrypted(plain[:64])
    assert not crypto.looks_encrypted(b"zPQ\x02" + bytes(60))
    assert not crypto.looks_encrypted(KAT_ARCHIVE[:31])  # too short to hold a salt


class _Pipe(io.RawIOBase):
    """A non-seekable input."""

    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        chunk = self._b.read(min(len(b), 7))  # short reads, like a pipe
        b[: len(chunk)] = chunk
        return len(chunk)


def test_reader_reads_seeks_and_checks_key(tmp_path):
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    path = tmp_path / "k.zpaq"
    path.write_bytes(KAT_ARCHIVE)
    with path.open("rb") as f:
        r = crypto.open_encrypted_reader(f, KAT_PASSWORD)
        got = r.read(3) + r.read(20) + r.read()
        assert got == plain
        assert r.tell() == len(plain)
        assert r.seek(-10, io.SEEK_END) == len(plain) - 10
        assert r.read() == plain[-10:]
        r.seek(101)
        assert r.read(50) == plain[101:151]
        assert io.BufferedReader(r).read() == plain[151:]
    with path.open("rb") as f, pytest.raises(InputError, match=r"k\.zpaq: wrong key or not an encrypted"):
        crypto.open_encrypted_reader(f, b"nope")
    # an archive embedded after other data: offsets count from its salt
    blob = io.BytesIO(b"prefix!" + KAT_ARCHIVE)
    blob.seek(7)
    assert crypto.open_encrypted_reader(blob, KAT_PASSWORD).read() == plain
    # sequential reads from a pipe
    pipe = crypto.open_encrypted_reader(_Pipe(KAT_ARCHIVE), KAT_PASSWORD)
    assert b"".join(iter(lambda: pipe.read(50), b"")) == plain
    with pytest.raises(io.UnsupportedOperation):
        pipe.seek(0)


def test_reader_rejects_plain_and_short_input():
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    with pytest.raises(InputError, match="wrong key or not an encrypted archive"):
        crypto.open_encrypted_reader(io.BytesIO(plain), KAT_PASSWORD)
    with pytest.raises(InputError, match="wrong key or not an encrypted archive"):
        crypto.open_encrypted_reader(io.BytesIO(bytes(20)), KAT_PASSWORD)
    with pytest.raises(InputError):
        crypto.decrypt_archive(bytes(20), KAT_PASSWORD)
    # a salt and nothing else is an empty encrypted archive, as zpaq sees it
    assert crypto.open_encrypted_reader(io.BytesIO(SALT), b"pw").read() == b""


def test_writer_new_then_append_and_patch():
    plain = crypto.decrypt_archive(KAT_ARCHIVE, KAT_PASSWORD)
    out = io.BytesIO()
    w = crypto.open_encrypted_writer(out, KAT_PASSWORD, salt=KAT_ARCHIVE[:32])
    w.write(plain[:100])
    w.write(memoryview(plain)[100:300])
    assert w.tell() == 300
    w.flush()
    buf = io.BytesIO(out.getvalue())
    a = crypto.open_encrypted_writer(buf, KAT_PASSWORD, append=True)
    assert a.tell() == 300
    a.write(plain[300:])
    assert buf.getvalue() == KAT_ARCHIVE
    # rewrite a header in place, as a writer patching a block size does
    a.seek(5)
    a.write(b"\x00" * 4)
    a.seek(5)
    a.write(plain[5:9])
    assert buf.getvalue() == KAT_ARCHIVE
    with pytest.raises(ValueError):
        a.seek(-1)
    with pytest.raises(InputError, match="wrong key"):
        crypto.open_encrypted_writer(io.BytesIO(KAT_ARCHIVE), b"bad", append=True)
    fresh = crypto.open_encrypted_writer(io.BytesIO(), b"pw")
    assert fresh.tell() == 0 and fresh.cipher.salt[0] not in b"z7"


# ------------------------------------------------------------------------------------------ the real zpaq


def _zpaq(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([ZPAQ, *args], cwd=cwd, capture_output=True, timeout=60)
    if ok:
        assert proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")
    return proc


def _tree(root: Path, name: str, seed: int) -> dict[str, bytes]:
    files = {}
    for i in range(3):
        data = b"".join(b"%d %d the archive line\n" % (seed, j) for j in range(1500 * (i + 1)))
        p = root / name / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        files[f"{name}/f{i}.txt"] = data
    return files


def _same_tree(out: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data, rel


@needs_zpaq
def test_zpaq_encrypted_archive_decrypts(tmp_path):
    files = _tree(tmp_path, "d", 1)
    _zpaq("add", "e.zpaq", "d", "-key", "secret", cwd=tmp_path)
    raw = (tmp_path / "e.zpaq").read_bytes()
    assert crypto.looks_encrypted(raw[:64])
    plain = crypto.decrypt_archive(raw, b"secret")
    assert plain.startswith(crypto.LOCATOR_TAG)
    with pytest.raises(InputError, match="wrong key"):
        crypto.decrypt_archive(raw, b"Secret")
    zpaq_py = pytest.importorskip("zpaq")
    stream = zpaq_py.decompress(plain)
    for data in files.values():
        assert data in stream


@needs_zpaq
def test_our_encryption_is_read_by_zpaq(tmp_path):
    files = _tree(tmp_path, "d", 2)
    _zpaq("add", "p.zpaq", "d", cwd=tmp_path)
    (tmp_path / "enc.zpaq").write_bytes(crypto.encrypt_archive((tmp_path / "p.zpaq").read_bytes(), "secret"))
    listing = _zpaq("l", "enc.zpaq", "-key", "secret", cwd=tmp_path).stdout
    assert b"d/f2.txt" in listing
    _zpaq("x", "enc.zpaq", "-key", "secret", "-to", "out", cwd=tmp_path)
    _same_tree(tmp_path / "out", files)
    bad = _zpaq("l", "enc.zpaq", "-key", "wrong", cwd=tmp_path, ok=False)
    assert bad.returncode != 0
    assert b"password incorrect" in bad.stdout + bad.stderr


@needs_zpaq
def test_zpaq_appends_to_our_archive(tmp_path):
    files = _tree(tmp_path, "d", 3)
    _zpaq("add", "p.zpaq", "d", cwd=tmp_path)
    plain1 = (tmp_path / "p.zpaq").read_bytes()
    with (tmp_path / "enc.zpaq").open("wb") as f:
        w = crypto.open_encrypted_writer(f, b"secret")
        for i in range(0, len(plain1), 1000):  # streamed in unaligned pieces
            w.write(plain1[i : i + 1000])
    files |= _tree(tmp_path, "more", 4)
    _zpaq("add", "enc.zpaq", "more", "-key", "secret", cwd=tmp_path)
    with (tmp_path / "enc.zpaq").open("rb") as f:
        plain = crypto.open_encrypted_reader(f, b"secret").read()
    assert plain.startswith(plain1)
    assert plain[len(plain1) :].startswith(crypto.LOCATOR_TAG)
    _zpaq("x", "enc.zpaq", "-key", "secret", "-to", "out", cwd=tmp_path)
    _same_tree(tmp_path / "out", files)


@needs_zpaq
def test_we_append_to_zpaq_encrypted_archive(tmp_path):
    files = _tree(tmp_path, "d", 5)
    _zpaq("add", "e.zpaq", "d", "-key", "secret", cwd=tmp_path)
    # let zpaq write the next transaction into a plain copy, then append its bytes encrypted
    plain1 = crypto.decrypt_archive((tmp_path / "e.zpaq").read_bytes(), b"secret")
    (tmp_path / "p.zpaq").write_bytes(plain1)
    files |= _tree(tmp_path, "more", 6)
    _zpaq("add", "p.zpaq", "more", cwd=tmp_path)
    update = (tmp_path / "p.zpaq").read_bytes()[len(plain1) :]
    assert update.startswith(crypto.LOCATOR_TAG)
    with (tmp_path / "e.zpaq").open("r+b") as f:
        crypto.open_encrypted_writer(f, "secret", append=True).write(update)
    listing = _zpaq("l", "e.zpaq", "-key", "secret", cwd=tmp_path).stdout
    assert b"more/f0.txt" in listing
    _zpaq("x", "e.zpaq", "-key", "secret", "-to", "out", cwd=tmp_path)
    _same_tree(tmp_path / "out", files)
