"""Training every method on a small real corpus: HF loading, exact round trips, specials, bad inputs."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from everybit.common.errors import InputError, UsageError
from everybit.supertok import METHODS, load_tokenizer, train
from everybit.supertok.pretok import split_lines

TEXTS = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.text(alphabet="ab \n\t🎉日本語\x00\x07\r", max_size=300),
    st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(0, 3000)),  # long runs
)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_to_the_vocab_size(trained, method):
    tok = load_tokenizer(trained[method])
    assert tok.get_vocab_size() == 600
    assert {"<|endoftext|>", "<|pad|>"} <= set(tok.get_vocab())
    record = json.loads((trained[method] / "supertok.json").read_text())
    assert record["method"] == method and record["vocab_size"] == 600


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=60, deadline=None)
@given(text=TEXTS)
def test_round_trip_any_text(trained, method, text):
    tok = _cached(trained[method])
    assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text


_TOKS = {}


def _cached(path):
    if path not in _TOKS:
        _TOKS[path] = Tokenizer.from_file(str(path / "tokenizer.json"))
    return _TOKS[path]


def test_superword_methods_span_spaces_and_bpe_does_not(trained):
    def spanning(method):
        vocab = load_tokenizer(trained[method]).get_vocab()
        return sum(1 for t in vocab if "Ġ" in t.lstrip("Ġ"))

    assert spanning("bpe") == 0
    for method in ("supertok", "superbpe", "nopretok"):
        assert spanning(method) > 20, method


def test_superbpe_keeps_stage1_and_caps_words(corpus):
    tok = train(corpus, 700, "superbpe", transition=400, max_words=2)
    model = json.loads(tok.to_str())["model"]
    stage1 = json.loads(train(corpus, 400, "bpe").to_str())["model"]
    assert model["merges"][: len(stage1["merges"])] == stage1["merges"]
    spans = [t.replace("Ġ", " ") for t in model["vocab"]]
    assert max(len(t.split()) for t in spans) <= 2


def test_hf_autotokenizer_loads_folder(trained):
    transformers = pytest.importorskip("transformers")
    auto = transformers.AutoTokenizer.from_pretrained(str(trained["supertok"]))
    assert auto.eos_token == "<|endoftext|>" and auto.pad_token == "<|pad|>"
    assert auto.pad_token_id == auto.convert_tokens_to_ids("<|pad|>")
    text = "Tokens that span words: frequently used 🎉\n"
    assert auto.decode(auto(text)["input_ids"]) == text


def test_deterministic_for_a_seed(corpus):
    a = train(corpus, 500, seed=3).to_str()
    assert train(corpus, 500, seed=3).to_str() == a
    assert train(corpus, 500, seed=4).to_str() != a


def test_special_tokens_configurable(corpus):
    cfg = dict(specials={"bos": "<s>", "eos": "</s>", "unk": "<unk>"})
    tok = train(corpus, 400, "bpe", **cfg)
    assert [tok.token_to_id(t) for t in ("<s>", "</s>", "<unk>")] == [0, 1, 2]
    assert tok.encode("a </s> b").tokens[2] == "</s>"


def test_line_pretokens_are_capped():
    text = "word " * 200 + "\n" + "x" * 600
    pieces = list(split_lines(text, 64))
    assert "".join(pieces) == text and max(map(len, pieces)) <= 64 + 1
    assert all(p.startswith(" ") or i == 0 for i, p in enumerate(pieces[:10]))


@pytest.mark.parametrize(
    "kw, error, message",
    [
        (dict(vocab_size=200), UsageError, "smaller than the byte alphabet"),
        (dict(method="wordpiece"), UsageError, "--method"),
        (dict(dist="1-3:0.5"), UsageError, "sum to 0.5"),
        (dict(method="superbpe", transition=5000, vocab_size=1000), UsageError, "--transition"),
        (dict(specials={"cls": "[CLS]"}), UsageError, "unknown role 'cls'"),
    ],
)
def test_bad_config(corpus, kw, error, message):
    with pytest.raises(error, match=message):
        train(corpus, **{"vocab_size": 500, **kw})


def test_bad_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match="no training text"):
        train([empty], 500)
    with pytest.raises(InputError, match="no such file"):
        train([tmp_path / "missing.txt"], 500)
    with pytest.raises(InputError, match="not a file"):
        train([tmp_path], 500)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n" * 10)
    with pytest.raises(InputError, match=r"latin1.txt: not UTF-8 text \(byte 3\)"):
        train([bad], 500)


def test_sampling_bounds_the_text_read(corpus):
    from everybit.supertok.corpus import read_corpus

    everything = sum(len(b.encode()) for b in read_corpus(corpus, block=4096))
    sampled = [b for b in read_corpus(corpus, sample_bytes=everything // 3, block=4096)]
    assert abs(sum(len(b.encode()) for b in sampled) - everything // 3) < 3 * 4096
    assert any("def " in b for b in sampled) and any("def " not in b for b in sampled)  # both files
