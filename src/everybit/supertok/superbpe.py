"""SuperBPE's second stage: continue BPE from stage-1 merges on pre-tokens that span spaces.

Each distinct pre-token is segmented with every stage-1 merge (as the finished tokenizer will segment it),
then the C trainer (_merges.c) adds merges on top, never letting a token span more than `max_words` words.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable

import numpy as np
from tokenizers import Tokenizer, models

from everybit.common.bytelevel import byte_decoder
from everybit.supertok._merges import MergeTrainer
from everybit.supertok.pretok import byte_level

_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def token_shape(text: bytes) -> tuple[int, int, int]:
    """(words spanned, first byte non-space, last byte non-space); a word is a run of non-space bytes."""
    words = sum(1 for i, b in enumerate(text) if b not in _SPACE and (i == 0 or text[i - 1] in _SPACE))
    return words, int(bool(text) and text[0] not in _SPACE), int(bool(text) and text[-1] not in _SPACE)


def continue_training(
    stage1: Tokenizer,
    pretokens: Counter[str],
    vocab_size: int,
    max_words: int = 4,
    min_frequency: int = 2,
    on_merges: Callable[[int], None] | None = None,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of stage 1 extended until vocab_size tokens (or no pair is frequent enough)."""
    vocab = dict(stage1.get_vocab(with_added_tokens=False))
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in _merges_of(stage1)]
    segmenter = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    segmenter.pre_tokenizer = byte_level()
    words = list(pretokens)
    ids = [e.ids for e in segmenter.encode_batch(words, add_special_tokens=False)]
    symbols = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32)
    ends = np.cumsum([len(x) for x in ids], dtype=np.int64)
    counts = np.fromiter((pretokens[w] for w in words), dtype=np.int64, count=len(words))
    decode = byte_decoder()
    names = sorted(vocab, key=vocab.__getitem__)
    if [vocab[n] for n in names] != list(range(len(names))):
        raise ValueError("stage-1 vocabulary ids are not contiguous")
    shapes = np.array([token_shape(bytes(decode.get(c, 0x41) for c in n)) for n in names], dtype=np.uint8)
    trainer = MergeTrainer(symbols, ends, counts, shapes.tobytes(), max_words, min_frequency)
    del symbols, ends, counts, ids, words
    sym_names = list(names)
    while len(vocab) < vocab_size:
        batch = trainer.merge(min(256, vocab_size - len(vocab)))
        if not batch:
            break
        for left, right, _count in batch:
            a, b = sym_names[left], sym_names[right]
            sym_names.append(a + b)
            merges.append((a, b))
            vocab.setdefault(a + b, len(vocab))
        if on_merges:
            on_merges(len(batch))
    return vocab, merges


def _merges_of(tok: Tokenizer) -> list:
    return json.loads(tok.to_str())["model"]["merges"]
