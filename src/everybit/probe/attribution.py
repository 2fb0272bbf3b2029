"""Attribution patching: a first-order estimate of every patching effect from 2 forwards and 1 backward.

effect(site) ~= grad(metric at the corrupt run, w.r.t. the site's activation) . (clean_act - corrupt_act),

i.e. what patching the clean activation into the corrupt run would change, to first order. Good for heads
and neurons; poor for the residual stream and the first MLP layers, where effects are far from linear
(Kramar et al., AtP*). Use it as a screen and re-check the top ones with Engine.patched_logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from everybit.common.errors import InputError
from everybit.probe.adapters import COMPONENTS
from everybit.probe.interventions import Engine, Trace, at_least_fp32, recording


def attribute(
    engine: Engine,
    clean_ids: Any,
    corrupt_ids: Any,
    metric: Callable[[Any], Any],
    components: Sequence[str] = ("head",),
    *,
    per_position: bool = False,
    clean: Trace | None = None,
) -> dict[str, Any]:
    """Attribution scores per component, fp32 (fp64 for fp64 models) on the CPU.

    metric maps the corrupt run's fp32 last-position logits (V,) to a scalar (e.g. a logit difference).
    Shapes: head (n_layers, n_heads), neuron (n_layers, d_mlp), resid_pre / resid_post / attn_out /
    mlp_out (n_layers,), summed over positions; per_position=True keeps positions as axis 1
    ((n_layers, T, n_heads), (n_layers, T), ...). `clean` reuses a trace of clean_ids (saves a forward).
    """
    import torch

    for c in components:
        if c not in COMPONENTS:
            raise InputError(f"unknown component {c!r}: one of {', '.join(COMPONENTS)}")
    clean_t, corrupt_t = engine.ids(clean_ids), engine.ids(corrupt_ids)
    if len(clean_t) != len(corrupt_t):
        raise InputError(
            f"clean and corrupt prompts differ in length ({len(clean_t)} vs {len(corrupt_t)} tokens): "
            "attribution needs aligned positions"
        )
    if clean is None:
        clean = engine.run(clean_t)
    elif not torch.equal(clean.ids.to(clean_t.device), clean_t):
        raise InputError("the clean trace was run on other token ids than clean_ids")
    comps = list(dict.fromkeys(components))
    model = engine.model

    def leaf(_m: Any, _a: Any, out: Any) -> Any:
        # the graph must reach the activations even when the weights are frozen
        return out if out.requires_grad else out.detach().requires_grad_(True)

    emb = model.get_input_embeddings().register_forward_hook(leaf)
    try:
        with torch.enable_grad(), recording(engine.lm, comps, keep_graph=True) as acts:
            out = model(input_ids=corrupt_t[None], use_cache=False, logits_to_keep=1)
            value = metric(at_least_fp32(out.logits[0, -1]))
            if not (isinstance(value, torch.Tensor) and value.numel() == 1):
                raise InputError("the attribution metric must return one number (a 1-element tensor)")
            keys = [(c, layer) for c in comps for layer in range(engine.adapter.n_layers)]
            grads = torch.autograd.grad(value.reshape(()), [acts[k] for k in keys], allow_unused=True)
    finally:
        emb.remove()
    engine.forward_passes += 1
    engine.backward_passes += 1

    a = engine.adapter
    result: dict[str, Any] = {}
    for c in comps:
        rows = []
        for layer in range(a.n_layers):
            g = grads[keys.index((c, layer))]
            corrupt_act = acts[c, layer].detach()[0]
            if g is None:  # the activation does not reach the metric
                g = torch.zeros_like(corrupt_act)[None]
            delta = clean.get(c)[layer].to(corrupt_act).reshape(corrupt_act.shape) - corrupt_act
            prod = (at_least_fp32(g[0]) * at_least_fp32(delta)).cpu()
            if c == "head":
                score = prod.view(prod.shape[0], a.n_heads, a.head_dim).sum(-1)  # (T, H)
            elif c == "neuron":
                score = prod  # (T, d_mlp)
            else:
                score = prod.sum(-1)  # (T,)
            rows.append(score if per_position else score.sum(0))
        result[c] = torch.stack(rows)
    return result
