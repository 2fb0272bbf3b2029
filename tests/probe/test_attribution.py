"""Attribution patching: the gradient estimate is the directional derivative of exact patching."""

import pytest

from everybit.common.errors import InputError
from everybit.probe.attribution import attribute
from everybit.probe.interventions import Engine, Patch, Site, logit_diff
from tests.probe.tiny_models import VOCAB, one_thread, tiny_lm, torch  # noqa: F401 (fixture)


def metric(logits):
    return logit_diff(logits, 3, 7)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def setup(request):
    lm = tiny_lm(request.param)
    lm.model.double()  # float64 (Llama's RMSNorm still rounds to float32 inside: steps of 1e-2 below)
    gen = torch.Generator().manual_seed(5)
    clean = torch.randint(0, VOCAB, (8,), generator=gen)
    corrupt = clean.clone()
    corrupt[2] = (corrupt[2] + 11) % VOCAB
    corrupt[5] = (corrupt[5] + 3) % VOCAB
    return lm, clean, corrupt


def test_attribution_is_the_derivative_of_exact_patching(setup):
    lm, clean, corrupt = setup
    engine = Engine(lm)
    comps = ("head", "resid_pre", "resid_post", "attn_out", "mlp_out", "neuron")
    scores = attribute(engine, clean, corrupt, metric, comps)
    a = lm.adapter
    assert scores["head"].shape == (a.n_layers, a.n_heads)
    assert scores["neuron"].shape == (a.n_layers, a.d_mlp)
    assert all(scores[c].shape == (a.n_layers,) for c in ("resid_pre", "resid_post", "attn_out", "mlp_out"))
    assert scores["head"].dtype == torch.float64

    clean_t, base = engine.run(clean), engine.run(corrupt)
    eps = 1e-2  # central differences: error O(eps^2)
    sites = [Site("head", L, None, h) for L in range(a.n_layers) for h in range(a.n_heads)]
    sites += [Site(c, L, None) for c in comps[1:5] for L in range(a.n_layers)]
    sites += [Site("neuron", L, None, i) for L in range(a.n_layers) for i in (0, 17, 95)]
    variants = []
    for sign in (1, -1):  # move each activation a small step from corrupt toward clean, and away
        for s in sites:
            v = base.value(s)
            variants.append([Patch(s, v + sign * eps * (clean_t.value(s) - v))])
    up, down = metric(engine.patched_logits(corrupt, variants, base)).split(len(sites))
    slopes = (up - down) / (2 * eps)
    want = [
        scores[s.component][s.layer] if s.index is None else scores[s.component][s.layer, s.index]
        for s in sites
    ]
    assert slopes.dtype == torch.float64  # a float64 model keeps float64 logits
    torch.testing.assert_close(slopes, torch.stack(want), atol=2e-5, rtol=1e-3)
    assert torch.stack(want).abs().max() > 1e-3  # the effects are not all zero
    # the output of layer L is the input of layer L+1
    assert scores["resid_post"][:-1].allclose(scores["resid_pre"][1:], atol=1e-6)


def test_counts_per_position_and_reuse(setup):
    lm, clean, corrupt = setup
    engine = Engine(lm)
    trace = engine.run(clean)
    engine.reset_counters()
    per_pos = attribute(engine, clean, corrupt, metric, ("head", "mlp_out"), per_position=True, clean=trace)
    assert (engine.forward_passes, engine.backward_passes) == (1, 1)  # the clean trace was given
    totals = attribute(engine, clean, corrupt, metric, ("head", "mlp_out"))
    assert (engine.forward_passes, engine.backward_passes) == (3, 2)
    a = lm.adapter
    assert per_pos["head"].shape == (a.n_layers, len(clean), a.n_heads)
    assert per_pos["mlp_out"].shape == (a.n_layers, len(clean))
    torch.testing.assert_close(per_pos["head"].sum(1), totals["head"])
    # positions before the first corrupted token carry no difference
    assert per_pos["head"][:, :2].abs().max() == 0


def test_same_prompt_scores_zero(setup):
    lm, clean, _ = setup
    scores = attribute(Engine(lm), clean, clean, metric, ("head", "resid_pre"))
    assert scores["head"].abs().max() == 0 and scores["resid_pre"].abs().max() == 0


def test_frozen_weights_still_get_gradients(setup):
    lm, clean, corrupt = setup
    lm.model.requires_grad_(False)
    try:
        scores = attribute(Engine(lm), clean, corrupt, metric)
    finally:
        lm.model.requires_grad_(True)
    assert scores["head"].abs().max() > 0


def test_bad_attribution_inputs(setup):
    lm, clean, corrupt = setup
    engine = Engine(lm)
    with pytest.raises(InputError, match=r"differ in length \(8 vs 7 tokens\)"):
        attribute(engine, clean, corrupt[:-1], metric)
    with pytest.raises(InputError, match="unknown component 'heads'"):
        attribute(engine, clean, corrupt, metric, ("heads",))
    with pytest.raises(InputError, match="must return one number"):
        attribute(engine, clean, corrupt, lambda logits: logits[:2])
    with pytest.raises(InputError, match="other token ids"):
        attribute(engine, clean, corrupt, metric, clean=engine.run(corrupt))
