"""Text files as the text tools read them: strict UTF-8, errors naming the file and the first bad byte.

Tokenizer training and evaluation (supertok) and language-model scoring (tokenadapt) measure text byte for
byte, so nothing is guessed: a file that is not UTF-8 is refused rather than decoded with replacements.
"""

from __future__ import annotations

from pathlib import Path

from everybit.common.errors import InputError


def decode_utf8(data: bytes, path: str | Path, offset: int = 0) -> str:
    """``data`` (read from ``path`` at ``offset``) as text; ``InputError`` naming the byte if not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {offset + exc.start}); convert it first, e.g. with iconv"
        ) from None


def read_text(path: str | Path) -> str:
    """The whole file as text (a missing file raises the OSError that names it)."""
    return decode_utf8(Path(path).read_bytes(), path)
