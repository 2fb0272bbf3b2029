"""What text a token stands for, whatever the tokenizer's spelling: the key for matching vocabularies.

Byte-level BPE (GPT-2, Llama 3, SmolLM) spells bytes with printable stand-ins (`Ġ` is a space); SentencePiece
spells a space `▁` and unknown bytes `<0xNN>`. Two tokens are the same token when they stand for the same
bytes; added and special tokens match by their content. Matching raw vocabulary strings (the original
tool) finds almost nothing shared between a `Ġ` and a `▁` tokenizer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

from tokenizers import Tokenizer

from everybit.common.bytelevel import byte_decoder

_HEX_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class Spelling(Enum):
    BYTE_LEVEL = "byte-level"
    SENTENCEPIECE = "sentencepiece"
    PLAIN = "plain"


_BYTE_OF = byte_decoder()


def _mentions(node: object, kinds: tuple[str, ...]) -> bool:
    if isinstance(node, dict):
        if node.get("type") in kinds:
            return True
        return any(_mentions(v, kinds) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_mentions(v, kinds) for v in node)
    return False


def spelling(tok: Tokenizer) -> Spelling:
    """How a tokenizer spells its tokens, from its decoder and pre-tokenizer."""
    spec = json.loads(tok.to_str())
    parts = (spec.get("decoder"), spec.get("pre_tokenizer"))
    if _mentions(parts, ("ByteLevel",)):
        return Spelling.BYTE_LEVEL
    if _mentions(parts, ("Metaspace",)) or _mentions(spec.get("normalizer"), ("Prepend", "Replace")):
        return Spelling.SENTENCEPIECE
    if spec.get("model", {}).get("byte_fallback"):
        return Spelling.SENTENCEPIECE
    return Spelling.PLAIN


def token_bytes(token: str, how: Spelling) -> bytes:
    """The bytes a (non-special) vocabulary entry stands for."""
    if how is Spelling.BYTE_LEVEL and all(c in _BYTE_OF for c in token):
        return bytes(_BYTE_OF[c] for c in token)
    if how is Spelling.SENTENCEPIECE:
        m = _HEX_BYTE.fullmatch(token)
        if m:
            return bytes([int(m.group(1), 16)])
        return token.replace("\u2581", " ").encode()
    return token.encode()


@dataclass(frozen=True)
class Surface:
    """Every id of a tokenizer with its matching key: ("bytes", b) for ordinary tokens, ("special", text)
    for added tokens."""

    keys: list[tuple[str, bytes | str]]
    spelling: Spelling
    special_ids: frozenset[int]

    def text(self, i: int) -> str:
        kind, value = self.keys[i]
        return value if kind == "special" else value.decode("utf-8", "replace")  # type: ignore[union-attr]


def surface(tok: Tokenizer) -> Surface:
    how = spelling(tok)
    size = tok.get_vocab_size(with_added_tokens=True)
    added = {i: t.content for i, t in tok.get_added_tokens_decoder().items()}
    keys: list[tuple[str, bytes | str]] = []
    for i in range(size):
        if i in added:
            keys.append(("special", added[i]))
        else:
            token = tok.id_to_token(i)
            keys.append(
                ("bytes", token_bytes(token, how)) if token is not None else ("special", f"<missing {i}>")
            )
    special = frozenset(i for i, t in tok.get_added_tokens_decoder().items() if t.special)
    return Surface(keys, how, special)


def shared_ids(new: Surface, old: Surface) -> dict[int, int]:
    """new id -> old id for every token both vocabularies hold (first old id when the old one repeats)."""
    index: dict[tuple[str, bytes | str], int] = {}
    for i, key in enumerate(old.keys):
        index.setdefault(key, i)
    return {i: index[key] for i, key in enumerate(new.keys) if key in index}
