"""The C merge trainer against a plain Python BPE and against HF's own trainer."""

import json
from collections import Counter

import numpy as np
import pytest
from everybit.supertok._merges import MergeTrainer
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from everybit.common.bytelevel import byte_decoder
from everybit.supertok.superbpe import token_shape
from tests.fuzz._common import reference_bpe


def c_bpe(words, counts, shapes, k, max_words=0, min_frequency=2):
    symbols = np.array([s for w in words for s in w], dtype=np.uint32)
    ends = np.cumsum([len(w) for w in words], dtype=np.int64)
    trainer = MergeTrainer(
        symbols,
        ends,
        np.array(counts, dtype=np.int64),
        np.array(shapes, dtype=np.uint8).tobytes(),
        max_words,
        min_frequency,
    )
    out = []
    while len(out) < k:
        batch = trainer.merge(min(7, k - len(out)))  # several calls: state carries over
        if not batch:
            break
        out += batch
    return out


words_strategy = st.lists(st.lists(st.integers(0, 4), max_size=12), max_size=30)


@settings(max_examples=300, deadline=None)
@given(words_strategy, st.data())
def test_matches_reference(words, data):
    counts = data.draw(st.lists(st.integers(1, 5), min_size=len(words), max_size=len(words)))
    shape = st.one_of(st.just((0, 0, 0)), st.tuples(st.integers(1, 2), st.integers(0, 1), st.integers(0, 1)))
    shapes = data.draw(st.lists(shape, min_size=5, max_size=5))  # no words: no non-space ends
    max_words = data.draw(st.sampled_from([0, 1, 2, 4]))
    min_frequency = data.draw(st.integers(1, 3))
    args = (words, counts, shapes, 40, max_words, min_frequency)
    assert c_bpe(*args) == reference_bpe(*args)


def test_overlapping_runs_merge_left_to_right():
    # "000": (0, 0) occurs twice (overlapping), merges once, at the left
    assert c_bpe([[0, 0, 0]], [1], [(1, 1, 1)], 5, 0, 1) == [(0, 0, 2), (1, 0, 1)]


def test_same_merges_as_hf_trainer(corpus):
    """From the byte alphabet, on GPT-2 pre-tokens, our trainer picks HF's merges in HF's order."""
    text = "".join(p.read_text() for p in corpus)[:60_000]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(
        [text], trainers.BpeTrainer(vocab_size=256 + 300, initial_alphabet=alphabet, show_progress=False)
    )
    hf = json.loads(tok.to_str())["model"]
    vocab = hf["vocab"]
    words = Counter(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text))
    ids = [[vocab[ch] for ch in w] for w in words]
    decode = byte_decoder()
    shapes = [token_shape(bytes(decode[c] for c in name)) for name in sorted(vocab, key=vocab.get)[:256]]
    ours = c_bpe(ids, list(words.values()), shapes, 300)
    names = sorted(vocab, key=vocab.get)[:256]
    for a, b, _ in ours:
        names.append(names[a] + names[b])
    assert [[names[a], names[b]] for a, b, _ in ours] == [list(m) for m in hf["merges"]]


@pytest.mark.parametrize(
    "symbols, ends, counts, shapes, message",
    [
        ([0, 1], [1], [1], b"\0\0\0" * 2, "last word end"),
        ([0, 5], [2], [1], b"\0\0\0" * 2, "symbol 5"),
        ([0, 1], [2, 1], [1, 1], b"\0\0\0" * 2, "non-decreasing"),
        ([0, 1], [2], [1, 1], b"\0\0\0" * 2, "differ in length"),
        ([0, 1], [2], [1], b"\0\0", "multiple of 3"),
        ([0, 1], [2], [1], b"\0\1\0" * 2, "needs a word"),  # a non-space edge in a zero-word shape
        ([0, 1, 0, 1], [2, 4], [2**62, 2**62], b"\0\0\0" * 2, "overflow int64"),
    ],
)
def test_bad_input(symbols, ends, counts, shapes, message):
    with pytest.raises(ValueError, match=message):
        MergeTrainer(
            np.array(symbols, np.uint32), np.array(ends, np.int64), np.array(counts, np.int64), shapes
        )


def test_token_shape():
    assert token_shape(b" of the") == (2, 0, 1)
    assert token_shape(b"ing of ") == (2, 1, 0)
    assert token_shape(b"   ") == (0, 0, 0)
    assert token_shape(b"x") == (1, 1, 1)


def test_a_trainer_is_not_shared_between_threads():
    """merge() runs without the GIL; a second thread touching the trainer meanwhile is refused."""
    import threading

    n = 200_000
    symbols = np.arange(n, dtype=np.uint32) % 4
    trainer = MergeTrainer(symbols, np.array([n], np.int64), np.array([1], np.int64), b"\0\0\0" * 4)
    refused = []

    def poke():
        while worker.is_alive():
            try:
                trainer.symbols  # noqa: B018 - the getter is what races with merge()
            except RuntimeError as exc:
                refused.append(str(exc))

    worker = threading.Thread(target=trainer.merge, args=(400,))
    worker.start()
    poke()
    worker.join()
    assert refused and all("in use by another thread" in msg for msg in refused)
