"""Per-family adapters: where each component lives in an HF causal LM, and how to run a range of its layers.

No weight conversion: components are read and written with hooks on the model's own modules.

| component  | what                                        | hook                                       |
|------------|---------------------------------------------|--------------------------------------------|
| resid_pre  | input hidden state of layer L               | forward pre-hook on the layer              |
| resid_post | output hidden state of layer L              | forward hook on the layer                  |
| attn_out   | attention block output, before the residual | forward hook on self_attn (Gemma2: its     |
|            | add                                         | post-attention norm)                       |
| mlp_out    | MLP block output, before the residual add   | forward hook on mlp (Gemma2: post-FF norm) |
| head       | o_proj input split by head (..., H, dh)     | forward pre-hook on o_proj / attn.c_proj   |
| neuron     | down_proj input (..., d_mlp)                | forward pre-hook on down_proj / mlp.c_proj |

o_proj's input is n_heads * head_dim wide whatever the number of key-value heads, so grouped-query attention
needs nothing special for `head`.

`run_layers` replays the part of the model's own forward that drives the decoder layers (rotary embeddings,
causal / sliding-window masks, the keyword arguments each layer takes), so a forward can start at any layer
from a cached residual stream and, with `PrefixCache`, at any position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from everybit.common.errors import EverybitError

COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head", "neuron")

# model_type -> (layer list, final norm, module paths inside one layer); "" is the layer itself
_LLAMA_PATHS = {
    "resid_pre": "",
    "resid_post": "",
    "attn_out": "self_attn",
    "mlp_out": "mlp",
    "head": "self_attn.o_proj",
    "neuron": "mlp.down_proj",
}
_GEMMA2_PATHS = _LLAMA_PATHS | {
    "attn_out": "post_attention_layernorm",
    "mlp_out": "post_feedforward_layernorm",
}
_GPT2_PATHS = _LLAMA_PATHS | {
    "attn_out": "attn",
    "mlp_out": "mlp",
    "head": "attn.c_proj",
    "neuron": "mlp.c_proj",
}
_PRE_HOOK = {"resid_pre", "head", "neuron"}  # read/written as the module's input, the rest as its output

LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")
FAMILIES = (*LLAMA_LIKE, "gpt2")


class PrefixCache:
    """Keys and values of positions [0, p) from the unpatched run, handed to the attention layers.

    HF attention calls `cache.update(k, v, layer_idx)` and attends over what it returns, so prepending the
    cached prefix lets a forward compute only positions p.. : patches at positions >= p cannot change
    earlier positions (causal attention), so their keys and values are the unpatched ones. The prefix is
    broadcast to however many rows the batch has at that layer.
    """

    def __init__(self, keys: Sequence[Any], values: Sequence[Any], p: int) -> None:
        self.keys, self.values, self.p = keys, values, p

    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any) -> Any:
        import torch

        b = key_states.shape[0]
        k = self.keys[layer_idx][:, :, : self.p].to(key_states).expand(b, -1, -1, -1)
        v = self.values[layer_idx][:, :, : self.p].to(value_states).expand(b, -1, -1, -1)
        return torch.cat([k, key_states], dim=-2), torch.cat([v, value_states], dim=-2)


@dataclass(frozen=True)
class Adapter:
    """Shapes of one model and where its components are; see the module docstring."""

    family: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_model: int
    d_mlp: int
    vocab_size: int
    paths: dict[str, str]

    # -------------------------------------------------------------- structure
    def decoder(self, model: Any) -> Any:
        """The module that owns the layer list (LlamaModel, GPT2Model, ...)."""
        return model.transformer if self.family == "gpt2" else model.model

    def layers(self, model: Any) -> Any:
        dec = self.decoder(model)
        return dec.h if self.family == "gpt2" else dec.layers

    def final_norm(self, model: Any) -> Any:
        dec = self.decoder(model)
        return dec.ln_f if self.family == "gpt2" else dec.norm

    def hook_point(self, model: Any, component: str, layer: int) -> tuple[Any, bool]:
        """(module, is_pre_hook) where `component` of `layer` is read and written."""
        module = self.layers(model)[layer]
        path = self.paths[component]
        return (module.get_submodule(path) if path else module), component in _PRE_HOOK

    def shape(self, component: str) -> tuple[int, ...]:
        """Shape of one position of `component` (index None)."""
        if component == "head":
            return (self.n_heads, self.head_dim)
        if component == "neuron":
            return (self.d_mlp,)
        return (self.d_model,)

    def index_size(self, component: str) -> int | None:
        """How many heads / neurons Site.index ranges over; None where a component takes no index."""
        return {"head": self.n_heads, "neuron": self.d_mlp}.get(component)

    # -------------------------------------------------------------- running
    def can_skip_prefix(self, model: Any, n_tokens: int) -> bool:
        """Whether forwards may start at a later position (PrefixCache): plain masks only."""
        impl = getattr(model.config, "_attn_implementation", None)
        window = getattr(model.config, "sliding_window", None)
        sliding = self._layer_types(model.config).count("sliding_attention") > 0
        # a sliding-window cache keeps window - 1 positions: shorter prompts see no window at all
        return impl in ("sdpa", "eager") and not (sliding and window is not None and n_tokens >= window)

    def _layer_types(self, config: Any) -> list[str]:
        if self.family == "mistral":  # MistralModel decides by sliding_window alone
            kind = "full_attention" if config.sliding_window is None else "sliding_attention"
            return [kind] * self.n_layers
        types = getattr(config, "layer_types", None) if self.family in ("qwen2", "qwen3", "gemma2") else None
        return list(types) if types else ["full_attention"] * self.n_layers

    def _masks(self, model: Any, dummy: Any, n_tokens: int, start_pos: int) -> list[Any]:
        """One attention mask per layer, built by the same transformers functions the model's forward uses.

        From position 0 they are exactly what the model builds (often None: sdpa's is_causal); from a later
        position they are the full-length masks, materialized, with the query rows of the prefix cut off.
        """
        import torch
        from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

        fns = {"full_attention": create_causal_mask, "sliding_attention": create_sliding_window_causal_mask}
        pos = torch.arange(n_tokens, device=dummy.device).unsqueeze(0)
        types = self._layer_types(model.config)
        built: dict[str, Any] = {}
        for kind in set(types):
            mask = fns[kind](
                config=model.config,
                inputs_embeds=dummy,
                attention_mask=None,
                cache=None,
                position_ids=pos,
                allow_is_causal_skip=start_pos == 0,
            )
            built[kind] = mask if start_pos == 0 else mask[:, :, start_pos:, :]
        return [built[t] for t in types]

    def run_layers(
        self,
        model: Any,
        hidden: Any,
        start: int,
        *,
        n_tokens: int,
        start_pos: int = 0,
        cache: PrefixCache | None = None,
        before_layer: Callable[[int, Any], Any] | None = None,
    ) -> Any:
        """Decoder layers start.. on `hidden` (B, n_tokens - start_pos, d): the residual after the last layer.

        before_layer(i, hidden) may return a new hidden (the engine adds the rows that start at layer i).
        """
        import torch

        dummy = hidden[:1, :1].expand(1, n_tokens, -1)  # masks only read its shape, dtype and device
        masks = self._masks(model, dummy, n_tokens, start_pos)
        pos = torch.arange(start_pos, n_tokens, device=hidden.device).unsqueeze(0)
        layers = self.layers(model)
        if self.family == "gpt2":
            for i in range(start, self.n_layers):
                if before_layer is not None:
                    hidden = before_layer(i, hidden)
                # GPT2Block's positional order: hidden, cache, attention_mask, encoder_hidden_states
                hidden = layers[i](hidden, cache, masks[i], None, position_ids=pos)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            return hidden
        rotary = self.decoder(model).rotary_emb(hidden, pos)
        for i in range(start, self.n_layers):
            if before_layer is not None:
                hidden = before_layer(i, hidden)
            # keywords only: Gemma2's layer takes position_embeddings second, Llama's attention_mask
            hidden = layers[i](
                hidden,
                attention_mask=masks[i],
                position_ids=pos,
                cache=cache,
                position_embeddings=rotary,
            )
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return hidden

    def final_logits(self, model: Any, last: Any) -> Any:
        """Logits (B, V) of the final residual at one position (B, d): final norm, unembedding, softcap;
        fp32 (fp64 for fp64 models)."""
        import torch

        norm = self.final_norm(model)
        head = model.get_output_embeddings()
        h = norm(last.to(norm.weight.device))
        logits = head(h.to(head.weight.device))
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:  # Gemma2's ForCausalLM squashes its logits; the plain forward must match
            logits = torch.tanh(logits / cap) * cap
        return logits.to(torch.promote_types(logits.dtype, torch.float32))


def adapter_for(model: Any) -> Adapter:
    """The adapter of `model`'s family, from config.model_type; EverybitError for other families."""
    cfg = model.config
    family = getattr(cfg, "model_type", None)
    if family not in FAMILIES:
        raise EverybitError(
            f"probe does not know model family {family!r} ({type(model).__name__}); "
            f"supported: {', '.join(FAMILIES)}"
        )
    if family == "gpt2":
        d = cfg.n_embd
        return Adapter(
            family=family,
            n_layers=cfg.n_layer,
            n_heads=cfg.n_head,
            n_kv_heads=cfg.n_head,
            head_dim=d // cfg.n_head,
            d_model=d,
            d_mlp=cfg.n_inner or 4 * d,
            vocab_size=cfg.vocab_size,
            paths=_GPT2_PATHS,
        )
    d = cfg.hidden_size
    head_dim = getattr(cfg, "head_dim", None) or d // cfg.num_attention_heads
    return Adapter(
        family=family,
        n_layers=cfg.num_hidden_layers,
        n_heads=cfg.num_attention_heads,
        n_kv_heads=getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads,
        head_dim=head_dim,
        d_model=d,
        d_mlp=cfg.intermediate_size,
        vocab_size=cfg.vocab_size,
        paths=_GEMMA2_PATHS if family == "gemma2" else _LLAMA_PATHS,
    )
