"""A tiny random Llama with a small word-level tokenizer, built in the test (no download), for the studies.

Every word the study tests use is one token, so ' yes' is a single-token target and 'yes please' is two.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("yaml")

WORDS = [
    *("<unk>", "is", "the", "sky", "blue", "green", "grass", "yes", "no", "answer", "a", "question"),
    *("please", "write", "poem", "about", "leaves", "it", "am", "pm", "morning", "evening", "at", "7"),
    *("9", "wake", "up", "i", "every", "this", "let's", "meet", "she", "sells", "sea", "shells", "by"),
    *("number", "cat", "sat", "on", "mat", "good", "night", "time", "now"),
]
N_LAYERS, N_HEADS, D_MLP = 2, 4, 48


def word_tokenizer():
    """Whitespace word-level tokenizer over WORDS (no special tokens added on encode)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=D_MLP,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEADS,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():  # random norms too, so that no component is trivially uniform
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    return model.eval()


def tiny_study_lm():
    from everybit.probe.models import wrap_model

    return wrap_model(tiny_llama(), word_tokenizer(), name="tiny-llama")


def save_tiny(folder):
    """The tiny model and its tokenizer as an HF folder that `--model` can load."""
    tiny_llama().save_pretrained(folder)
    word_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; on a busy machine extra threads make them far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
