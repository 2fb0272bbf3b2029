"""Healing a transplanted tiny random Llama: what each mode moves, budgets, the curve, a clean model after."""

import copy
import itertools
import time

import pytest
import torch

from everybit.common.errors import InputError
from everybit.tokenadapt import heal as healing
from everybit.tokenadapt.heal import TRAIN_MODES, heal, split_held_out, tokenize
from everybit.tokenadapt.models import layout
from everybit.tokenadapt.transplant import load_new_tokenizer, transplant
from tests.tokenadapt.conftest import TEXT, tiny_llama

TINY = {"batch": 4, "seq_len": 32}
REPEATED = TEXT * 40


@pytest.fixture(scope="module")
def adapted(smol_tok, target_tok):
    """tied -> (model, new tokenizer, estimated ids): tiny Llamas given the 800-token supertok tokenizer."""
    out = {}
    for tied in (True, False):
        model = tiny_llama(smol_tok, tied)
        new = load_new_tokenizer(target_tok)
        report = transplant(model, smol_tok, new, "subtoken-mean")
        out[tied] = (model, new, report.estimated_ids)
    return out


def fresh(adapted, tied=True):
    model, tok, ids = adapted[tied]
    return copy.deepcopy(model), tok, ids


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before, model):
    return {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}


def assert_plain(model, before_keys):
    assert not model.training
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert list(model.state_dict()) == before_keys


def row_keys(model):
    """state_dict keys of the embedding and of an untied head (a tied head's key too)."""
    parts = layout(model)
    rows = [parts.input.weight] + ([parts.output.weight] if parts.output is not None else [])
    return {n for n, p in model.named_parameters(remove_duplicate=False) if any(p is w for w in rows)}


@pytest.mark.parametrize("mode", TRAIN_MODES)
def test_every_mode_lowers_the_training_loss(adapted, mode):
    model, tok, ids = fresh(adapted)
    keys = list(model.state_dict())
    curve = heal(model, tok, ids, REPEATED, 12, train=mode, lr=1e-2, **TINY)
    assert [p.step for p in curve] == list(range(13))
    assert curve[-1].train_loss < curve[1].train_loss - 0.1, [p.train_loss for p in curve]
    assert curve[-1].val_bits_per_byte < curve[0].val_bits_per_byte
    assert list(curve[-1].val_bpb) == ["held-out"]
    assert_plain(model, keys)


@pytest.mark.parametrize("tied", [True, False])
def test_rows_moves_only_the_estimated_rows(adapted, tied):
    model, tok, ids = fresh(adapted, tied)
    before = snapshot(model)
    heal(model, tok, ids, REPEATED, 4, train="rows", lr=1e-2, **TINY)
    rows = row_keys(model)
    assert changed(before, model) == rows  # the embedding (and an untied head), nothing else
    shared = sorted(set(range(len(tok))) - set(ids))
    for key in rows:
        after = model.state_dict()[key]
        assert torch.equal(after[shared], before[key][shared])  # bit-identical copied rows
        assert not torch.equal(after[ids], before[key][ids])


def test_rows_norms_moves_only_rows_and_norms(adapted):
    model, tok, ids = fresh(adapted)
    before = snapshot(model)
    heal(model, tok, ids, REPEATED, 4, train="rows+norms", lr=1e-2, **TINY)
    moved = changed(before, model)
    norms = {k for k in before if "norm" in k}
    assert len(norms) == 5 and moved == row_keys(model) | norms  # 2 layers x 2 + the final norm
    shared = sorted(set(range(len(tok))) - set(ids))
    weight = model.get_input_embeddings().weight
    assert torch.equal(weight[shared], before["model.embed_tokens.weight"][shared])


def test_lora_is_merged_and_leaves_a_plain_model(adapted):
    model, tok, ids = fresh(adapted)
    before, keys, n_params = snapshot(model), list(model.state_dict()), len(list(model.parameters()))
    modules = [n for n, _ in model.named_modules()]
    heal(model, tok, ids, REPEATED, 4, train="lora", lr=1e-2, **TINY)
    assert_plain(model, keys)
    assert [n for n, _ in model.named_modules()] == modules and len(list(model.parameters())) == n_params
    moved = changed(before, model)
    linears = {k for k in before if k.startswith("model.layers.") and "proj" in k}
    assert len(linears) == 14 and moved == linears | row_keys(model)  # every Linear but the head, merged


def test_an_interruption_still_merges_and_cleans_up(adapted, monkeypatch):
    model, tok, ids = fresh(adapted)
    before, keys = snapshot(model), list(model.state_dict())
    real, calls = healing.score, []

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 3:  # the evaluation after step 2
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(healing, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        heal(model, tok, ids, REPEATED, 10, train="lora", lr=1e-2, **TINY)
    assert_plain(model, keys)
    assert "model.layers.0.self_attn.q_proj.weight" in changed(before, model)  # merged, not dropped


def test_all_moves_everything_and_the_new_rows_faster(adapted):
    model, tok, ids = fresh(adapted)
    before = snapshot(model)
    heal(model, tok, ids, REPEATED, 4, train="all", lr=1e-2, **TINY)
    assert changed(before, model) == set(before) - {k for k in before if "rotary" in k}
    key = "model.embed_tokens.weight"
    step = (model.state_dict()[key] - before[key]).abs().amax(1)
    shared = sorted(set(range(len(tok))) - set(ids))
    assert step[ids].max() > 10 * step[shared].max() > 0  # rows lr 1e-2, body lr 1e-4


def test_budgets(adapted):
    model, tok, ids = fresh(adapted)
    assert heal(model, tok, ids, REPEATED, steps=3, cpu_minutes=10, **TINY)[-1].step == 3
    curve = heal(model, tok, ids, REPEATED, cpu_minutes=0.01, **TINY)  # 0.6 CPU-seconds: a step at least
    assert curve[-1].step >= 1
    curve = heal(model, tok, ids, REPEATED, steps=1000, cpu_minutes=0.01, **TINY)
    assert 1 <= curve[-1].step < 1000


def test_same_seed_same_curve(adapted):
    def run(seed):
        model, tok, ids = fresh(adapted)
        curve = heal(model, tok, ids, REPEATED, 5, train="lora", seed=seed, **TINY)
        return [(p.step, p.tokens, p.train_bytes, p.train_loss, p.val_bpb) for p in curve]

    assert run(0) == run(0) != run(1)


def test_the_curve_counts_training_cpu_only(adapted, monkeypatch):
    model, tok, ids = fresh(adapted)
    real = healing.score

    def slow_score(*args, **kw):
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
        return real(*args, **kw)

    monkeypatch.setattr(healing, "score", slow_score)
    t0 = time.process_time()
    curve = heal(model, tok, ids, REPEATED, 5, **TINY)
    spent = time.process_time() - t0
    assert [p.tokens for p in curve] == [i * 4 * 32 for i in range(6)]
    for a, b in itertools.pairwise(curve):
        assert b.cpu_seconds > a.cpu_seconds and b.wall_seconds > a.wall_seconds
        assert b.train_bytes > a.train_bytes
    assert curve[-1].cpu_seconds < spent - 6 * 0.2  # six evaluations burnt 1.2 s the curve does not count


def test_validation_texts_and_cpu_marks(adapted):
    model, tok, ids = fresh(adapted)
    vals = {"en": TEXT * 3, "other": "Lorem ipsum dolor sit amet.\n" * 5}
    curve = heal(model, tok, ids, REPEATED, 6, val_texts=vals, eval_at=[1e-9], **TINY)
    assert [p.step for p in curve] == [0, 1, 6]  # 0, the mark right after the first step, the end
    assert set(curve[-1].val_bpb) == {"en", "other"}
    en, other = (len(t.encode()) for t in vals.values())
    expected = (curve[-1].val_bpb["en"] * en + curve[-1].val_bpb["other"] * other) / (en + other)
    assert curve[-1].val_bits_per_byte == pytest.approx(expected)


def test_the_old_positional_call_still_works(adapted):
    model, tok, ids = fresh(adapted)
    curve = heal(model, tok, ids, REPEATED, 3)  # cli.py: heal(model, tok, ids, text, steps)
    assert [p.step for p in curve] == [0, 1, 2, 3] and curve[-1].tokens == 3 * 8 * 256


@pytest.mark.parametrize(
    "kw, message",
    [
        ({}, "needs a budget"),
        ({"steps": 0}, "at least 1"),
        ({"cpu_minutes": 0}, "must be positive"),
        ({"steps": 2, "train": "magic"}, "unknown healing mode 'magic'"),
    ],
)
def test_errors(adapted, kw, message):
    model, tok, ids = fresh(adapted)
    with pytest.raises(ValueError, match=message):
        heal(model, tok, ids, REPEATED, **kw)


def test_too_short_a_text_is_a_clear_error(adapted):
    model, tok, ids = fresh(adapted)
    before, flags = snapshot(model), [p.requires_grad for p in model.parameters()]
    with pytest.raises(InputError, match=r"healing text too short: \d+ tokens to train on, need at least"):
        heal(model, tok, ids, TEXT * 2, 3, seq_len=256)
    assert not changed(before, model) and [p.requires_grad for p in model.parameters()] == flags  # untouched


def test_tokenize_in_chunks_matches_and_counts_bytes(smol_tok, adapted):
    text = ("Ünïcode ✓ naïve café " + TEXT) * 30
    ids, nbytes = tokenize(smol_tok, text, chunk_chars=500)
    assert ids.tolist() == smol_tok(text, add_special_tokens=False)["input_ids"]
    assert int(nbytes.sum()) == len(text.encode())
    new = adapted[True][1]
    ids, nbytes = tokenize(new, text, chunk_chars=500)
    assert len(ids) == len(nbytes) and int(nbytes.sum()) == len(text.encode())


def test_split_held_out_cuts_after_a_newline():
    text = "".join(f"line {i}\n" for i in range(100))
    train, held = split_held_out(text)
    assert train + held == text and train.endswith("\n") and 0.05 < len(held) / len(text) < 0.15
