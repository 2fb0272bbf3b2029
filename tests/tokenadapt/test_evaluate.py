"""Bits per byte and perplexities: the formula, batching, sample cutting."""

import math

import pytest
import torch

from everybit.tokenadapt.evaluate import sample_nll, samples, score
from tests.tokenadapt.conftest import tiny_llama

TEXT = "".join(f"Line {i}: the quick brown fox jumps over the lazy dog {i * 7}.\n" for i in range(120))


def test_samples_cut_after_newlines():
    parts = samples(TEXT, 500)
    assert "".join(parts) == TEXT and all(p.endswith("\n") for p in parts)
    assert samples("\n\n  \n") == []


def test_nll_matches_a_plain_forward(smol_tok):
    model = tiny_llama(smol_tok)
    text = "Hello world, hello tokens.\n"
    ids = [smol_tok.bos_token_id, *smol_tok(text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].float(), -1)
    expected = -sum(logp[i, ids[i + 1]].item() for i in range(len(ids) - 1))
    [(nll, n)] = sample_nll(model, smol_tok, [text])
    assert n == len(ids) - 1 and nll == pytest.approx(expected, rel=1e-5)


def test_batched_equals_unbatched_and_bpb_formula(smol_tok):
    model = tiny_llama(smol_tok)
    parts = samples(TEXT)  # the split score() uses
    one = sample_nll(model, smol_tok, parts, batch_tokens=1)
    many = sample_nll(model, smol_tok, parts, batch_tokens=1 << 16)
    for (a, n), (b, m) in zip(one, many, strict=True):
        assert n == m and a == pytest.approx(b, rel=1e-4)
    s = score(model, smol_tok, TEXT, "tiny", "lines")
    total = sum(a for a, _ in one)
    assert s.bits_per_byte == pytest.approx(total / (math.log(2) * len(TEXT.encode())), rel=1e-4)
    assert s.token_ppl == pytest.approx(math.exp(total / s.tokens), rel=1e-4)
    assert s.median_sample_ppl <= s.mean_sample_ppl * 1.5 and s.samples == len(samples(TEXT))
