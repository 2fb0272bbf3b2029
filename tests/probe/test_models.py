"""Loading models for probing: HF folders, GGUF files, hub ids, dtypes, device maps, tokens."""

import pytest

from everybit.common.errors import DataUnavailableError, EverybitError, InputError
from everybit.probe.models import load_model, wrap_model
from tests.probe.tiny_models import VOCAB, one_thread, smollm2_source, tiny, torch  # noqa: F401 (fixture)

WORDS = ["[UNK]", "<s>", "yes", "no", "good", "morning", "evening"]


def word_tokenizer(bos=True):
    """A whitespace word-level tokenizer of VOCAB tokens; adds <s> by default when bos."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS + [f"w{i}" for i in range(VOCAB - len(WORDS))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    tiny("llama").save_pretrained(out)
    word_tokenizer().save_pretrained(out)
    return out


def test_load_a_folder(folder):
    lm = load_model(folder)
    assert lm.name == "tiny-llama" and lm.adapter.family == "llama" and lm.adapter.n_layers == 3
    assert not lm.model.training and lm.dtype == torch.float32 and lm.device.type == "cpu"
    ids = torch.tensor([[2, 4, 5, 9]])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, tiny("llama")(ids).logits, atol=0, rtol=0)


def test_dtype_and_device_map(folder):
    pytest.importorskip("accelerate")
    lm = load_model(folder, dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    auto = load_model(folder, device_map="auto")  # accelerate's placement: all of it on the CPU here
    assert auto.adapter.family == "llama"
    if not torch.cuda.is_available():
        assert auto.device.type == "cpu"
    with pytest.raises(InputError, match="--dtype must be one of float32, bfloat16, float16"):
        load_model(folder, dtype="fp8")


def test_bad_devices(folder):
    with pytest.raises(InputError, match="not a torch device name"):
        load_model(folder, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no such CUDA device"):
            load_model(folder, device="cuda")


def test_bad_sources(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "missing.gguf")
    with pytest.raises(InputError, match="not a model folder"):
        load_model(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="not in the local HF cache"):
        load_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_a_family_without_a_table_entry_loads_from_a_folder(tmp_path):
    import transformers

    out = tmp_path / "neox"
    cfg = transformers.GPTNeoXConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    transformers.GPTNeoXForCausalLM(cfg).save_pretrained(out)
    word_tokenizer().save_pretrained(out)
    lm = load_model(out)
    assert lm.adapter.family == "gpt_neox" and lm.adapter.paths["head"] == "attention.dense"
    want = (
        "LoadedModel(neox: gpt_neox, 1 layers, d_model 32, 2 heads x 16, d_mlp 64, vocab 97, float32 on cpu)"
    )
    assert repr(lm) == want


def test_encoder_decoder_models_are_refused_in_one_line(tmp_path):
    import transformers

    cfg = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_ff=64, num_layers=1, num_heads=2, d_kv=16)
    with pytest.raises(EverybitError, match="encoder-decoder models are not supported"):
        wrap_model(transformers.T5ForConditionalGeneration(cfg))


def test_encode_and_token_ids(folder):
    lm = load_model(folder)
    assert lm.encode("good morning") == [1, 4, 5]  # this tokenizer's default adds its BOS
    assert lm.encode("good morning", add_special_tokens=False) == [4, 5]
    assert lm.encode("yes", add_special_tokens=True) == [1, 2]
    assert lm.token_id("morning") == 5
    with pytest.raises(InputError, match=r"'good morning' is 2 tokens \['good', 'morning'\].*single tokens"):
        lm.token_id("good morning")
    with pytest.raises(InputError, match="'' is 0 tokens"):
        lm.token_id("")
    bare = wrap_model(tiny("gpt2"))
    assert bare.adapter.family == "gpt2" and bare.name == "model"
    with pytest.raises(InputError, match="no tokenizer loaded"):
        bare.encode("yes")


def test_real_smollm2_loads_with_its_shapes():
    """The cached HF folder when there is one (~1 s); the GGUF path itself is the shared loader's, which
    tokenadapt's real-model test exercises."""
    lm = load_model(smollm2_source())
    a = lm.adapter
    assert (a.family, a.n_layers, a.n_heads, a.n_kv_heads, a.head_dim, a.d_model, a.d_mlp) == (
        "llama",
        30,
        9,
        3,
        64,
        576,
        1536,
    )
    ids = lm.encode("The capital of France is")
    assert len(ids) == 5 and lm.tokenizer.bos_token_id not in ids  # SmolLM2 adds no BOS
    assert lm.token_id(" Paris") == lm.encode(" Paris")[0]
