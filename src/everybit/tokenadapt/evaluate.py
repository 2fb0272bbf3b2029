"""How well a (transplanted) causal LM predicts text: bits per byte first, perplexities for comparison.

Text is cut after newlines into samples of about `sample_chars` characters; each sample is tokenized on its
own, preceded by the tokenizer's bos (or eos) token, and every one of its tokens is predicted. Bits per byte =
total NLL / (ln 2 x UTF-8 bytes of all samples): it does not depend on the tokenizer, so models with different
vocabularies compare directly. Also reported: token-weighted perplexity (exp of NLL per token, which does
depend on the tokenizer) and the original paper's metric, the mean over samples of each sample's perplexity,
with its median (the mean is dominated by a few bad samples). ``interval()`` is a bootstrap 95% interval of
bits per byte over the samples (resampled with replacement, total NLL over total bytes each time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from everybit.common.errors import InputError

SAMPLE_CHARS = 2_000
LOGITS_BYTES = 1 << 30  # float32 logits of one batch
BOOTSTRAP = 2_000  # resamples for an interval: the 2.5% and 97.5% points move by < 0.002 bpb beyond this


@dataclass
class LMScores:
    model: str
    domain: str
    bytes: int
    tokens: int
    samples: int
    bits_per_byte: float
    token_ppl: float
    mean_sample_ppl: float
    median_sample_ppl: float
    sample_nll: list[float] = field(default_factory=list, repr=False)  # nats, per sample
    sample_bytes: list[int] = field(default_factory=list, repr=False)

    def interval(self, level: float = 0.95, resamples: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
        """Bootstrap interval of bits per byte over the samples (percentile method)."""
        nll, size = np.asarray(self.sample_nll), np.asarray(self.sample_bytes, dtype=np.float64)
        if len(nll) < 2:
            return self.bits_per_byte, self.bits_per_byte
        pick = np.random.default_rng(seed).integers(0, len(nll), (resamples, len(nll)))
        bpb = nll[pick].sum(1) / (math.log(2) * size[pick].sum(1))
        lo, hi = np.quantile(bpb, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)


def samples(text: str, size: int = SAMPLE_CHARS) -> list[str]:
    """text cut just after newlines into pieces of about `size` characters (none empty)."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
        out.append(text[start:end])
        start = end
    return [s for s in out if s.strip()]


def _prefix_id(tok: Any) -> int:
    for role in ("bos", "eos"):
        token_id = getattr(tok, f"{role}_token_id", None)
        if token_id is not None:
            return int(token_id)
    where = getattr(tok, "name_or_path", "") or "the tokenizer"
    raise InputError(f"{where}: the tokenizer has neither a bos nor an eos token to start samples with")


def sample_nll(
    model: Any, tok: Any, texts: Sequence[str], batch_tokens: int | None = None
) -> list[tuple[float, int]]:
    """(NLL in nats, predicted tokens) per text, batched by length; fp32 log-softmax. The default batch
    keeps its logits near LOGITS_BYTES whatever the vocabulary (Gemma 3's 262k: ~1,000 tokens)."""
    import torch

    vocab = model.get_output_embeddings().weight.shape[0]
    batch_tokens = batch_tokens or max(512, min(8192, LOGITS_BYTES // (4 * vocab)))
    first = _prefix_id(tok)
    encoded = [[first, *tok(t, add_special_tokens=False)["input_ids"]] for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[tuple[float, int]] = [(0.0, 0)] * len(encoded)
    device = next(model.parameters()).device
    i = 0
    with torch.inference_mode():
        while i < len(order):
            n = 1  # shortest first, so the last row of a group is its widest
            while i + n < len(order) and (n + 1) * len(encoded[order[i + n]]) <= batch_tokens:
                n += 1
            group = order[i : i + n]
            width = len(encoded[group[-1]])
            ids = torch.zeros((len(group), width), dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, j in enumerate(group):
                ids[row, : len(encoded[j])] = torch.tensor(encoded[j])
                mask[row, : len(encoded[j])] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten().to(device), reduction="none"
            ).view(len(group), -1) * mask[:, 1:].to(device)
            del logits
            for row, j in enumerate(group):
                results[j] = (float(nll[row].sum()), len(encoded[j]) - 1)
            i += len(group)
    return results


def score(model: Any, tok: Any, text: str, name: str = "", domain: str = "", **kw: Any) -> LMScores:
    parts = samples(text)
    per = sample_nll(model, tok, parts, **kw)
    total_nll = sum(n for n, _ in per)
    total_tokens = sum(t for _, t in per)
    n_bytes = sum(len(p.encode()) for p in parts)
    sample_ppl = np.array([math.exp(min(n / max(t, 1), 700.0)) for n, t in per])  # no overflow
    return LMScores(
        name,
        domain,
        n_bytes,
        total_tokens,
        len(parts),
        total_nll / (math.log(2) * n_bytes),
        math.exp(min(total_nll / max(total_tokens, 1), 700.0)),
        float(sample_ppl.mean()),
        float(np.median(sample_ppl)),
        [n for n, _ in per],
        [len(p.encode()) for p in parts],
    )


FIELDS = [n for n, f in LMScores.__dataclass_fields__.items() if f.repr]
COLUMNS = [*FIELDS, "mean_ppl_ratio", "median_ppl_ratio"]


def table(rows: Sequence[LMScores], title: str = "Language-model evaluation", intervals: bool = False) -> Any:
    """One row per model and domain; the perplexity ratios (the paper's metric and its median) are over the
    first model's on the same domain; with intervals, bootstrap 95% bounds of bits per byte."""
    from everybit.common.report import Table

    first = {r.domain: r for r in reversed(rows)}  # the first row of each domain
    out = []
    for r in rows:
        ref = first[r.domain]
        row = [
            *(getattr(r, n) for n in FIELDS),
            r.mean_sample_ppl / ref.mean_sample_ppl,
            r.median_sample_ppl / ref.median_sample_ppl,
        ]
        out.append([*row, *r.interval()] if intervals else row)
    columns = [*COLUMNS, "bpb_ci_low", "bpb_ci_high"] if intervals else COLUMNS
    return Table(columns, out, title=title)


def chart(rows: Sequence[LMScores], title: str = "Bits per byte (lower is better)") -> Any:
    from everybit.common.report import Chart, Series

    names = list(dict.fromkeys(r.model for r in rows))
    series = [
        Series(n, [r.domain for r in rows if r.model == n], [r.bits_per_byte for r in rows if r.model == n])
        for n in names
    ]
    return Chart(title, series, kind="bar", xlabel="domain", ylabel="bits / byte")
