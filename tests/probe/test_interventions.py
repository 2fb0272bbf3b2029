"""The patching engine on tiny random models: exact against plain HF forwards with naive hooks, batched."""

import random

import pytest

from everybit.common.errors import InputError
from everybit.probe.interventions import Engine, Patch, Site, log_probs, logit_diff
from tests.probe.tiny_models import FAMILIES, VOCAB, one_thread, tiny_lm, torch  # noqa: F401 (fixture)

COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head", "neuron")

# where each component lives, written out independently of probe.adapters: (path in the layer, pre-hook?)
NAIVE_PATHS = {
    "llama": {
        "resid_pre": ("", True),
        "resid_post": ("", False),
        "attn_out": ("self_attn", False),
        "mlp_out": ("mlp", False),
        "head": ("self_attn.o_proj", True),
        "neuron": ("mlp.down_proj", True),
    },
    "gpt2": {
        "resid_pre": ("", True),
        "resid_post": ("", False),
        "attn_out": ("attn", False),
        "mlp_out": ("mlp", False),
        "head": ("attn.c_proj", True),
        "neuron": ("mlp.c_proj", True),
    },
}
NAIVE_PATHS |= {f: NAIVE_PATHS["llama"] for f in ("mistral", "qwen2", "qwen3", "gemma")}
NAIVE_PATHS["gemma2"] = NAIVE_PATHS["llama"] | {  # Gemma2 normalizes both block outputs before the add
    "attn_out": ("post_attention_layernorm", False),
    "mlp_out": ("post_feedforward_layernorm", False),
}


def naive_logits(lm, ids, variant):
    """One plain HF forward of the whole prompt with one hook per patch: the reference."""
    model, fam = lm.model, lm.adapter.family
    layers = model.transformer.h if fam == "gpt2" else model.model.layers
    heads, dh = lm.adapter.n_heads, lm.adapter.head_dim
    handles = []

    def writer(patch):
        s = patch.site

        def write(x):
            x = x.clone()
            view = x.view(*x.shape[:-1], heads, dh) if s.component == "head" else x
            key = (0, slice(None) if s.position is None else s.position)
            key += () if s.index is None else (s.index,)
            view[key] = 0.0 if patch.mode == "zero" else torch.as_tensor(patch.value).to(x)
            return x

        return write

    # overlapping patches of one variant: every-position before one-position, whole before one head/neuron
    order = sorted(variant, key=lambda p: (p.site.position is not None, p.site.index is not None))
    for patch in order:
        path, pre = NAIVE_PATHS[fam][patch.site.component]
        layer = layers[patch.site.layer]
        module = layer.get_submodule(path) if path else layer
        fn = writer(patch)
        if pre:
            handles.append(module.register_forward_pre_hook(lambda m, a, fn=fn: (fn(a[0]), *a[1:])))
        else:
            handles.append(
                module.register_forward_hook(
                    lambda m, a, o, fn=fn: (fn(o[0]), *o[1:]) if isinstance(o, tuple) else fn(o)
                )
            )
    try:
        with torch.no_grad():
            return lm.model(input_ids=torch.as_tensor(ids)[None]).logits[0, -1].float()
    finally:
        for h in handles:
            h.remove()


def random_variants(lm, n_tokens, n, seed=0):
    """Mixed variants: 1-3 patches each, every component, set / zero / mean, one position or all."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    a = lm.adapter
    out = []
    for _ in range(n):
        variant, used = [], set()
        for _ in range(rng.randint(1, 3)):
            comp = rng.choice(COMPONENTS)
            pos = rng.choice([None, -1, -2, 0, rng.randrange(n_tokens)])
            size = a.index_size(comp)
            index = rng.randrange(size) if size and rng.random() < 0.7 else None
            site = Site(comp, rng.randrange(a.n_layers), pos, index)
            key = (comp, site.layer, None if pos is None else pos % n_tokens, index)
            if key in used:
                continue
            used.add(key)
            shape = a.shape(comp) if index is None else a.shape(comp)[1:]
            shape = shape if pos is not None else (n_tokens, *shape)
            mode = rng.choice(["set", "zero", "mean"])
            value = None if mode == "zero" else torch.randn(shape, generator=gen)
            variant.append(Patch(site, value, mode))
        out.append(variant)
    return out


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def lm(request):
    return tiny_lm(request.param)


@pytest.fixture(scope="module")
def ids():
    return torch.randint(0, VOCAB, (10,), generator=torch.Generator().manual_seed(1))


def test_unpatched_logits_equal_the_hf_forward(lm, ids):
    engine = Engine(lm)
    with torch.no_grad():
        hf = lm.model(input_ids=ids[None]).logits[0]
    assert torch.equal(engine.logits(ids), hf)
    trace = engine.run(ids)
    assert torch.equal(trace.logits, hf)
    assert torch.equal(engine.patched_logits(ids, [[]], trace)[0], hf[-1])
    a = lm.adapter
    assert trace.resid_pre.shape == (a.n_layers + 1, len(ids), a.d_model)
    assert trace.head.shape == (a.n_layers, len(ids), a.n_heads, a.head_dim)
    assert trace.neuron.shape == (a.n_layers, len(ids), a.d_mlp)
    assert torch.equal(trace.resid_post[-1], trace.resid_pre[-1])


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("llama", "gpt2")])
def test_other_families_equal_naive(family, ids):
    lm = tiny_lm(family)
    variants = random_variants(lm, len(ids), 30, seed=4)
    naive = torch.stack([naive_logits(lm, ids, v) for v in variants])
    torch.testing.assert_close(Engine(lm).patched_logits(ids, variants), naive, atol=2e-5, rtol=0)


def test_batched_equals_unbatched_equals_naive(lm, ids):
    variants = random_variants(lm, len(ids), 40)
    naive = torch.stack([naive_logits(lm, ids, v) for v in variants])
    engine = Engine(lm)
    base = engine.run(ids)
    batched = engine.patched_logits(ids, variants, base)
    one_by_one = Engine(lm, batch_size=1).patched_logits(ids, variants, base)
    threes = Engine(lm, batch_size=3).patched_logits(ids, variants, base)
    assert batched.dtype == torch.float32 and batched.shape == (40, lm.adapter.vocab_size)
    torch.testing.assert_close(batched, naive, atol=2e-5, rtol=0)
    torch.testing.assert_close(one_by_one, naive, atol=2e-5, rtol=0)
    torch.testing.assert_close(threes, batched, atol=2e-5, rtol=0)
    assert (batched - naive).abs().max() < (naive - naive.mean(0)).abs().max() * 1e-3  # not all the same


def test_sweeps_use_few_forwards_and_count_rows(lm, ids):
    engine = Engine(lm)
    base = engine.run(ids)
    sites = [Site("head", L, -1, h) for L in range(lm.adapter.n_layers) for h in range(lm.adapter.n_heads)]
    variants = [[Patch(s, mode="zero")] for s in sites]
    out = engine.patched_logits(ids, variants, base)
    # the trace, one short forward capturing the blocks' arguments for the last position, one batch
    assert (engine.forward_passes, engine.rows) == (3, len(sites))
    naive = torch.stack([naive_logits(lm, ids, v) for v in variants])
    torch.testing.assert_close(out, naive, atol=2e-5, rtol=0)
    engine.reset_counters()
    engine.patched_logits(ids, variants)  # no base: one trace run first
    assert (engine.forward_passes, engine.rows) == (3, len(sites))


def test_zero_ablating_a_head_equals_zeroing_its_o_proj_input_slice(ids):
    lm = tiny_lm("llama")  # 4 query heads over 2 key-value heads: the slice is per query head
    a = lm.adapter
    assert a.n_kv_heads < a.n_heads
    engine = Engine(lm)
    for layer, head, pos in [(0, 3, -1), (2, 1, None), (1, 2, 4)]:
        got = engine.patched_logits(ids, [[Patch(Site("head", layer, pos, head), mode="zero")]])[0]

        def zero(_m, args, head=head, pos=pos):
            x = args[0].clone()
            x[0, slice(None) if pos is None else pos, head * a.head_dim : (head + 1) * a.head_dim] = 0
            return (x,)

        h = lm.model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(zero)
        try:
            with torch.no_grad():
                want = lm.model(input_ids=ids[None]).logits[0, -1]
        finally:
            h.remove()
        torch.testing.assert_close(got, want, atol=2e-5, rtol=0)
        assert (got - engine.logits(ids)[-1]).abs().max() > 1e-4  # the ablation did something


@pytest.mark.parametrize("component", COMPONENTS)
def test_patching_a_component_with_its_own_value_changes_nothing(lm, ids, component):
    engine = Engine(lm)
    base = engine.run(ids)
    size = lm.adapter.index_size(component)
    sites = [
        Site(component, L, pos, idx)
        for L in range(lm.adapter.n_layers)
        for pos in (-1, 0, 3, None)
        for idx in ([None] if size is None else [None, size - 1])
    ]
    out = engine.patched_logits(ids, [[Patch(s, base.value(s))] for s in sites], base)
    torch.testing.assert_close(out, base.logits[-1].expand_as(out), atol=2e-5, rtol=0)


def test_trace_values_are_the_cached_activations(lm, ids):
    base = Engine(lm).run(ids)
    assert base.value(Site("head", 1, -1, 2)).shape == (lm.adapter.head_dim,)
    assert base.value(Site("head", 1, None, 2)).shape == (len(ids), lm.adapter.head_dim)
    assert base.value(Site("neuron", 0, 3, 5)).shape == ()
    assert base.value(Site("resid_post", 0, None)).shape == (len(ids), lm.adapter.d_model)
    assert torch.equal(base.value(Site("resid_post", 0, 2)), base.resid_pre[1, 2])


def test_transplanting_a_source_run_reproduces_it(lm, ids):
    """Patching every position of resid_pre of layer 0 from another prompt's run gives that run's logits."""
    engine = Engine(lm)
    other = (ids + 1) % VOCAB
    src = engine.run(other)
    site = Site("resid_pre", 0, None)
    out = engine.patched_logits(ids, [[Patch(site, src.value(site))]])
    torch.testing.assert_close(out[0], src.logits[-1], atol=2e-5, rtol=0)


def test_bfloat16_model_gives_fp32_metrics(ids):
    lm = tiny_lm("llama")
    lm.model.to(torch.bfloat16)
    engine = Engine(lm)
    variants = random_variants(lm, len(ids), 8, seed=3)
    out = engine.patched_logits(ids, variants)
    assert out.dtype == torch.float32 and engine.run(ids).logits.dtype == torch.float32
    naive = torch.stack([naive_logits(lm, ids, v) for v in variants])
    assert (out - naive).abs().max() < 0.1  # bf16 rounding of a different batch shape
    assert log_probs(out).dtype == torch.float32


def test_sites_take_any_integer_and_no_variants_cost_nothing(lm, ids):
    import numpy as np

    site = Site("head", np.int64(1), torch.tensor(-1), np.int32(2))
    assert site == Site("head", 1, -1, 2) and type(site.layer) is int
    engine = Engine(lm)
    assert engine.patched_logits(ids, []).shape == (0, lm.adapter.vocab_size)
    assert engine.forward_passes == 0


def test_metrics():
    logits = torch.tensor([[1.0, 3.0, 0.5]], dtype=torch.bfloat16)
    lp = log_probs(logits)
    assert lp.dtype == torch.float32
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(1))
    assert logit_diff(logits, 1, 0).item() == 2.0


def test_memory_budget_sets_rows_per_batch(lm):
    small = Engine(lm, memory_budget_mb=1)
    big = Engine(lm, memory_budget_mb=1024)
    assert 1 <= small.rows_per_batch(10, 10) < big.rows_per_batch(10, 10)
    assert big.rows_per_batch(10, 1) > big.rows_per_batch(10, 10)  # fewer positions per row: more rows
    assert Engine(lm, batch_size=7).rows_per_batch(10, 10) == 7


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Site("heads", 0), "unknown component 'heads'"),
        (lambda: Site("head", 1.5), "Site.layer must be an int"),
        (lambda: Patch(Site("head", 0), mode="erase"), "unknown patch mode 'erase'"),
        (lambda: Patch(Site("head", 0)), "needs a value"),
        (lambda: Patch(Site("head", 0), torch.zeros(1), mode="zero"), "takes no value"),
    ],
)
def test_bad_sites_and_patches(make, message):
    with pytest.raises(InputError, match=message):
        make()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (Patch(Site("head", 3, -1, 0), mode="zero"), r"layer 3 out of range: tiny-llama has layers 0-2"),
        (Patch(Site("resid_pre", -1), mode="zero"), "layer -1 out of range"),
        (Patch(Site("head", 0, -1, 4), mode="zero"), r"head 4 out of range: 4 per layer \(0-3\)"),
        (Patch(Site("neuron", 0, -1, 96), mode="zero"), "neuron 96 out of range"),
        (Patch(Site("mlp_out", 0, -1, 0), mode="zero"), "mlp_out takes no index"),
        (Patch(Site("mlp_out", 0, 10), mode="zero"), "position 10 out of range for a 10-token prompt"),
        (Patch(Site("head", 0, -1, 1), torch.zeros(5)), r"has shape \(5,\), expected \(16,\)"),
        (Patch(Site("head", 0, None), torch.zeros(3, 4, 16)), r"expected \(10, 4, 16\)"),
    ],
)
def test_bad_patches_for_this_model(ids, patch, message):
    engine = Engine(tiny_lm("llama"))
    with pytest.raises(InputError, match=message):
        engine.patched_logits(ids, [[patch]])


def test_bad_inputs(ids):
    engine = Engine(tiny_lm("llama"))
    zero = Patch(Site("head", 0, -1, 0), mode="zero")
    with pytest.raises(InputError, match=r"patches head.*twice"):
        engine.patched_logits(ids, [[zero, Patch(Site("head", 0, 9, 0), mode="zero")]])
    with pytest.raises(InputError, match="non-empty 1-D"):
        engine.run([])
    with pytest.raises(InputError, match="token id out of range"):
        engine.run([1, VOCAB])
    with pytest.raises(InputError, match="other token ids"):
        engine.patched_logits(ids, [[zero]], engine.run(ids[:-1]))
    with pytest.raises(InputError, match="a list of Patch"):
        engine.patched_logits(ids, [[Site("head", 0)]])
    with pytest.raises(InputError, match="batch size must be >= 1"):
        Engine(engine.lm, batch_size=0)
