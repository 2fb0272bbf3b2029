"""Pre-tokenization: the GPT-4-style regex of the BPE baseline, and the line scheme of superword tokenizers.

Superword tokenizers (supertok, superbpe, nopretok) may not split at spaces, but a whole document as one
pre-token makes encoding slow and memory-hungry. Their pre-tokens are lines cut to at most ``max_chars``
characters, the cut placed before a whitespace character when the line is longer (so no word is split unless
a single word is longer than the cap), newlines attached to the end of their line. The same pattern splits
the training text, so what the trainer sees is what the encoder gets. docs/supertok.md measures the cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tokenizers import Regex, pre_tokenizers

GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)
DEFAULT_MAX_CHARS = 256
_END = r"(?![\s\S])"  # end of input, spelled the same in Python's re and in Oniguruma


def line_pattern(max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Pre-tokens: up to max_chars of a line ending before whitespace (or a hard cut inside one very long
    word), with the line's newlines attached; a run of newlines alone is one pre-token."""
    if not 1 <= max_chars <= 1 << 20:
        raise ValueError(f"max_chars must be between 1 and {1 << 20}, not {max_chars}")
    n = max_chars
    return rf"[^\n]{{1,{n}}}(?=\s|{_END})\n*|[^\n]{{1,{n}}}\n*|\n+"


def split_lines(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[str]:
    """The pre-tokens the line scheme makes of text (what the HF pre-tokenizer does, in Python)."""
    for m in re.finditer(line_pattern(max_chars), text):
        yield m.group()


def byte_level() -> pre_tokenizers.PreTokenizer:
    """Bytes to the printable byte-level alphabet, no splitting."""
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)


def regex_pretokenizer() -> pre_tokenizers.PreTokenizer:
    """The standard BPE baseline's pre-tokenizer: GPT-4's regex, then byte-level."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(GPT4_PATTERN), behavior="isolated"), byte_level()]
    )


def line_pretokenizer(max_chars: int = DEFAULT_MAX_CHARS) -> pre_tokenizers.PreTokenizer:
    """The superword tokenizers' pre-tokenizer: capped lines, then byte-level."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(line_pattern(max_chars)), behavior="isolated"), byte_level()]
    )
