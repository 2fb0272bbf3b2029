"""Finding what a transplant rewrites, across families: embedding, head, tying, embedding scale."""

import math

import pytest
import torch
import transformers

from everybit.common.errors import InputError
from everybit.tokenadapt.models import layout
from everybit.tokenadapt.surface import surface
from everybit.tokenadapt.transplant import load_new_tokenizer, save, transplant
from tests.tokenadapt.conftest import TEXT, clone_tokenizer, logits, tiny_gemma3, tiny_llama


def test_gemma_scale_is_found_and_survives_the_transplant(smol_tok, target_tok, tmp_path):
    model = tiny_gemma3(smol_tok)
    found = layout(model)
    assert found.tied and found.scale == 8.0 and found.scale_source.endswith(".embed_scale")
    ids = smol_tok(TEXT)["input_ids"]
    before = logits(model, ids)
    transplant(model, smol_tok, clone_tokenizer(smol_tok), "mean")
    assert torch.equal(logits(model, ids), before)  # own tokenizer: same model, scale and all

    model = tiny_gemma3(smol_tok)
    raw = model.get_input_embeddings().weight.detach().clone()
    new = load_new_tokenizer(target_tok)
    report = transplant(model, smol_tok, new, "subtoken-mean")
    assert report.embed_scale == 8.0 and layout(model).scale == 8.0 and layout(model).tied
    i = report.estimated_ids[-1]
    text = surface(new.backend_tokenizer).text(i)
    pieces = smol_tok.backend_tokenizer.encode(text, add_special_tokens=False).ids
    row = model.get_input_embeddings().weight[i].detach()
    torch.testing.assert_close(row, raw[pieces].mean(0))  # raw rows in, raw rows out: no sqrt(d) inside
    torch.testing.assert_close(model.get_input_embeddings()(torch.tensor([i]))[0], 8.0 * row)
    new_ids = new(TEXT)["input_ids"]
    before = logits(model, new_ids)
    again = transformers.AutoModelForCausalLM.from_pretrained(save(model, new, tmp_path / "g", report))
    assert layout(again).scale == 8.0 and torch.equal(logits(again.eval(), new_ids), before)


def test_scales_applied_outside_the_embedding(smol_tok):
    granite = transformers.GraniteForCausalLM(
        transformers.GraniteConfig(
            vocab_size=len(smol_tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            embedding_multiplier=12.0,
        )
    )
    found = layout(granite)
    assert found.scale == 12.0 and found.scale_source == "GraniteModel.embedding_multiplier"
    older_gemma = tiny_llama(smol_tok)  # a plain embedding scaled by a local in forward: only the table knows
    older_gemma.config.model_type = "gemma"
    assert layout(older_gemma).scale == math.sqrt(64)
    assert layout(older_gemma).scale_source == "models.FORWARD_SCALES['gemma']"
    assert layout(tiny_llama(smol_tok)).scale == 1.0


def test_tying_follows_the_weights_not_the_config(smol_tok, target_tok):
    model = tiny_llama(smol_tok, tied=False)
    model.config.tie_word_embeddings = True  # says tied, but the head is its own matrix
    report = transplant(model, smol_tok, load_new_tokenizer(target_tok), "subtoken-mean")
    i = report.estimated_ids[0]
    assert not layout(model).tied and not model.config.tie_word_embeddings
    assert not torch.equal(model.get_input_embeddings().weight[i], model.get_output_embeddings().weight[i])


def test_a_missing_piece_is_named(smol_tok, monkeypatch):
    model = tiny_llama(smol_tok, tied=False)
    monkeypatch.setattr(model, "get_output_embeddings", lambda: None)
    with pytest.raises(InputError, match=r"get_output_embeddings\(\) gives no output head"):
        layout(model)
    monkeypatch.undo()

    def unsupported():
        raise NotImplementedError

    monkeypatch.setattr(model, "get_input_embeddings", unsupported)
    with pytest.raises(InputError, match=r"get_input_embeddings\(\) gives no input embedding"):
        layout(model)
    monkeypatch.undo()
    model.lm_head = torch.nn.Linear(64, 100, bias=False)
    with pytest.raises(InputError, match="output head has 100 rows but the input embedding 49152"):
        layout(model)


def test_a_resize_that_drops_the_scale_is_refused(smol_tok, target_tok, monkeypatch):
    model = tiny_gemma3(smol_tok)

    def plain_resize(size, mean_resizing):  # what a transformers that rebuilt the module would do
        model.model.embed_tokens = torch.nn.Embedding(size, 64)
        model.tie_weights()

    monkeypatch.setattr(model, "resize_token_embeddings", plain_resize)
    with pytest.raises(InputError, match=r"changed them \(tied True -> True, scale 8 from \S+ -> 1 from"):
        transplant(model, smol_tok, load_new_tokenizer(target_tok), "mean")
