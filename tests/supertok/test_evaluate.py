"""Evaluation metrics on cases whose answers are known."""

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from everybit.common.errors import InputError
from everybit.supertok.evaluate import evaluate, pieces, renyi_efficiency, score, types_covering
from everybit.supertok.pretok import byte_level


def word_level(words):
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_next")
    return tok


def test_renyi_efficiency():
    uniform = np.ones(16)
    assert renyi_efficiency(uniform, 16) == pytest.approx(1.0)
    assert renyi_efficiency(uniform, 256) == pytest.approx(0.5)
    assert renyi_efficiency(np.array([1.0, 0, 0]), 8) == pytest.approx(0.0)


def test_types_covering():
    assert types_covering(np.array([90, 9, 1])) == 2
    assert types_covering(np.array([50, 50])) == 2
    assert types_covering(np.array([100, 0, 0])) == 1


def test_pieces_cut_after_newlines():
    text = "aaaa\nbb\ncccccc\n" * 3
    out = pieces(text, 10)
    assert "".join(out) == text and all(p.endswith("\n") for p in out)
    assert pieces("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_score_counts_bytes_words_and_spanning():
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate("abĠ")}, merges=[]))
    tok.pre_tokenizer = byte_level()
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    s = score(tok, "ab ab", "t", "d")
    assert (s.bytes, s.tokens, s.bytes_per_token, s.tokens_per_word) == (5, 5, 1.0, 2.5)
    assert s.spanning_pct == 0 and s.round_trip
    merged = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "Ġ": 2, "bĠ": 3}, merges=[("b", "Ġ")]))
    merged.pre_tokenizer, merged.decoder = byte_level(), decoders.ByteLevel()
    s = score(merged, "ab ab", "t", "d")
    assert s.tokens == 4 and s.spanning_pct == pytest.approx(25.0)


def test_round_trip_failure_is_reported():
    tok = word_level(["<unk>", "a", " b"])
    assert not score(tok, "a b c").round_trip


def test_evaluate_labels_and_errors(trained, tmp_path):
    text = tmp_path / "held.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 50)
    rows = evaluate([trained["bpe"], trained["supertok"]], [text])
    assert [(r.tokenizer, r.domain) for r in rows] == [("bpe", "held"), ("supertok", "held")]
    assert all(r.round_trip and r.bytes == 2250 for r in rows)
    assert rows[1].bytes_per_token > rows[0].bytes_per_token  # the repeated sentence packs into supertokens
    with pytest.raises(InputError, match=r"no tokenizer\.json"):
        evaluate([tmp_path], [text])
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(InputError, match="not a tokenizers JSON"):
        evaluate([bad], [text])
    with pytest.raises(InputError, match="no such file"):
        evaluate([tmp_path / "nope.json"], [text])
