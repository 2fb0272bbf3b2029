"""The calibrated method: the hybrid family scored by the model on calibration text, the best kept, then
blended with OMP."""

import hashlib

import numpy as np
import pytest

from everybit.common.errors import UsageError
from everybit.tokenadapt.evaluate import score
from everybit.tokenadapt.methods import (
    CALIBRATION_BLENDS,
    CALIBRATION_TEMPERATURES,
    CALIBRATION_WEIGHTS,
    Options,
)
from everybit.tokenadapt.transplant import load_new_tokenizer, transplant
from tests.tokenadapt.conftest import tiny_llama


class HashEmbedder:
    """Deterministic unit vectors per string: lets the semantic methods run without a real model."""

    def encode(self, texts, desc=""):
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8)[:16] for t in texts]
        x = np.array(rows, dtype=np.float32) - 127.5
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_calibrated_keeps_the_best_member(smol_tok, target_tok, corpus):
    text = corpus[0].read_text()[:4000]
    model = tiny_llama(smol_tok)
    new = load_new_tokenizer(target_tok)
    report = transplant(model, smol_tok, new, "calibrated", embedder=HashEmbedder(), calibration_text=text)
    tried = report.calibration
    hybrids = len(CALIBRATION_WEIGHTS) * len(CALIBRATION_TEMPERATURES)
    assert len(tried) == hybrids + len(CALIBRATION_BLENDS)
    best_hybrid = min(tried[:hybrids], key=lambda c: c["bits_per_byte"])
    assert all((c["w"], c["T"]) == (best_hybrid["w"], best_hybrid["T"]) for c in tried[hybrids:])
    assert [c["omp"] for c in tried[hybrids:]] == list(CALIBRATION_BLENDS)  # 1.0: OMP alone
    assert report.donor_space == "external" and report.omp_atoms
    [chosen] = [c for c in tried if c.get("chosen")]
    assert chosen["bits_per_byte"] == min(c["bits_per_byte"] for c in tried)
    assert score(model, new, text).bits_per_byte == pytest.approx(chosen["bits_per_byte"], rel=1e-5)
    assert any(c["w"] == 0.3 and c["T"] == 0.6 for c in tried)  # TokenAdapt's own setting is a candidate


def test_calibrated_needs_text(smol_tok, target_tok):
    with pytest.raises(UsageError, match="--calibration-text"):
        transplant(tiny_llama(smol_tok), smol_tok, load_new_tokenizer(target_tok), "calibrated")


def test_calibrated_without_omp(smol_tok, target_tok, corpus):
    text = corpus[0].read_text()[:2000]
    new = load_new_tokenizer(target_tok)
    opts = Options(k=0)
    report = transplant(
        tiny_llama(smol_tok), smol_tok, new, "calibrated", opts, HashEmbedder(), calibration_text=text
    )
    assert len(report.calibration) == len(CALIBRATION_WEIGHTS) * len(CALIBRATION_TEMPERATURES)
    assert report.donor_space is None
