import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXT = "The quick brown fox, frequently used in examples, jumps over the lazy dog.\n"


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits


def clone_tokenizer(tok):
    """A fresh fast tokenizer with tok's vocabulary and roles (transplant adds tokens to a new tokenizer)."""
    clone = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok.backend_tokenizer.__class__.from_str(tok.backend_tokenizer.to_str())
    )
    clone.bos_token, clone.eos_token, clone.pad_token = tok.bos_token, tok.eos_token, tok.pad_token
    return clone


@pytest.fixture(scope="session")
def smol_gguf():
    from everybit.common.errors import DataUnavailableError
    from everybit.tokenadapt.models import smollm2_gguf

    try:
        return smollm2_gguf()
    except DataUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def smol_tok(smol_gguf):
    """SmolLM2's own tokenizer (byte-level BPE, 49,152 tokens), read from the GGUF file."""
    transformers.logging.set_verbosity_error()
    return transformers.AutoTokenizer.from_pretrained(str(smol_gguf.parent), gguf_file=smol_gguf.name)


def tiny_llama(tok, tied=True, seed=0):
    """A 2-layer random Llama with tok's vocabulary: fast stand-in for a real model."""
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = transformers.LlamaForCausalLM(config)
    if not tied:  # a real untied head, not a copy of the input rows
        with torch.no_grad():
            model.lm_head.weight.normal_(0, 0.05)
    return model.eval()


@pytest.fixture(scope="session")
def target_tok(corpus, tmp_path_factory):
    """A small supertok tokenizer folder (vocab 800, SmolLM2's chat specials kept as bos/eos)."""
    from everybit import supertok

    specials = {"bos": "<|im_start|>", "eos": "<|im_end|>", "pad": "<|pad|>"}
    tok = supertok.train(corpus, vocab_size=800, specials=specials)
    return supertok.save(tok, tmp_path_factory.mktemp("target") / "st800", specials)


def tiny_gemma3(tok, seed=0):
    """A 2-layer random Gemma 3 with tok's vocabulary: tied, and its embedding multiplies rows by sqrt(64)."""
    torch.manual_seed(seed)
    config = transformers.Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return transformers.Gemma3ForCausalLM(config).eval()


@pytest.fixture(scope="session")
def gemma_folder():
    """Gemma 3 270M (262,144 tokens) as the fp32 HF folder bench/data.py caches from the PyPI GGUF wheels."""
    from everybit.common.hfmodels import gemma3_folder

    folder = gemma3_folder()
    if folder is None:
        pytest.skip("Gemma 3 270M not cached: python -c 'from bench import data; data.gemma3_folder()'")
    return folder
