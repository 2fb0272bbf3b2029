"""The conformance suite: every causal-LM family of the installed transformers, built tiny, random and
offline, mapped by discovery and checked against plain HF forwards (probe.conformance)."""

import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from everybit.probe import conformance
from tests.probe.tiny_models import one_thread  # noqa: F401 (fixture)

# The families the issue names, by their transformers model type: each must pass every check.
MAINSTREAM = {
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
    "gemma3_text", "phi", "phi3", "gpt2", "gpt_neox", "gptj", "falcon", "olmo", "olmo2", "stablelm",
    "cohere", "starcoder2", "opt", "bloom",
}  # fmt: skip
FAMILIES = conformance.families()


@pytest.mark.parametrize("family", FAMILIES)
def test_family(family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny configs make transformers warn about their own defaults
        result = conformance.run_family(family)
    if family in MAINSTREAM:
        assert result.passed, (result.skipped, result.checks)
    reasons = [result.skipped, *result.checks.values()]
    assert all("\n" not in r for r in reasons)  # every reason is one line for the docs table
    # a family either is not applicable (encoder-decoder, no attention, ...: result.skipped says why) or
    # passes; a check that runs and fails is a bug of ours, whatever the family
    assert not any(v.startswith("FAIL") for v in result.checks.values()), result.checks


def test_enough_families_pass_and_the_table_names_them():
    assert len(FAMILIES) >= 100
    results = [
        conformance.FamilyResult("a", "AForCausalLM", checks=dict.fromkeys(conformance.CHECKS, "pass"))
    ]
    results.append(conformance.FamilyResult("b", skipped="encoder-decoder"))
    text = conformance.table(results)
    assert "| a | AForCausalLM | pass | pass | pass | pass | pass |" in text
    assert "| b | - | encoder-decoder |" in text and "**1 of 2 families pass every check**" in text


def test_the_docs_table_is_current():
    """docs/probe-families.md is generated from this suite: at least 30 families pass there."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "probe-families.md").read_text()
    passed = int(re.search(r"\*\*(\d+) of \d+ families pass every check\*\*", text)[1])
    assert passed >= 30 and "FAIL" not in text
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    for family in MAINSTREAM:
        assert "| pass | pass |" in rows[family], rows[family]
