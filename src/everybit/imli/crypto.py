"""Archive encryption compatible with ``zpaq -key`` (zpaq 7.15 / libzpaq).

The scheme, as zpaq 7.15 implements it:

* An encrypted archive begins with a 32-byte random salt, stored in the clear. zpaq draws it so that its
  first byte is never ``z`` or ``7`` (the first bytes of a ``zPQ`` block header and of the block locator
  tag), so an encrypted archive cannot be mistaken for a plain one.
* The key is ``scrypt(P=SHA-256(password), S=salt, N=2**14, r=8, p=1, dkLen=32)``: standard scrypt (RFC 7914,
  PBKDF2-HMAC-SHA256 with one iteration at both ends) whose "password" is the 32-byte SHA-256 digest of the
  password bytes, not the password itself. ``hashlib.scrypt`` computes exactly that.
* Every byte after the salt is XORed with an AES-256 counter-mode keystream indexed by the *absolute archive
  offset*: the byte at offset ``o`` takes byte ``o % 16`` of ``AES(key, salt[0:8] || u64_be(o // 16))``.
  Only the first 8 salt bytes form the nonce; counter blocks 0 and 1 cover the salt and are never used. There
  is no per-update state: appending to an encrypted archive just continues the keystream at the file's size.
* There is no MAC. zpaq detects a wrong password by decrypting the first 4 bytes after the salt: they must be
  ``7kSt`` (the start of the 13-byte block locator tag) or ``zPQ`` followed by a level byte from 1 to 127; an
  empty payload is accepted. Anything else is "password incorrect".

Streams here use *payload coordinates*: position 0 is the first byte after the salt, so a plain ZPAQ block
parser can read or write through them unchanged; add :data:`SALT_SIZE` for zpaq's own archive offsets.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from typing import BinaryIO

from everybit.common.errors import InputError

__all__ = [
    "KEY_SIZE",
    "LOCATOR_TAG",
    "SALT_SIZE",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "WRONG_KEY",
    "ArchiveCipher",
    "EncryptedReader",
    "EncryptedWriter",
    "decrypt_archive",
    "derive_key",
    "encrypt_archive",
    "looks_encrypted",
    "new_salt",
    "open_encrypted_reader",
    "open_encrypted_writer",
    "password_digest",
    "plaintext_ok",
]

SALT_SIZE = 32
KEY_SIZE = 32
SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 << 20  # scrypt itself needs 128 * r * N = 16 MiB
_NONCE_SIZE = 8
_U64 = (1 << 64) - 1

#: The 13 bytes that precede every block of a journaling (or any "located") ZPAQ archive.
LOCATOR_TAG = bytes.fromhex("376b5374a03183d38cb228b0d3")
WRONG_KEY = "wrong key or not an encrypted archive"

Password = bytes | bytearray | memoryview | str


# ---------------------------------------------------------------------------------------------- key and salt


def _password_bytes(password: Password) -> bytes:
    """The bytes zpaq hashes: a ``str`` is taken as UTF-8 (what a UTF-8 shell passes to ``zpaq -key``)."""
    if isinstance(password, str):
        return password.encode("utf-8")
    return bytes(password)


def password_digest(password: Password) -> bytes:
    """SHA-256 of the password bytes: what zpaq feeds to scrypt in place of the password."""
    return hashlib.sha256(_password_bytes(password)).digest()


@functools.lru_cache(maxsize=8)
def _scrypt(digest: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(
        digest, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=KEY_SIZE
    )


def _check_salt(salt: bytes | bytearray | memoryview) -> bytes:
    salt = bytes(salt)
    if len(salt) != SALT_SIZE:
        raise ValueError(f"a zpaq salt is {SALT_SIZE} bytes, got {len(salt)}")
    return salt


def derive_key(password: Password, salt: bytes) -> bytes:
    """The AES-256 key zpaq derives from ``password`` and the archive's 32-byte ``salt`` (~50 ms, cached)."""
    return _scrypt(password_digest(password), _check_salt(salt))


def new_salt() -> bytes:
    """32 random bytes whose first byte is neither ``z`` nor ``7``, as zpaq draws them."""
    while True:
        salt = os.urandom(SALT_SIZE)
        if salt[0] not in b"z7":
            return salt


# ---------------------------------------------------------------------------------------------- keystream


class ArchiveCipher:
    """AES-256-CTR keystream of one encrypted archive, addressable at any archive offset.

    ``apply(data, offset)`` XORs ``data`` with the keystream bytes for archive offsets
    ``offset .. offset + len(data) - 1`` (offsets count the salt, as zpaq's do). It encrypts and decrypts.
    """

    __slots__ = ("_key", "_nonce", "salt")

    def __init__(self, password: Password, salt: bytes) -> None:
        self.salt = _check_salt(salt)
        self._key = derive_key(password, self.salt)
        self._nonce = self.salt[:_NONCE_SIZE]

    @classmethod
    def from_key(cls, key: bytes, salt: bytes) -> ArchiveCipher:
        """A cipher from an already derived ``key`` (skips scrypt)."""
        if len(key) != KEY_SIZE:
            raise ValueError(f"an AES-256 key is {KEY_SIZE} bytes, got {len(key)}")
        self = cls.__new__(cls)
        self.salt = _check_salt(salt)
        self._key = bytes(key)
        self._nonce = self.salt[:_NONCE_SIZE]
        return self

    def apply(self, data: bytes | bytearray | memoryview, offset: int) -> bytes:
        """``data`` XOR the keystream starting at archive offset ``offset``."""
        if offset < 0:
            raise ValueError(f"negative archive offset {offset}")
        if not len(data):
            return b""
        # imported here: reading a plain archive (``imli list``) must not pay for loading OpenSSL
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        block, skip = divmod(offset, 16)
        counter = self._nonce + (block & _U64).to_bytes(8, "big")
        ctr = Cipher(algorithms.AES(self._key), modes.CTR(counter)).encryptor()
        if skip:
            ctr.update(bytes(skip))  # discard the keystream bytes before ``offset`` in its block
        return ctr.update(data)

    def __repr__(self) -> str:
        return f"ArchiveCipher(salt={self.salt.hex()[:16]}...)"


# ---------------------------------------------------------------------------------------------- key check


def plaintext_ok(head: bytes) -> bool:
    """zpaq's wrong-key test on the first decrypted bytes after the salt (give at least 13 when there are).

    True for an empty payload, for ``zPQ`` + level 1..127, and for the locator tag (zpaq compares its first
    4 bytes; every byte given is compared here, which no real archive fails).
    """
    if not head:
        return True
    if len(head) < 4:
        return False
    if head[:4] == LOCATOR_TAG[:4]:
        n = min(len(head), len(LOCATOR_TAG))
        return head[:n] == LOCATOR_TAG[:n]
    return head[:3] == b"zPQ" and 1 <= head[3] <= 127


def looks_encrypted(first_bytes: bytes) -> bool:
    """Whether the raw start of a file looks like an encrypted zpaq archive rather than a plain one.

    A plain archive starts with the locator tag or ``zPQ``; zpaq never writes a salt starting with ``7`` or
    ``z``. Anything else at least a salt long is taken as encrypted (the key check has the last word).
    """
    if len(first_bytes) < SALT_SIZE:
        return False
    return first_bytes[0] not in b"z7"


def _wrong_key(fileobj: object) -> InputError:
    name = getattr(fileobj, "name", None)
    return InputError(f"{name}: {WRONG_KEY}" if isinstance(name, str) else WRONG_KEY)


def _read_exactly(fileobj: BinaryIO, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = fileobj.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


# ---------------------------------------------------------------------------------------------- streams


class EncryptedReader(io.RawIOBase):
    """Decrypted, read-only view of an encrypted archive, in payload coordinates (0 = first byte after salt).

    Works on non-seekable inputs (sequential reads only); seeks when the input can.
    """

    def __init__(self, fileobj: BinaryIO, cipher: ArchiveCipher, *, origin: int = 0, pushback: bytes = b""):
        super().__init__()
        self._f = fileobj
        self.cipher = cipher
        self._origin = origin  # where the salt starts in ``fileobj``
        self._pos = 0  # payload position of the next byte returned
        self._pushback = pushback  # decrypted bytes already taken from ``fileobj`` (the key check's probe)
        self.name = getattr(fileobj, "name", None)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._f.seekable()

    def tell(self) -> int:
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if not len(view):
            return 0
        got = 0
        if self._pushback:
            got = min(len(view), len(self._pushback))
            view[:got] = self._pushback[:got]
            self._pushback = self._pushback[got:]
            self._pos += got
            if got == len(view):
                return got
        data = self._f.read(len(view) - got)
        if data:
            n = len(data)
            view[got : got + n] = self.cipher.apply(data, SALT_SIZE + self._pos)
            self._pos += n
            got += n
        return got

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if not self._f.seekable():
            raise io.UnsupportedOperation("the encrypted archive's input cannot seek")
        if whence == io.SEEK_SET:
            target = pos
        elif whence == io.SEEK_CUR:
            target = self._pos + pos
        elif whence == io.SEEK_END:
            end = self._f.seek(0, io.SEEK_END)
            target = end - self._origin - SALT_SIZE + pos
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"seek to payload position {target}, before the start")
        self._f.seek(self._origin + SALT_SIZE + target)
        self._pushback = b""
        self._pos = target
        return target

    def close(self) -> None:
        # The caller owns ``fileobj``; closing the view leaves it open.
        super().close()


class EncryptedWriter(io.RawIOBase):
    """Encrypting, write-only view of an archive in payload coordinates (0 = first byte after salt).

    Seeks (to patch a header written earlier, as zpaq does) when the output can; every byte is encrypted
    for the archive offset it lands at, so rewriting and appending stay consistent with zpaq.
    """

    def __init__(self, fileobj: BinaryIO, cipher: ArchiveCipher, *, origin: int = 0, pos: int = 0):
        super().__init__()
        self._f = fileobj
        self.cipher = cipher
        self._origin = origin
        self._pos = pos
        self.name = getattr(fileobj, "name", None)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._f.seekable()

    def tell(self) -> int:
        return self._pos

    def write(self, b) -> int:  # type: ignore[override]
        data = memoryview(b).cast("B")
        n = len(data)
        if n:
            self._f.write(self.cipher.apply(data, SALT_SIZE + self._pos))
            self._pos += n
        return n

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if not self._f.seekable():
            raise io.UnsupportedOperation("the encrypted archive's output cannot seek")
        if whence == io.SEEK_SET:
            target = pos
        elif whence == io.SEEK_CUR:
            target = self._pos + pos
        elif whence == io.SEEK_END:
            target = self._f.seek(0, io.SEEK_END) - self._origin - SALT_SIZE + pos
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"seek to payload position {target}: that would overwrite the salt")
        self._f.seek(self._origin + SALT_SIZE + target)
        self._pos = target
        return target

    def flush(self) -> None:
        if not self.closed:
            self._f.flush()

    def truncate(self, size: int | None = None) -> int:
        """Cut the archive at payload position ``size`` (default: the current one)."""
        size = self._pos if size is None else size
        self._f.truncate(self._origin + SALT_SIZE + size)
        return size

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


def open_encrypted_reader(fileobj: BinaryIO, password: Password, *, check: bool = True) -> EncryptedReader:
    """Read the salt at ``fileobj``'s current position and return a decrypting view of what follows.

    Raises :class:`InputError` ("wrong key or not an encrypted archive") when the input is shorter than a
    salt or, with ``check``, when the decrypted payload does not start as a ZPAQ archive.
    """
    origin = fileobj.tell() if fileobj.seekable() else 0
    salt = _read_exactly(fileobj, SALT_SIZE)
    if len(salt) != SALT_SIZE:
        raise _wrong_key(fileobj)
    cipher = ArchiveCipher(password, salt)
    pushback = b""
    if check:
        head = cipher.apply(_read_exactly(fileobj, len(LOCATOR_TAG)), SALT_SIZE)
        if not plaintext_ok(head):
            raise _wrong_key(fileobj)
        pushback = head
    return EncryptedReader(fileobj, cipher, origin=origin, pushback=pushback)


def open_encrypted_writer(
    fileobj: BinaryIO, password: Password, *, append: bool = False, salt: bytes | None = None
) -> EncryptedWriter:
    """An encrypting view for writing an archive to ``fileobj``.

    New archive (``append=False``): writes ``salt`` (default: :func:`new_salt`) at the current position and
    returns a writer at payload position 0. Append (``append=True``): ``fileobj`` must be readable and
    seekable (``"r+b"``) and positioned at the archive's start; its salt is read, the key is checked on the
    existing payload as zpaq does, and the writer continues the keystream at the end of the file.
    """
    if not append:
        salt = new_salt() if salt is None else _check_salt(salt)
        origin = fileobj.tell() if fileobj.seekable() else 0
        cipher = ArchiveCipher(password, salt)
        fileobj.write(salt)
        return EncryptedWriter(fileobj, cipher, origin=origin)
    if salt is not None:
        raise ValueError("an appended archive keeps the salt it has")
    reader = open_encrypted_reader(fileobj, password)
    origin = reader._origin
    end = fileobj.seek(0, io.SEEK_END)
    return EncryptedWriter(fileobj, reader.cipher, origin=origin, pos=end - origin - SALT_SIZE)


# ---------------------------------------------------------------------------------------------- whole buffers


def encrypt_archive(plain: bytes, password: Password, *, salt: bytes | None = None) -> bytes:
    """A plain archive's bytes, encrypted as ``zpaq -key`` would store them (salt included)."""
    salt = new_salt() if salt is None else _check_salt(salt)
    return salt + ArchiveCipher(password, salt).apply(plain, SALT_SIZE)


def decrypt_archive(data: bytes, password: Password, *, check: bool = True) -> bytes:
    """The plain archive inside an encrypted one; :class:`InputError` for a wrong key (with ``check``)."""
    if len(data) < SALT_SIZE:
        raise InputError(WRONG_KEY)
    cipher = ArchiveCipher(password, data[:SALT_SIZE])
    if check and not plaintext_ok(cipher.apply(data[SALT_SIZE : SALT_SIZE + len(LOCATOR_TAG)], SALT_SIZE)):
        raise InputError(WRONG_KEY)
    return cipher.apply(memoryview(data)[SALT_SIZE:], SALT_SIZE)
