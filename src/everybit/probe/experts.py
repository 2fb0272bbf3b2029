"""Neurons of mixture-of-experts MLPs: (expert, unit) pairs of transformers' fused experts.

transformers keeps a layer's experts as 3-D weights (gate_up_proj (E, 2I, D), down_proj (E, D, I)) in one
module whose forward loops over the experts a token was routed to; no module sees a per-neuron input. A
neuron here is unit i of expert e, index e * I + i, so a layer has E * I of them. Its activation at a
position is the input of expert e's down projection there (act(gate) * up) when the router sent that token
to e, and 0 when it did not. Patching never changes the routing: a value written for an expert the token
was not sent to has no effect, as that expert does not run for it. Shared experts (Qwen2-MoE, DeepSeek) are
dense MLPs of their own and are not among these neurons.

While a hook is installed the module runs `_forward` below: the same arithmetic as transformers' eager
loop, with the activations gathered into one (batch, positions, E * I) tensor handed to the hooks.
Discovery checks that it reproduces the module's own output before using it (`matches`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EXPERTS = "experts"  # the hook kind adapters.hook_point returns for such a module


def find(mlp: Any) -> str | None:
    """Path (inside `mlp`) of a fused experts module, or None."""
    for name, m in mlp.named_modules():
        gate_up, down = getattr(m, "gate_up_proj", None), getattr(m, "down_proj", None)
        dims = [getattr(w, "dim", lambda: 0)() for w in (gate_up, down)]
        if dims == [3, 3]:
            return name
    return None


def units(experts: Any) -> int:
    """E * I: the neurons of one layer."""
    n, _, i = experts.down_proj.shape
    return n * i


def _forward(experts: Any, hidden: Any, top_k_index: Any, top_k_weights: Any, hooks: list[Callable]) -> Any:
    import torch
    import torch.nn.functional as F

    n_experts, _, width = experts.down_proj.shape
    n_tokens = hidden.shape[0]
    dense = hidden.new_zeros(n_tokens, n_experts, width)
    routed = []
    for e in range(n_experts):
        top_k_pos, token_idx = torch.where((top_k_index == e).T)  # transformers' order: by slot, then token
        if token_idx.numel() == 0:
            continue
        gate, up = F.linear(hidden[token_idx], experts.gate_up_proj[e]).chunk(2, dim=-1)
        dense[token_idx, e] = experts.act_fn(gate) * up
        routed.append((e, token_idx, top_k_pos))
    batch, positions = experts._everybit_shape
    acts = dense.view(batch, positions, n_experts * width)
    for fn in hooks:
        acts = fn(acts)
    dense = acts.reshape(n_tokens, n_experts, width)
    out = torch.zeros_like(hidden)
    for e, token_idx, top_k_pos in routed:
        y = F.linear(dense[token_idx, e], experts.down_proj[e]) * top_k_weights[token_idx, top_k_pos, None]
        out.index_add_(0, token_idx, y.to(out.dtype))
    return out


class _Handle:
    def __init__(self, experts: Any, fn: Callable) -> None:
        self.experts, self.fn = experts, fn

    def remove(self) -> None:
        hooks = self.experts._everybit_hooks
        if self.fn in hooks:
            hooks.remove(self.fn)
        if not hooks:  # the last one out restores the module's own forward
            del self.experts.forward, self.experts._everybit_hooks
            self.experts._everybit_pre.remove()


def hook(experts: Any, parent: Any, fn: Callable[[Any], Any]) -> _Handle:
    """Hand fn(acts (B, T, E * I)) -> acts the module's neuron activations on every forward."""
    if not hasattr(experts, "_everybit_hooks"):
        experts._everybit_hooks = []

        def shape(_m: Any, args: tuple, kwargs: dict) -> None:  # the experts see flattened tokens
            x = args[0] if args else kwargs["hidden_states"]
            experts._everybit_shape = tuple(x.shape[:2])

        experts._everybit_pre = parent.register_forward_pre_hook(shape, with_kwargs=True)
        experts.forward = lambda h, idx, w: _forward(experts, h, idx, w, experts._everybit_hooks)
    experts._everybit_hooks.append(fn)
    return _Handle(experts, fn)


def matches(experts: Any, parent: Any, run: Callable[[], Any], tol: float) -> bool:
    """Whether _forward reproduces the module's own output on the arguments of one forward (`run`)."""
    seen: list[tuple[tuple, Any]] = []

    def keep(_m: Any, args: tuple, out: Any) -> None:
        seen.append((args, out))

    h = experts.register_forward_hook(keep)
    try:
        run()
    finally:
        h.remove()
    if not seen or len(seen[0][0]) != 3 or not hasattr(experts, "act_fn"):
        return False
    (hidden, idx, weights), want = seen[0]
    handle = hook(experts, parent, lambda a: a)
    experts._everybit_shape = (1, hidden.shape[0])
    try:
        got = experts.forward(hidden, idx, weights)
    except (RuntimeError, ValueError, IndexError, TypeError):
        return False
    finally:
        handle.remove()
    scale = max(float(want.abs().max()), 1e-12)
    return got.shape == want.shape and float((got - want).abs().max()) <= tol * scale
