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


def _spec(component: object) -> object:
    """A tokenizer component as JSON: its own state, not the whole tokenizer's (33 MB for Gemma 3)."""
    return None if component is None else json.loads(component.__getstate__())


def spelling(tok: Tokenizer) -> Spelling:
    """How a tokenizer spells its tokens, from its decoder and pre-tokenizer."""
    parts = (_spec(tok.decoder), _spec(tok.pre_tokenizer))
    if _mentions(parts, ("ByteLevel",)):
        return Spelling.BYTE_LEVEL
    if _mentions(parts, ("Metaspace",)) or _mentions(_spec(tok.normalizer), ("Prepend", "Replace")):
        return Spelling.SENTENCEPIECE
    if getattr(tok.model, "byte_fallback", False):
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
    """Every id of a tokenizer with its matching key: ("bytes", b) for ordinary tokens and for added tokens
    that are plain text (Gemma's newline runs and HTML tags: the bytes of their content), ("special", text)
    for special tokens. fallback: the ids of SentencePiece byte-fallback entries (`<0x65>`), which share a
    key with the ordinary entry for the same byte (`e`) in Gemma 3 and Llama 2 but are almost never used."""

    keys: list[tuple[str, bytes | str]]
    spelling: Spelling
    fallback: frozenset[int]

    def text(self, i: int) -> str:
        kind, value = self.keys[i]
        return value if kind == "special" else value.decode("utf-8", "replace")  # type: ignore[union-attr]


def surface(tok: Tokenizer) -> Surface:
    how = spelling(tok)
    size = tok.get_vocab_size(with_added_tokens=True)
    added = tok.get_added_tokens_decoder()
    keys: list[tuple[str, bytes | str]] = []
    fallback = []
    for i in range(size):
        if i in added:
            t = added[i]
            keys.append(("special", t.content) if t.special else ("bytes", t.content.encode()))
            continue
        token = tok.id_to_token(i)
        if token is None:
            keys.append(("special", f"<missing {i}>"))
            continue
        keys.append(("bytes", token_bytes(token, how)))
        if how is Spelling.SENTENCEPIECE and _HEX_BYTE.fullmatch(token):
            fallback.append(i)
    return Surface(keys, how, frozenset(fallback))


def _ids_by_key(s: Surface) -> dict[tuple[str, bytes | str], list[int]]:
    """Every key's ids, the one a tokenizer produces first: byte-fallback entries last, else in id order."""
    ids: dict[tuple[str, bytes | str], list[int]] = {}
    for i in sorted(range(len(s.keys)), key=s.fallback.__contains__):  # stable
        ids.setdefault(s.keys[i], []).append(i)
    return ids


def shared_ids(new: Surface, old: Surface) -> dict[int, int]:
    """new id -> old id for every token both vocabularies hold. Ids sharing a key pair up in that order (the
    last old one takes any extra new ones), so a new `e` gets the old `e`, not `<0x65>`, and a tokenizer
    transplanted into its own model maps every id to itself."""
    old_ids = _ids_by_key(old)
    pairs = {}
    for key, ids in _ids_by_key(new).items():
        if key in old_ids:
            olds = old_ids[key]
            pairs.update((i, olds[min(k, len(olds) - 1)]) for k, i in enumerate(ids))
    return dict(sorted(pairs.items()))
