"""Transplanting tokenizers into (tiny random, and one real) Llama models: exactness, shapes, saving."""

import numpy as np
import pytest
import torch
import transformers

from everybit.common.errors import DataUnavailableError, InputError, UsageError
from everybit.tokenadapt.methods import METHODS, SEMANTIC, Options
from everybit.tokenadapt.models import layout, load
from everybit.tokenadapt.surface import shared_ids, surface
from everybit.tokenadapt.transplant import load_new_tokenizer, save, transplant
from tests.tokenadapt.conftest import TEXT, clone_tokenizer, logits, tiny_llama


@pytest.mark.parametrize("tied", [True, False])
def test_own_tokenizer_reproduces_logits_exactly(smol_tok, tied):
    model = tiny_llama(smol_tok, tied)
    ids = smol_tok(TEXT)["input_ids"]
    before = logits(model, ids)
    report = transplant(model, smol_tok, clone_tokenizer(smol_tok), "hybrid")
    assert report.estimated == 0 and report.shared == len(smol_tok)
    assert torch.equal(logits(model, ids), before)
    assert layout(model).tied == tied


@pytest.mark.parametrize("method", [m for m in METHODS if m not in SEMANTIC])
def test_new_tokenizer_rows(smol_tok, target_tok, method):
    model = tiny_llama(smol_tok, tied=True)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    new = load_new_tokenizer(target_tok)
    report = transplant(model, smol_tok, new, method, pad_to=64)
    rows = model.get_input_embeddings().weight.detach()
    assert rows.shape[0] % 64 == 0 and rows.shape[0] >= len(new) and model.config.vocab_size == rows.shape[0]
    assert torch.isfinite(rows).all() and layout(model).tied
    shared = shared_ids(surface(new.backend_tokenizer), surface(smol_tok.backend_tokenizer))
    assert len(shared) + len(report.roles_mapped) == report.shared and len(shared) > 256  # bytes at least
    for n, o in list(shared.items())[:500]:
        assert torch.equal(rows[n], old_rows[o])
    for role in ("bos", "eos", "pad"):
        token_id = getattr(new, f"{role}_token_id")
        assert 0 <= token_id < len(new) and getattr(model.config, f"{role}_token_id") == token_id
    assert new.convert_tokens_to_ids("<|im_start|>") == new.bos_token_id  # carried as a shared special
    last = report.estimated_ids[-2:]  # merged tokens (the first ones are bytes SmolLM2 lacks: 0xC0, 0xF5...)
    assert not torch.equal(rows[last[0]], rows[last[1]]) or method == "mean"


def test_untied_head_is_estimated_separately(smol_tok, target_tok):
    model = tiny_llama(smol_tok, tied=False)
    new = load_new_tokenizer(target_tok)
    report = transplant(model, smol_tok, new, "subtoken-mean")
    i = report.estimated_ids[0]
    assert not layout(model).tied
    assert not torch.equal(model.get_input_embeddings().weight[i], model.get_output_embeddings().weight[i])


def test_save_reload_and_generate(smol_tok, target_tok, tmp_path):
    model = tiny_llama(smol_tok)
    new = load_new_tokenizer(target_tok)
    report = transplant(model, smol_tok, new, "subtoken-mean")
    out = save(model, new, tmp_path / "adapted", report)
    again, tok = load(out)
    assert layout(again).tied and len(tok) == len(new)
    ids = tok("The quick brown", return_tensors="pt")["input_ids"]
    gen = again.generate(ids, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] == ids.shape[1] + 5 and isinstance(tok.decode(gen[0]), str)
    assert tok.chat_template == smol_tok.chat_template and tok.chat_template
    assert (out / "model.safetensors").is_file() and (out / "tokenadapt.json").is_file()


def test_errors(smol_tok, target_tok, tmp_path):
    small = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
        )
    )
    with pytest.raises(InputError, match="do not belong together"):
        transplant(small, smol_tok, load_new_tokenizer(target_tok), "mean")
    with pytest.raises(UsageError, match="--method"):
        transplant(tiny_llama(smol_tok), smol_tok, load_new_tokenizer(target_tok), "magic")
    with pytest.raises(InputError, match="no such file"):
        load_new_tokenizer(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no tokenizer\.json"):
        load_new_tokenizer(tmp_path)
    with pytest.raises(InputError, match=r"no config\.json"):
        load(tmp_path)
    bert = tmp_path / "bert"
    transformers.BertModel(
        transformers.BertConfig(
            vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(bert)
    with pytest.raises(InputError, match="no tokenizer files"):
        load(bert)
    new = load_new_tokenizer(target_tok)
    new.save_pretrained(bert)
    with pytest.raises(InputError, match="unsupported architecture BertLMHeadModel"):
        load(bert)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "x.gguf")


def test_hub_ids_take_the_hub_code_path_and_fail_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError, match="not in the local HF cache"):
        load("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_real_smollm2_own_tokenizer_is_exact(smol_gguf):
    model, tok = load(smol_gguf)
    ids = tok(TEXT)["input_ids"]
    before = logits(model, ids)
    transplant(model, tok, clone_tokenizer(tok), "fitted", Options())
    assert torch.equal(logits(model, ids), before) and layout(model).tied
    np.testing.assert_array_equal(
        model.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False).shape, (1, len(ids) + 3)
    )


TURNS = "{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"


def with_placeholders(tok, template):
    """tok plus Gemma-style specials: 300 <unusedN>, an image marker and two turn markers; a chat template."""
    old = clone_tokenizer(tok)
    extra = [f"<unused{i}>" for i in range(300)] + ["<start_of_image>", "<start_of_turn>", "<end_of_turn>"]
    old.add_special_tokens({"additional_special_tokens": extra}, replace_extra_special_tokens=False)
    old.chat_template = template
    return old


def test_only_specials_a_role_or_the_template_uses_are_carried(smol_tok, target_tok):
    old = with_placeholders(smol_tok, TURNS)
    new = load_new_tokenizer(target_tok)
    had = set(new.get_vocab())
    report = transplant(tiny_llama(old), old, new, "mean")
    roles = {t for t in (old.bos_token, old.eos_token, old.pad_token, old.unk_token) if t}
    assert set(report.added_specials) == (roles | {"<start_of_turn>", "<end_of_turn>"}) - had
    assert len(new) == len(had) + len(report.added_specials)
    specials = [t for t in old.backend_tokenizer.get_added_tokens_decoder().values() if t.special]
    assert report.unused_specials == len(specials) - len(roles | {"<start_of_turn>", "<end_of_turn>"})
    assert not any(t.startswith("<unused") or t == "<start_of_image>" for t in new.get_vocab())
    chat = new.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat == "<start_of_turn>user\nhi<end_of_turn>\n"
    ids = new(chat, add_special_tokens=False)["input_ids"]
    assert ids[0] == new.convert_tokens_to_ids("<start_of_turn>") and len(ids) < len(chat)


def test_template_tokens_match_longest_first(smol_tok, target_tok):
    old = with_placeholders(smol_tok, "{{ '<unused10>' }}{{ messages[0]['content'] }}")
    new = load_new_tokenizer(target_tok)
    report = transplant(tiny_llama(old), old, new, "mean")
    assert "<unused10>" in report.added_specials and "<unused1>" not in report.added_specials


def test_real_gemma3_keeps_its_scale_and_carries_only_used_specials(gemma_folder, target_tok):
    model, tok = load(gemma_folder)
    ids = tok(TEXT)["input_ids"]
    before = logits(model, ids)
    transplant(model, tok, clone_tokenizer(tok), "mean")
    assert torch.equal(logits(model, ids), before)
    new = load_new_tokenizer(target_tok)
    had = len(new)
    report = transplant(model, tok, new, "subtoken-mean")
    assert report.old_vocab == 262_144 and report.unused_specials > 6_000
    assert len(new) == had + len(report.added_specials) <= had + 5  # the roles, no <unusedN>
    assert report.embed_scale == pytest.approx(640**0.5) and layout(model).scale == report.embed_scale
    out = model.generate(new(TEXT, return_tensors="pt")["input_ids"], max_new_tokens=3, do_sample=False)
    assert out.shape[1] == len(new(TEXT)["input_ids"]) + 3 and layout(model).tied
