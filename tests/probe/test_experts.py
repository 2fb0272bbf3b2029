"""Neurons of mixture-of-experts MLPs: (expert, unit) pairs of transformers' fused experts."""

import pytest

from everybit.probe.interventions import Engine, Patch, Site
from everybit.probe.models import wrap_model
from tests.probe.tiny_models import VOCAB, one_thread, torch  # noqa: F401 (fixture)

transformers = pytest.importorskip("transformers")


def _mixtral():
    torch.manual_seed(0)
    cfg = transformers.MixtralConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64,
    )  # fmt: skip
    return wrap_model(transformers.MixtralForCausalLM(cfg), name="tiny-mixtral")


def test_a_layer_has_experts_times_units_neurons_zero_where_a_token_is_not_routed():
    lm = _mixtral()
    assert lm.adapter.d_mlp == 4 * 24 and "neuron" not in lm.adapter.missing
    ids = torch.arange(5, 14)
    trace = Engine(lm).run(ids)
    acts = trace.neuron.view(2, len(ids), 4, 24)  # (layer, position, expert, unit)
    live = acts.abs().sum(-1) > 0
    assert (live.sum(-1) == 2).all()  # exactly top-k = 2 experts per token


def test_patching_an_expert_a_token_skips_changes_nothing_and_zeroing_equals_the_weights():
    lm = _mixtral()
    engine = Engine(lm)
    ids = torch.arange(5, 14)
    base = engine.run(ids)
    acts = base.neuron[1, -1].view(4, 24)
    skipped = int((acts.abs().sum(-1) == 0).nonzero()[0])
    routed = int((acts.abs().sum(-1) > 0).nonzero()[0])
    out = engine.patched_logits(
        ids,
        [
            [Patch(Site("neuron", 1, -1, skipped * 24 + 3), torch.tensor(5.0))],
            [Patch(Site("neuron", 1, -1, routed * 24 + 3), mode="zero")],
        ],
        base,
    )
    torch.testing.assert_close(out[0], base.logits[-1], atol=1e-6, rtol=0)
    experts = lm.model.model.layers[1].mlp.experts
    with torch.no_grad():
        saved = experts.down_proj[routed, :, 3].clone()
        experts.down_proj[routed, :, 3] = 0
        # zeroing the weight zeroes the neuron at every position: compare with the engine doing the same
        want = lm.model(input_ids=ids[None]).logits[0, -1]
        experts.down_proj[routed, :, 3] = saved
    got = engine.patched_logits(ids, [[Patch(Site("neuron", 1, None, routed * 24 + 3), mode="zero")]], base)[
        0
    ]
    torch.testing.assert_close(got, want, atol=2e-5, rtol=0)
    assert (out[1] - base.logits[-1]).abs().max() > 0
