"""How well tokenizers compress held-out text, per domain (one file = one domain).

Metrics (docs/supertok.md defines each): bytes/token, tokens/word (words are whitespace-separated), share of
tokens spanning a word boundary (a non-space followed by whitespace inside one token), types covering 99% of
token occurrences, Rényi efficiency at alpha 2.5 (Zouhar et al. 2023: H_2.5 of the unigram token
distribution over log |V|), encode MB/s (HF `encode_batch` over newline-aligned pieces, all cores) and an
exact round-trip check.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from everybit.common.errors import InputError
from everybit.common.report import Chart, Series, Table
from everybit.common.textfiles import read_text

PIECE = 1 << 16  # characters per encode_batch item: many items keep every core busy
_SPANS = re.compile(r"\S\s")


@dataclass
class Scores:
    tokenizer: str
    domain: str
    bytes: int
    tokens: int
    bytes_per_token: float
    tokens_per_word: float
    spanning_pct: float
    types_99: int
    renyi_2_5: float
    encode_mb_s: float
    round_trip: bool


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A folder holding tokenizer.json, or the file itself."""
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{path}: no tokenizer.json there" if path.is_dir() else f"{path}: no such file")
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises plain Exception on a bad file
        raise InputError(f"{file}: not a tokenizers JSON file ({str(exc).splitlines()[0][:120]})") from None


def pieces(text: str, size: int = PIECE) -> list[str]:
    """text cut just after newlines into pieces of about `size` characters (the cut never splits a line
    unless a line is longer than size)."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            nl = text.rfind("\n", start, end)
            end = nl + 1 if nl >= start else end
        out.append(text[start:end])
        start = end
    return out


def renyi_efficiency(counts: np.ndarray, vocab_size: int, alpha: float = 2.5) -> float:
    p = counts[counts > 0] / counts.sum()
    entropy = math.log(float(np.sum(p**alpha))) / (1 - alpha)
    return entropy / math.log(vocab_size)


def types_covering(counts: np.ndarray, share: float = 0.99) -> int:
    ordered = np.sort(counts[counts > 0])[::-1]
    return int(np.searchsorted(np.cumsum(ordered), share * ordered.sum()) + 1)


def score(tok: Tokenizer, text: str, name: str = "", domain: str = "") -> Scores:
    parts = pieces(text)
    start = time.perf_counter()
    encodings = tok.encode_batch_fast(parts, add_special_tokens=False)
    seconds = time.perf_counter() - start
    ids = [e.ids for e in encodings]
    flat = np.fromiter((i for row in ids for i in row), dtype=np.int64)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    counts = np.bincount(flat, minlength=vocab)
    spanning = sum(
        int(counts[i])
        for i in np.flatnonzero(counts)
        if _SPANS.search(tok.decode([int(i)], skip_special_tokens=False))
    )
    decoded = tok.decode_batch(ids, skip_special_tokens=False)
    n_bytes, n_tokens = len(text.encode()), max(len(flat), 1)
    return Scores(
        tokenizer=name,
        domain=domain,
        bytes=n_bytes,
        tokens=len(flat),
        bytes_per_token=n_bytes / n_tokens,
        tokens_per_word=len(flat) / max(len(text.split()), 1),
        spanning_pct=100 * spanning / n_tokens,
        types_99=types_covering(counts) if len(flat) else 0,
        renyi_2_5=renyi_efficiency(counts, vocab) if len(flat) else 0.0,
        encode_mb_s=n_bytes / 1e6 / max(seconds, 1e-9),
        round_trip="".join(decoded) == text,
    )


def evaluate(tokenizers: Sequence[str | Path], files: Sequence[str | Path]) -> list[Scores]:
    """Scores of every tokenizer (labelled by folder name) on every file (labelled by file stem)."""
    toks = [(Path(t).name if Path(t).is_dir() else Path(t).stem, load_tokenizer(t)) for t in tokenizers]
    texts = [(Path(f).stem, read_text(f)) for f in files]
    return [score(tok, text, name, domain) for domain, text in texts for name, tok in toks]


COLUMNS = list(Scores.__dataclass_fields__)


def table(rows: Sequence[Scores], title: str = "Tokenizer evaluation") -> Table:
    return Table(COLUMNS, [list(asdict(r).values()) for r in rows], title=title)


def chart(rows: Sequence[Scores], title: str = "Bytes per token (higher is better)") -> Chart:
    names = list(dict.fromkeys(r.tokenizer for r in rows))
    series = [
        Series(
            n,
            [r.domain for r in rows if r.tokenizer == n],
            [r.bytes_per_token for r in rows if r.tokenizer == n],
        )
        for n in names
    ]
    return Chart(title, series, kind="bar", xlabel="domain", ylabel="bytes / token")
