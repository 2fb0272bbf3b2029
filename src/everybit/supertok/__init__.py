"""supertok: superword tokenizers (tokens that span words), trained with HF `tokenizers`, saved as HF folders.

    from everybit import supertok
    tok = supertok.train(["corpus.txt"], vocab_size=32_000)             # method="supertok" by default
    supertok.save(tok, "my-tok")                                          # tokenizer.json + HF config files
    transformers.AutoTokenizer.from_pretrained("my-tok")                  # loads as a fast tokenizer
    rows = supertok.evaluate(["my-tok", "bpe-tok"], ["held-out.txt"])    # bytes/token, Rényi, speed, ...

Methods: ``supertok`` (BPE over random-length chunks of each line), ``bpe`` (GPT-4-regex baseline),
``superbpe`` (bpe up to a transition size, then merges across spaces, at most 4 words a token), ``nopretok``
(BPE over whole lines). docs/supertok.md has the design, the inference pre-tokenization and the ablations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from everybit.supertok.dist import DEFAULT_DIST, LengthDist, parse_dist
from everybit.supertok.evaluate import Scores, evaluate, load_tokenizer
from everybit.supertok.folder import save as _save
from everybit.supertok.training import DEFAULT_SPECIALS, METHODS, TrainConfig
from everybit.supertok.training import train as _train

__all__ = [
    "DEFAULT_DIST",
    "METHODS",
    "LengthDist",
    "Scores",
    "TrainConfig",
    "evaluate",
    "load_tokenizer",
    "parse_dist",
    "save",
    "train",
]


def train(
    files: Sequence[str | Path], vocab_size: int = 32_000, method: str = "supertok", **options: Any
) -> Tokenizer:
    """A tokenizer trained on UTF-8 text files; options are the fields of ``TrainConfig``."""
    return _train(files, TrainConfig(method=method, vocab_size=vocab_size, **options))


def save(
    tok: Tokenizer,
    out: str | Path,
    specials: dict[str, str] | None = None,
    overwrite: bool = False,
    record: dict[str, Any] | None = None,
) -> Path:
    """Writes an HF tokenizer folder (tokenizer.json, tokenizer_config.json, special_tokens_map.json)."""
    return _save(tok, out, dict(DEFAULT_SPECIALS) if specials is None else specials, record or {}, overwrite)
