"""Equivalence with TransformerLens 4.3 (TransformerBridge + run_with_hooks) on the real SmolLM2-135M, fp32.

The bridge gets its own model instance (booting rewires the HF model in place) and the same token ids
(SmolLM2's tokenizer adds no BOS; TransformerLens' to_tokens would). Unpatched, the two already differ by
~5e-5 on SmolLM2; every patched result must agree within 1e-4.
"""

import pytest

from tests.probe.tiny_models import one_thread, smollm2_source, torch  # noqa: F401 (fixture)

pytest.importorskip("transformer_lens")

from everybit.common import hfmodels
from everybit.probe.interventions import Engine, Patch, Site
from everybit.probe.models import load_model

TOL = 1e-4
CLEAN = "When Mary and John went to the store, John gave a bottle of milk to"
CORRUPT = "When Mary and John went to the store, Mary gave a bottle of milk to"


@pytest.fixture(scope="module")
def setup():
    from transformer_lens.model_bridge import TransformerBridge

    source = smollm2_source()
    lm = load_model(source)
    model, tok = hfmodels.load(source)  # a second instance: the bridge rewires the one it boots
    bridge = TransformerBridge.boot_transformers("smollm2", hf_model=model, tokenizer=tok)
    clean, corrupt = torch.tensor(lm.encode(CLEAN)), torch.tensor(lm.encode(CORRUPT))
    assert len(clean) == len(corrupt) == 16 and (clean != corrupt).sum() == 1
    with torch.no_grad():
        _, tl_clean = bridge.run_with_cache(clean[None])
    engine = Engine(lm)
    return lm, engine, bridge, clean, corrupt, engine.run(clean), engine.run(corrupt), tl_clean


def tl_patched(bridge, ids, hooks):
    with torch.no_grad():
        return bridge.run_with_hooks(ids[None], fwd_hooks=hooks)[0, -1].float()


def setter(pos, index, value):
    """A TransformerLens hook writing `value` at [batch 0, pos(, index)]: pos None = every position."""

    def hook(x, hook):
        x = x.clone()
        key = (0, slice(None) if pos is None else pos) + (() if index is None else (index,))
        x[key] = value
        return x

    return hook


def test_unpatched_logits_match(setup):
    _, engine, bridge, clean, _, trace, _, _ = setup
    with torch.no_grad():
        tl = bridge(clean[None])[0].float()
    assert (engine.logits(clean) - tl).abs().max() < TOL
    assert (trace.logits - tl).abs().max() < TOL


def check(setup, cases, tl_name):
    """cases: (Site, our value or None for zero, TL value or None for zero)."""
    _, engine, bridge, _, corrupt, _, base, _ = setup
    variants = [[Patch(s, v) if v is not None else Patch(s, mode="zero")] for s, v, _ in cases]
    ours = engine.patched_logits(corrupt, variants, base)
    for row, (site, _, tl_value) in enumerate(cases):
        hook = setter(site.position, site.index, 0.0 if tl_value is None else tl_value)
        tl = tl_patched(bridge, corrupt, [(tl_name(site.layer), hook)])
        assert (ours[row] - tl).abs().max() < TOL, site
    effects = (ours - base.logits[-1]).abs().amax(-1)
    assert (effects > 1e-2).sum() >= len(cases) // 3 and effects.max() > 0.5  # the patches did something


def test_resid_pre_patching_matches(setup):
    _, _, _, _, _, clean_trace, _, tl_clean = setup
    cases = []
    for layer in (0, 9, 20, 29):
        for pos in (-1, 9, None):
            site = Site("resid_pre", layer, pos)
            tl_value = tl_clean[f"blocks.{layer}.hook_resid_pre"][0]
            tl_value = tl_value if pos is None else tl_value[pos]
            cases.append((site, clean_trace.value(site), tl_value))
    check(setup, cases, lambda L: f"blocks.{L}.hook_resid_pre")


def test_head_patching_matches(setup):
    _, _, _, _, _, clean_trace, _, tl_clean = setup
    cases = []
    for layer in (0, 7, 15, 29):
        for head in (0, 4, 8):
            for pos in (-1, None):
                site = Site("head", layer, pos, head)
                z = tl_clean[f"blocks.{layer}.attn.hook_z"][0]  # (T, n_heads, head_dim): o_proj's input
                tl_value = z[:, head] if pos is None else z[pos, head]
                cases.append((site, clean_trace.value(site), tl_value))
        cases.append((Site("head", layer, -1, 2), None, None))  # zero ablation
    check(setup, cases, lambda L: f"blocks.{L}.attn.hook_z")


def test_neuron_patching_matches(setup):
    _, _, _, _, _, clean_trace, _, tl_clean = setup
    cases = []
    for layer in (2, 15, 29):
        for neuron in (0, 777, 1535):
            cases.append((Site("neuron", layer, -1, neuron), None, None))
        site = Site("neuron", layer, None)  # every neuron at every position, from the clean run
        cases.append((site, clean_trace.value(site), tl_clean[f"blocks.{layer}.mlp.hook_post"][0]))
    check(setup, cases, lambda L: f"blocks.{L}.mlp.hook_post")


@pytest.mark.parametrize(
    ("component", "tl_hook"), [("attn_out", "hook_attn_out"), ("mlp_out", "hook_mlp_out")]
)
def test_block_output_patching_matches(setup, component, tl_hook):
    _, _, _, _, _, clean_trace, _, tl_clean = setup
    cases = []
    for layer in (1, 16, 28):
        site = Site(component, layer, -1)
        cases.append((site, clean_trace.value(site), tl_clean[f"blocks.{layer}.{tl_hook}"][0, -1]))
    check(setup, cases, lambda L: f"blocks.{L}.{tl_hook}")
