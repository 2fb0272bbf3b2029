"""Training the four tokenizer kinds on the same text, with HF `tokenizers` doing the BPE.

- ``bpe``: byte-level BPE over GPT-4-regex pre-tokens (the usual baseline);
- ``nopretok``: byte-level BPE over whole lines (the line scheme of pretok.py, nothing else);
- ``supertok``: byte-level BPE over random-length chunks of each line (chunking.py);
- ``superbpe``: ``bpe`` up to ``transition`` tokens, then continued over whole lines (superbpe.py).

Every kind ends with the same byte-level alphabet (all 256 bytes are tokens, so nothing is ever unknown and
``decode(encode(x)) == x`` for any text) and no normalizer (NFC would change the text).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from everybit.common.errors import InputError, UsageError
from everybit.common.progress import progress_bar
from everybit.supertok import pretok
from everybit.supertok.chunking import chunk_text
from everybit.supertok.corpus import corpus_bytes, read_corpus
from everybit.supertok.dist import DEFAULT_DIST, parse_dist
from everybit.supertok.superbpe import continue_training

METHODS = ("supertok", "bpe", "superbpe", "nopretok")
ALPHABET = 256
DEFAULT_SPECIALS = {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "pad": "<|pad|>"}
ROLES = ("bos", "eos", "pad", "unk")
DEFAULT_SAMPLE_BYTES = 512 << 20  # 512 MiB of text at most: bounds the trainer's memory


@dataclass
class TrainConfig:
    method: str = "supertok"
    vocab_size: int = 32_000
    dist: str = DEFAULT_DIST
    normalize: bool = False
    seed: int = 0
    transition: int | None = None  # superbpe: stage-1 vocabulary size (default half of vocab_size)
    max_words: int = 4  # superbpe: words a token may span
    max_chars: int = pretok.DEFAULT_MAX_CHARS  # superword kinds: pre-token length cap
    max_token_chars: int | None = None  # supertok/nopretok: longest token (characters)
    min_frequency: int = 2
    drop_runs: int = 0  # supertok: delete runs of this many identical characters (0: keep)
    sample_bytes: int | None = DEFAULT_SAMPLE_BYTES
    specials: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPECIALS))

    def check(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        unknown = set(self.specials) - set(ROLES)
        if unknown:
            raise UsageError(f"--special: unknown role {sorted(unknown)[0]!r} (roles: {', '.join(ROLES)})")
        floor = ALPHABET + len(self.special_tokens)
        if self.vocab_size < floor:
            raise UsageError(
                f"--vocab {self.vocab_size} is smaller than the byte alphabet ({ALPHABET}) "
                f"plus {len(self.special_tokens)} special tokens"
            )
        if self.method == "superbpe" and not floor <= self.stage1_size <= self.vocab_size:
            raise UsageError(f"--transition must be between {floor} and --vocab {self.vocab_size}")
        if self.method == "supertok":
            parse_dist(self.dist, self.normalize)

    @property
    def special_tokens(self) -> list[str]:
        return list(dict.fromkeys(self.specials.values()))

    @property
    def stage1_size(self) -> int:
        return self.transition if self.transition is not None else self.vocab_size // 2


def _new_tokenizer(pre: pre_tokenizers.PreTokenizer) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return tok


def _trainer(cfg: TrainConfig, vocab_size: int, max_token_chars: int | None = None) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in cfg.special_tokens],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=max_token_chars,
        show_progress=False,  # our bar follows the text; the merge phase is short
    )


def _texts(files: Sequence[Path], cfg: TrainConfig, desc: str) -> Iterator[str]:
    total = min(corpus_bytes(files), cfg.sample_bytes or 1 << 62)
    with progress_bar(total, desc) as bar:
        for block in read_corpus(files, cfg.sample_bytes):
            yield block
            bar.update(len(block.encode()))


def _train_hf(
    cfg: TrainConfig,
    texts: Iterable[Any],
    pre: pre_tokenizers.PreTokenizer,
    size: int,
    max_token_chars: int | None = None,
) -> Tokenizer:
    tok = _new_tokenizer(pre)
    tok.train_from_iterator(texts, _trainer(cfg, size, max_token_chars))
    return tok


def _line_counts(files: Sequence[Path], cfg: TrainConfig) -> Counter[str]:
    counts: Counter[str] = Counter()
    for block in _texts(files, cfg, "superbpe: lines"):
        counts.update(pretok.split_lines(block, cfg.max_chars))
    return counts


def train(files: Sequence[Path], cfg: TrainConfig) -> Tokenizer:
    """A trained tokenizer (HF `tokenizers.Tokenizer`) of the configured kind."""
    cfg.check()
    files = [Path(f) for f in files]
    if not files:
        raise InputError("no training text: no input files")
    if corpus_bytes(files) == 0:
        raise InputError(f"{_names(files)}: no training text (every input file is empty)")
    line_pre = pretok.line_pretokenizer(cfg.max_chars)
    if cfg.method == "bpe":
        tok = _train_hf(cfg, _texts(files, cfg, "bpe"), pretok.regex_pretokenizer(), cfg.vocab_size)
    elif cfg.method == "nopretok":
        tok = _train_hf(cfg, _texts(files, cfg, "nopretok"), line_pre, cfg.vocab_size, cfg.max_token_chars)
    elif cfg.method == "supertok":
        dist = parse_dist(cfg.dist, cfg.normalize)
        chunks = chunk_text(_texts(files, cfg, "supertok"), dist, cfg.seed, cfg.max_chars, cfg.drop_runs)
        tok = _train_hf(cfg, chunks, pretok.byte_level(), cfg.vocab_size, cfg.max_token_chars)
    else:
        tok = _train_superbpe(files, cfg)
    tok.pre_tokenizer = pretok.regex_pretokenizer() if cfg.method == "bpe" else line_pre
    return tok


def _names(files: Sequence[Path]) -> str:
    shown = ", ".join(map(str, files[:3]))
    return shown + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def _train_superbpe(files: Sequence[Path], cfg: TrainConfig) -> Tokenizer:
    stage1 = _train_hf(
        cfg, _texts(files, cfg, "superbpe: stage 1"), pretok.regex_pretokenizer(), cfg.stage1_size
    )
    lines = _line_counts(files, cfg)
    todo = cfg.vocab_size - stage1.get_vocab_size(with_added_tokens=True)
    with progress_bar(max(todo, 0), "superbpe: stage 2", unit="merge") as bar:
        vocab, merges = continue_training(
            stage1, lines, cfg.vocab_size, cfg.max_words, cfg.min_frequency, on_merges=bar.update
        )
    tok = _new_tokenizer(pretok.byte_level())
    tok.model = models.BPE(vocab=vocab, merges=merges)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in cfg.special_tokens])
    return tok


def describe(cfg: TrainConfig, files: Sequence[Path], seconds: float) -> dict[str, Any]:
    """The training record saved next to the tokenizer (supertok.json)."""
    record = asdict(cfg)
    record["files"] = [str(f) for f in files]
    record["seconds"] = round(seconds, 2)
    if cfg.method != "supertok":
        for key in ("dist", "normalize", "seed", "drop_runs"):
            record.pop(key)
    return record


def timed_train(files: Sequence[Path], cfg: TrainConfig) -> tuple[Tokenizer, dict[str, Any]]:
    start = time.perf_counter()
    tok = train(files, cfg)
    return tok, describe(cfg, files, time.perf_counter() - start)
