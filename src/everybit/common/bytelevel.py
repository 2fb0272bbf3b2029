"""GPT-2's byte-level alphabet, which byte-level BPE vocabularies are written in (shared by supertok's trainer
and tokenadapt's vocabulary matching)."""

from __future__ import annotations

from functools import cache


@cache
def byte_decoder() -> dict[str, int]:
    """Printable stand-in character -> byte: printable Latin-1 bytes stand for themselves, the other 68
    bytes take the characters from U+0100 upward (so a space is `Ġ`, a newline `Ċ`)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = list(printable)
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + len(chars) - 188)
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}
