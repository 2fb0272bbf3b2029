"""Family adapters on tiny random models: shapes, hook points, and forwards started mid-model."""

import pytest

from everybit.common.errors import EverybitError
from everybit.probe.adapters import COMPONENTS, PrefixCache, adapter_for
from everybit.probe.interventions import Engine, Patch, Site
from tests.probe.tiny_models import FAMILIES, VOCAB, one_thread, tiny, tiny_lm, torch  # noqa: F401 (fixture)


def _ids(n=11, seed=2):
    return torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_adapter_fields(family):
    a = adapter_for(tiny(family))
    assert (a.family, a.n_layers, a.n_heads, a.head_dim, a.d_model, a.d_mlp) == (family, 3, 4, 16, 64, 96)
    assert not a.missing and a.residual_scales == (1.0, 1.0) and a.logit_scale == 1.0
    assert a.softcap == (30.0 if family == "gemma2" else None)
    assert a.embed_scale == (8.0 if family.startswith("gemma") else None if family == "gpt2" else 1.0)
    assert a.n_kv_heads == (4 if family == "gpt2" else 2)
    assert a.shape("head") == (4, 16) and a.shape("neuron") == (96,) and a.shape("attn_out") == (64,)
    assert a.index_size("head") == 4 and a.index_size("neuron") == 96 and a.index_size("resid_pre") is None


@pytest.mark.parametrize("family", FAMILIES)
def test_hook_points_see_the_component_shapes(family):
    lm = tiny_lm(family)
    seen = {}
    handles = []
    for comp in COMPONENTS:
        module, pre = lm.adapter.hook_point(lm.model, comp, 1)

        def grab(x, comp=comp):
            seen[comp] = tuple((x[0] if isinstance(x, tuple) else x).shape)

        if pre:
            handles.append(module.register_forward_pre_hook(lambda m, a, grab=grab: grab(a[0])))
        else:
            handles.append(module.register_forward_hook(lambda m, a, o, grab=grab: grab(o)))
    with torch.no_grad():
        lm.model(input_ids=_ids(7)[None])
    for h in handles:
        h.remove()
    assert seen == {
        "resid_pre": (1, 7, 64),
        "resid_post": (1, 7, 64),
        "attn_out": (1, 7, 64),
        "mlp_out": (1, 7, 64),
        "head": (1, 7, 64),  # n_heads * head_dim: o_proj's input, whatever the key-value heads
        "neuron": (1, 7, 96),
    }


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILIES)
def test_forwards_started_at_any_layer_and_position_equal_the_full_forward(family, attn):
    lm = tiny_lm(family, attn=attn)
    a, model = lm.adapter, lm.model
    n = 3 if family == "gemma2" else 11  # Gemma2's window is 4: prefixes only for prompts within it
    ids = _ids(n)
    base = Engine(lm).run(ids)
    want = base.logits[-1]
    assert a.can_skip_prefix(model, n)
    engine = Engine(lm)
    with torch.no_grad():
        for start in range(a.n_layers + 1):
            for p in range(n):
                hidden = base.resid_pre[start, p:][None].expand(3, -1, -1)
                cache = PrefixCache(base.keys, base.values, p) if p else None
                inputs = engine._layer_inputs(base, p)
                out = a.run_layers(model, hidden, start, inputs, cache=cache)
                logits = a.final_logits(model, out[:, -1])
                assert logits.shape == (3, a.vocab_size) and logits.dtype == torch.float32
                torch.testing.assert_close(logits, want.expand(3, -1), atol=2e-5, rtol=0)


def test_sliding_window_models_patch_exactly_beyond_the_window():
    """Gemma2 with an 11-token prompt over a 4-token window: no position prefix, still exact."""
    lm = tiny_lm("gemma2")
    ids = _ids(11)
    engine = Engine(lm)
    base = engine.run(ids)
    assert base.keys is None and not lm.adapter.can_skip_prefix(lm.model, 11)
    sites = [Site(c, L, -1) for c in ("resid_pre", "attn_out", "mlp_out") for L in range(3)]
    out = engine.patched_logits(ids, [[Patch(s, base.value(s))] for s in sites], base)
    torch.testing.assert_close(out, base.logits[-1].expand_as(out), atol=2e-5, rtol=0)
    # and a real change matches the plain forward with the same hook
    site = Site("attn_out", 0, 2)
    got = engine.patched_logits(ids, [[Patch(site, mode="zero")]], base)[0]
    module = lm.model.model.layers[0].post_attention_layernorm  # Gemma2's attention block output
    h = module.register_forward_hook(lambda m, a, o: o.index_fill(1, torch.tensor([2]), 0.0))
    try:
        with torch.no_grad():
            want = lm.model(input_ids=ids[None]).logits[0, -1]
    finally:
        h.remove()
    torch.testing.assert_close(got, want.float(), atol=2e-5, rtol=0)
    assert (got - base.logits[-1]).abs().max() > 1e-4


def test_a_model_that_cannot_be_mapped_gets_one_line_naming_the_missing_piece():
    model = tiny("llama")
    model.model.layers = torch.nn.ModuleList(list(model.model.layers)[:2])  # config still says 3
    with pytest.raises(
        EverybitError, match=r"cannot find its decoder layer list \(no ModuleList of 3 blocks\)"
    ):
        adapter_for(model)
    # a decoder that scales the hidden state between its blocks: replaying the blocks cannot match it
    model, inside = tiny("llama"), []
    model.model.register_forward_pre_hook(lambda m, a: inside.append(1))
    model.model.register_forward_hook(lambda m, a, o: inside.clear())
    model.model.layers[1].register_forward_pre_hook(lambda m, a: (a[0] * 1.5, *a[1:]) if inside else None)
    with pytest.raises(
        EverybitError, match="replaying its decoder blocks one by one does not give its logits"
    ):
        adapter_for(model)
