"""Where each component lives in any HF decoder-only causal LM, found from the model itself.

No table of families: `adapter_for` reads the module tree and runs one short forward with hooks on every
module, then checks what it found against that forward's own numbers.

- resid_pre / resid_post: input / output of block L of the layer list (the ModuleList of num_layers blocks);
- attn_out / mlp_out: the attention / MLP child's output, or the norm applied to it (Gemma 2/3, OLMo 2),
  or its out projection (Bloom adds the residual inside), whichever pair makes
  resid_post - resid_pre = a * attn_out + m * mlp_out on the discovery forward;
- head: input of the last projection the attention calls (o_proj, dense, c_proj, ...), split by head;
- neuron: input of the last projection the MLP calls (down_proj, c_proj, fc2, ...; dense MLPs).

The final logits are the modules the decoder calls after its last block (final norm, OPT's project_out, ...),
the unembedding, then a scale (Cohere, Granite) and a soft cap (Gemma 2/3) fitted to the real logits.

Forwards that start mid-model replay the decoder blocks with the very arguments the model passed them
(`LayerInputs`: masks, rotary tables, positions), captured from a real forward, so nothing about a family's
masking or positions is re-implemented here. A forward from position p onwards is captured from a forward of
positions p.. over a cache holding positions < p; patched batches then read that prefix from `PrefixCache`.
Discovery ends by replaying every block and comparing with the model's own logits: a model whose decoder does
more than call its blocks gets one line saying so, never wrong numbers.

What cannot be discovered is declared in `_OVERRIDES` (batch-folded ALiBi tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from everybit.common.errors import EverybitError, InputError
from everybit.probe import experts

COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head", "neuron")
_PRE_HOOK = {"resid_pre", "head", "neuron"}  # read/written as the module's input, the rest as its output

# Layer keyword arguments whose leading dimension is batch x heads (Bloom, Falcon build ALiBi that way): a
# batch of B rows needs them repeated B times. Nothing else about a family is declared.
_OVERRIDES: dict[str, dict[str, Any]] = {
    "bloom": {"batch_folded": ("alibi",)},
    "falcon": {"batch_folded": ("alibi",)},
}
_ATTENTION = ("attention", "attn")  # class-name or attribute-name fragments of the attention block
_MLP = ("mlp", "moe", "feedforward", "feed_forward", "ffn", "expert")
_WINDOWS = ("sliding_window", "attention_chunk_size", "window_size", "local_window_size")


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

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.p


@dataclass
class LayerInputs:
    """What the decoder passed each block besides the hidden state, captured from one forward: per block
    (positional args after the hidden state, keyword args). Caches are swapped out when replayed."""

    start_pos: int
    calls: list[tuple[tuple, dict]]


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
    layers_path: str
    paths: dict[str, str]  # component -> module path inside a block ("" = the block)
    tail: tuple[str, ...] = ()  # modules the decoder applies after its last block, paths from the model
    logit_scale: float = 1.0
    softcap: float | None = None
    embed_scale: float | None = None  # resid_pre[0] / embedding, when the ratio is one number
    residual_scales: tuple[float, float] = (1.0, 1.0)  # how attn_out and mlp_out enter the residual
    missing: dict[str, str] = field(default_factory=dict)  # component -> why it is not available
    batch_folded: tuple[str, ...] = ()
    experts_parent: str = ""  # MoE: path of the block holding the fused experts whose units are neurons

    def __repr__(self) -> str:
        lost = f", without {', '.join(self.missing)}" if self.missing else ""
        return (
            f"Adapter({self.family}: {self.n_layers} layers, d_model {self.d_model}, {self.n_heads} heads x "
            f"{self.head_dim} ({self.n_kv_heads} kv), d_mlp {self.d_mlp}, vocab {self.vocab_size}{lost})"
        )

    # -------------------------------------------------------------- structure
    def layers(self, model: Any) -> Any:
        return model.get_submodule(self.layers_path)

    def hook_point(self, model: Any, component: str, layer: int) -> tuple[Any, Any]:
        """(module, is_pre_hook) where `component` of `layer` is read and written; for the neurons of a
        mixture of experts ((experts, their block), probe.experts.EXPERTS)."""
        if component in self.missing:
            raise InputError(
                f"{component} is not available for this {self.family} model: {self.missing[component]}"
            )
        module = self.layers(model)[layer]
        path = self.paths[component]
        if component == "neuron" and self.experts_parent:  # (expert, unit) pairs: see probe.experts
            return (module.get_submodule(path), module.get_submodule(self.experts_parent)), experts.EXPERTS
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
        """Whether forwards may start at a later position (PrefixCache): plain masks only.

        A windowed or chunked attention keeps fewer positions than the prompt has, so prompts reaching a
        window are run from position 0 (always exact, only slower)."""
        cfg = _text_config(model.config)
        impl = getattr(cfg, "_attn_implementation", None) or getattr(
            model.config, "_attn_implementation", None
        )
        windows = [getattr(cfg, k, None) for k in _WINDOWS]
        short = all(not isinstance(w, int) or isinstance(w, bool) or n_tokens < w for w in windows)
        return impl in ("sdpa", "eager") and short

    def run_layers(
        self,
        model: Any,
        hidden: Any,
        start: int,
        inputs: LayerInputs,
        *,
        cache: PrefixCache | None = None,
        before_layer: Callable[[int, Any], Any] | None = None,
    ) -> Any:
        """Blocks start.. on `hidden` (B, positions from inputs.start_pos, d): the residual after the last.

        before_layer(i, hidden) may return a new hidden (the engine adds the rows that start at layer i).
        """
        layers = self.layers(model)
        for i in range(start, self.n_layers):
            if before_layer is not None:
                hidden = before_layer(i, hidden)
            args, kwargs = self._arguments(inputs.calls[i], cache, hidden.shape[0])
            hidden = _first(layers[i](hidden, *args, **kwargs))
        return hidden

    def _arguments(self, call: tuple[tuple, dict], cache: Any, batch: int) -> tuple[tuple, dict]:
        """A block's captured arguments for a batch of `batch` rows reading `cache` (None: no prefix)."""
        from transformers.cache_utils import Cache

        def swap(name: str | None, v: Any) -> Any:
            if isinstance(v, Cache):
                return cache
            if name in self.batch_folded and v is not None and batch > 1:
                return v.repeat(batch, *([1] * (v.dim() - 1)))
            if _is_mask(name, v) and v.shape[0] == 1 and batch > 1:
                return v.expand(batch, -1, -1, -1)  # XGLM checks the mask's batch size (a view: free)
            return v

        args, kwargs = call
        kwargs = {k: swap(k, v) for k, v in kwargs.items()}
        if "use_cache" in kwargs:
            kwargs["use_cache"] = cache is not None
        return tuple(swap(None, a) for a in args), kwargs

    def final_logits(self, model: Any, last: Any) -> Any:
        """Logits (B, V) of the final residual at one position (B, d): the decoder's tail modules, the
        unembedding, scale, soft cap; fp32 (fp64 for fp64 models)."""
        import torch

        h = last
        for path in self.tail:
            module = model.get_submodule(path)
            h = _first(module(h.to(_device_of(module, h))))
        head = model.get_output_embeddings()
        logits = head(h.to(head.weight.device))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        if self.logit_scale != 1.0:
            logits = logits * self.logit_scale
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


# ---------------------------------------------------------------------- discovery
def adapter_for(model: Any) -> Adapter:
    """The adapter of `model`, discovered from its module tree and one short forward (see the module
    docstring); EverybitError naming the missing piece when the model cannot be mapped."""
    import torch

    with torch.no_grad():
        try:
            return _discover(model)
        except EverybitError:
            raise
        except (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError) as exc:
            # a structure none of the rules expected (a block returning a list, a stateful cache, ...)
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:150]
            raise EverybitError(f"{type(model).__name__}: cannot map its structure ({text})") from None


def _discover(model: Any) -> Adapter:
    name = type(model).__name__
    cfg = _text_config(model.config)
    family = getattr(model.config, "model_type", None) or name
    if getattr(model.config, "is_encoder_decoder", False):
        raise EverybitError(
            f"{name}: encoder-decoder models are not supported (probe needs a decoder-only LM)"
        )
    n_layers = _config_int(cfg, "num_hidden_layers", "n_layer", "num_layers")
    n_heads = _config_int(cfg, "num_attention_heads", "n_head", "num_heads")
    if n_layers is None or n_heads is None:
        raise EverybitError(f"{name}: its config names no number of layers or attention heads")
    layers_path = _find_layers(model, n_layers)
    if model.get_output_embeddings() is None:
        raise EverybitError(f"{name}: no output embedding (unembedding) module")

    rec = _Recording(model, layers_path)
    ids = _probe_ids(model, cfg)
    with rec:
        out = model(input_ids=ids, use_cache=False)
    logits = _first(out.logits if hasattr(out, "logits") else out)[0, -1].double()

    # the last block: where MoE models with dense first blocks (DeepSeek, GLM) show their experts
    block = f"{layers_path}.{n_layers - 1}"
    tol = _tolerance(model)
    attn = _child(rec, block, _ATTENTION)
    if attn is None:
        raise EverybitError(f"{name}: no attention block found in its decoder block {block}")
    mlp = (
        _child(rec, block, _MLP, exclude=attn) or block
    )  # OPT, XGLM: the MLP's projections sit in the block itself
    d_model = rec.output(block).shape[-1]
    missing: dict[str, str] = {}
    paths = {"resid_pre": "", "resid_post": ""}

    o_proj = _last_projection(rec, attn, d_model)
    if o_proj is None:
        raise EverybitError(f"{name}: no output projection found in the attention block {attn}")
    paths["head"] = _rel(o_proj, block)
    if rec.input(o_proj).dim() != 3:
        missing["head"] = "the attention projects flattened (batch x positions) rows"
    width = rec.input(o_proj).shape[-1]
    if width % n_heads:
        raise EverybitError(
            f"{name}: attention output projection input {width} is not a multiple of {n_heads} heads"
        )
    head_dim = width // n_heads

    fused = experts.find(model.get_submodule(mlp)) if mlp != block else None
    down = None if fused is not None else _last_projection(rec, mlp, d_model, outside=attn)
    experts_parent = ""
    if fused is not None:
        module = model.get_submodule(f"{mlp}.{fused}")
        d_mlp = experts.units(module)
        run = lambda: model(input_ids=ids, use_cache=False)  # noqa: E731
        if experts.matches(module, model.get_submodule(mlp), run, max(tol, _FIT_TOL)):
            paths["neuron"], experts_parent = _rel(f"{mlp}.{fused}", block), _rel(mlp, block)
        else:
            missing["neuron"] = f"{type(module).__name__} is not the standard fused-experts layout"
    elif down is None:
        missing["neuron"] = "no down projection found in the MLP"
        d_mlp = 0
    else:
        paths["neuron"] = _rel(down, block)
        d_mlp = rec.input(down).shape[-1]
        if rec.input(down).dim() != 3:  # OPT
            missing["neuron"] = "the MLP runs on flattened (batch x positions) rows"

    blocks, scales = _block_outputs(rec, block, attn, mlp, o_proj, down, tol)
    if blocks is None:
        missing["attn_out"] = missing["mlp_out"] = "the block's residual is not input + attention + MLP"
        scales = (1.0, 1.0)
    else:
        paths["attn_out"], paths["mlp_out"] = _rel(blocks[0], block), _rel(blocks[1], block)
    _check_every_block(model, layers_path, n_layers, paths, missing, {"head": width, "neuron": d_mlp})

    last_block = f"{layers_path}.{n_layers - 1}"
    head = model.get_output_embeddings()
    head_path = next(n for n, m in model.named_modules() if m is head)
    tail = tuple(rec.tail(last_block, head_path))
    override = _OVERRIDES.get(family, {})
    adapter = Adapter(
        family=family,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=_config_int(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv") or n_heads,
        head_dim=head_dim,
        d_model=d_model,
        d_mlp=d_mlp,
        vocab_size=int(logits.shape[-1]),
        layers_path=layers_path,
        paths={k: v for k, v in paths.items() if k not in missing},
        tail=tail,
        residual_scales=scales,
        missing=missing,
        batch_folded=tuple(override.get("batch_folded", ())),
        experts_parent=experts_parent,
        embed_scale=_embed_scale(model, rec, f"{layers_path}.0", ids, tol),
        softcap=getattr(cfg, "final_logit_softcapping", None) or None,
    )
    raw = adapter.final_logits(model, rec.output(last_block)[:, -1]).double()[0]
    scale = _fit_scale(raw, logits, adapter.softcap, tol)
    if scale is None:
        raise EverybitError(
            f"{name}: cannot reproduce its logits from the modules after the last block "
            f"({', '.join(tail) or 'none'}) and the unembedding"
        )
    adapter = replace(adapter, logit_scale=scale)
    _check_replay(model, adapter, ids, logits, name, tol)
    return adapter


class _Recording:
    """Hooks on every module for one forward: call order, first input and first output of each."""

    def __init__(self, model: Any, layers_path: str) -> None:
        self.model, self.layers_path = model, layers_path
        self.order: list[str] = []  # module names in the order their forward finished
        self.started: list[str] = []  # ... and began
        self.first_start: dict[str, int] = {}  # module -> event number of its first call (insertion order)
        self.finished: dict[str, int] = {}  # module -> event number of its last return
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        self.handles: list[Any] = []

    def __enter__(self) -> _Recording:
        for name, module in self.model.named_modules():
            if not name:
                continue
            self.handles.append(module.register_forward_pre_hook(self._pre(name), with_kwargs=True))
            self.handles.append(module.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()

    def _pre(self, name: str) -> Callable:
        def hook(_m: Any, args: tuple, kwargs: dict) -> None:
            self.started.append(name)
            self.first_start.setdefault(name, len(self.started) + len(self.order))
            x = args[0] if args else kwargs.get("hidden_states", next(iter(kwargs.values()), None))
            self.inputs.setdefault(name, x)

        return hook

    def _post(self, name: str) -> Callable:
        def hook(_m: Any, _args: Any, output: Any) -> None:
            self.order.append(name)
            self.finished[name] = len(self.started) + len(self.order)
            out = _first(output)  # a copy: later in-place adds (Falcon) must not change the record
            self.outputs.setdefault(name, out.clone() if hasattr(out, "clone") else out)

        return hook

    def input(self, name: str) -> Any:
        return self.inputs[name]

    def output(self, name: str) -> Any:
        return self.outputs[name]

    def children_called(self, parent: str) -> list[str]:
        """Direct children of `parent` in the order they were first called."""
        depth = parent.count(".") + 1 if parent else 0
        prefix = f"{parent}." if parent else ""
        seen = [n for n in self.started if n.startswith(prefix) and n.count(".") == depth]
        return list(dict.fromkeys(seen))

    def tail(self, block: str, head: str) -> list[str]:
        """What turns the last block's output into the head's input: the outermost modules first called
        after `block` finished, in order, opened up where they hold the head (BERT's cls.predictions)."""
        done = self.finished[block]
        later = [n for n, t in self.first_start.items() if t > done]

        def outermost(names: list[str], within: str) -> list[str]:
            inside = [n for n in names if n.startswith(within + ".")] if within else names
            return [n for n in inside if not any(n.startswith(o + ".") for o in inside if o != n)]

        def walk(within: str) -> list[str]:
            out = []
            for n in outermost(later, within):
                if n == head:
                    break
                if head.startswith(n + "."):
                    out += walk(n)
                    break
                out.append(n)
            return out

        return walk("")


def capture_into(store: dict[int, tuple[tuple, dict]], i: int) -> Callable:
    """A forward pre-hook (with_kwargs) keeping block i's arguments other than the hidden state."""

    def hook(_m: Any, args: tuple, kwargs: dict) -> None:
        if args:
            store[i] = (tuple(args[1:]), dict(kwargs))
        else:
            store[i] = ((), {k: v for k, v in kwargs.items() if k != "hidden_states"})

    return hook


def _text_config(config: Any) -> Any:
    get = getattr(config, "get_text_config", None)
    return get() if get is not None else config


def _config_int(cfg: Any, *names: str) -> int | None:
    for n in names:
        v = getattr(cfg, n, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _find_layers(model: Any, n_layers: int) -> str:
    """Path of the shallowest ModuleList holding n_layers blocks."""
    import torch

    found = [
        name
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers and name
    ]
    if not found:
        raise EverybitError(
            f"{type(model).__name__}: cannot find its decoder layer list (no ModuleList of {n_layers} blocks)"
        )
    return min(found, key=lambda n: n.count("."))


def _probe_ids(model: Any, cfg: Any) -> Any:
    """A short prompt of ordinary token ids (avoiding the first ids, often specials)."""
    import torch

    vocab = model.get_input_embeddings().weight.shape[0]
    ids = [(7 + 13 * i) % max(vocab - 1, 1) + 1 for i in range(6)]
    return torch.tensor([ids], device=model.get_input_embeddings().weight.device)


def _child(rec: _Recording, block: str, fragments: Sequence[str], exclude: str = "") -> str | None:
    """The block's first-called direct child whose attribute name, else class name, holds one of
    `fragments` (attribute names first: Qwen3MoeAttention's class name holds "moe")."""
    kids = [n for n in rec.children_called(block) if n != exclude]
    for label_of in (lambda n: n.rsplit(".", 1)[-1], lambda n: type(rec.model.get_submodule(n)).__name__):
        for name in kids:
            label = label_of(name).lower()
            if "norm" not in label and "cross" not in label and any(f in label for f in fragments):
                return name
    return None


def _is_projection(module: Any) -> bool:
    weight = getattr(module, "weight", None)
    return (
        weight is not None
        and getattr(weight, "dim", lambda: 0)() == 2
        and "norm" not in type(module).__name__.lower()
    )


def _last_projection(rec: _Recording, parent: str, d_model: int, outside: str = "") -> str | None:
    """The last weight-matrix module called inside `parent` (not inside `outside`) writing d_model wide:
    the out / down projection."""
    prefix = parent + "."
    hits = [
        n
        for n in rec.order
        if n.startswith(prefix)
        and not (outside and n.startswith(outside + "."))
        and _is_projection(rec.model.get_submodule(n))
        and rec.output(n).shape[-1] == d_model
        and "embed" not in n.rsplit(".", 1)[-1]
    ]
    return hits[-1] if hits else None


def _after(rec: _Recording, block: str, name: str) -> str | None:
    """The block's child called right after `name`, when it is a norm fed with name's output."""
    kids = rec.children_called(block)
    i = kids.index(name) if name in kids else -1
    if 0 <= i < len(kids) - 1:
        nxt = kids[i + 1]
        if "norm" in (nxt + type(rec.model.get_submodule(nxt)).__name__).lower():
            x, y = rec.input(nxt), rec.output(name)
            if x is not None and x.shape == y.shape and (x - y).abs().max() == 0:
                return nxt
    return None


def _block_outputs(
    rec: _Recording, block: str, attn: str, mlp: str, o_proj: str, down: str | None, tol: float
) -> tuple[tuple[str, str] | None, tuple[float, float]]:
    """(attention output module, MLP output module) such that block output - block input is a fixed
    combination a*A + m*M of their outputs, and (a, m); None when no candidate pair fits."""
    import torch

    x, y = rec.input(block), rec.output(block)
    if x is None or y is None:
        return None, (1.0, 1.0)
    delta = (y - x).double().flatten()
    a_cands = [c for c in (_after(rec, block, attn), attn, o_proj) if c]
    m_cands = [c for c in (_after(rec, block, mlp), mlp, down) if c and c != block]
    for a in a_cands:
        for m in m_cands:
            A, M = rec.output(a), rec.output(m)
            if A is None or M is None or A.shape != y.shape or M.shape != y.shape:
                continue
            basis = torch.stack([A.double().flatten(), M.double().flatten()], 1)
            coef = torch.linalg.lstsq(basis, delta[:, None]).solution[:, 0]
            err = (basis @ coef - delta).norm() / max(delta.norm().item(), 1e-12)
            if err < max(tol, _FIT_TOL):
                return (a, m), tuple(_round(c) for c in coef.tolist())  # type: ignore[return-value]
    return None, (1.0, 1.0)


def _round(x: float) -> float:
    """1.0 when x is 1 up to float rounding, so that plain models report plain scales."""
    return 1.0 if abs(x - 1.0) < 1e-4 else float(x)


def _embed_scale(model: Any, rec: _Recording, block0: str, ids: Any, tol: float) -> float | None:
    """resid_pre[0] / embedding(ids) when it is one number (Gemma's sqrt(d_model)); None when positions
    are added (GPT-2) or the embedding is projected."""
    x = rec.input(block0)
    raw = model.get_input_embeddings().weight[ids[0]]
    if x is None or raw.shape != x.shape[1:]:
        return None
    raw, x = raw.double().flatten(), x[0].double().flatten()
    s = float((raw @ x) / max(float(raw @ raw), 1e-30))
    ok = (s * raw - x).norm() <= max(tol, _FIT_TOL) * max(x.norm().item(), 1e-12)
    return _round(s) if ok else None


def _fit_scale(raw: Any, logits: Any, softcap: float | None, tol: float) -> float | None:
    """s such that logits = softcap(s * raw), or None when no s fits."""
    import torch

    target = logits
    if softcap:
        if logits.abs().max() >= softcap:
            return None
        target = torch.atanh(logits / softcap) * softcap
    s = float((raw @ target) / max(float(raw @ raw), 1e-30))
    fitted = s * raw
    if softcap:
        fitted = torch.tanh(fitted / softcap) * softcap
    if (fitted - logits).abs().max() > max(tol, _FIT_TOL) * max(logits.abs().max().item(), 1.0):
        return None
    return _round(s)


def _check_replay(model: Any, adapter: Adapter, ids: Any, logits: Any, name: str, tol: float) -> None:
    """Replays every block from the captured inputs and compares with the model's own logits."""

    got = capture(model, adapter, ids)
    out = adapter.run_layers(model, got.hidden, 0, got.layer_inputs)
    replayed = adapter.final_logits(model, out[:, -1]).double()[0]
    if (replayed - logits).abs().max() > tol * max(logits.abs().max().item(), 1.0):
        raise EverybitError(
            f"{name}: replaying its decoder blocks one by one does not give its logits "
            "(the decoder does more between blocks than call them)"
        )


@dataclass
class Captured:
    hidden: Any  # the first block's hidden-state input (1, t, d)
    final: Any  # the last block's output (1, t, d): the residual entering the final norm
    layer_inputs: LayerInputs
    output: Any  # the model's output


def capture(
    model: Any, adapter: Adapter, ids: Any, *, past: Any = None, start_pos: int = 0, use_cache: bool = False
) -> Captured:
    """One forward of ids (1, t) recording the arguments of every block (see LayerInputs); `past` holds
    positions < start_pos when ids are the positions from start_pos on."""
    import torch

    calls: dict[int, tuple[tuple, dict]] = {}
    first: list[Any] = []
    blocks = adapter.layers(model)
    handles = [
        b.register_forward_pre_hook(capture_into(calls, i), with_kwargs=True) for i, b in enumerate(blocks)
    ]

    def grab(_m: Any, args: tuple, kwargs: dict) -> None:
        first.append(args[0] if args else kwargs["hidden_states"])

    handles.append(blocks[0].register_forward_pre_hook(grab, with_kwargs=True))
    handles.append(blocks[-1].register_forward_hook(lambda _m, _a, out: first.append(_first(out))))
    try:
        with torch.no_grad():
            out = model(
                input_ids=ids, **{_cache_keyword(model): past}, use_cache=use_cache or past is not None
            )
    finally:
        for h in handles:
            h.remove()
    if len(calls) != adapter.n_layers:
        raise EverybitError(
            f"{type(model).__name__}: {adapter.n_layers - len(calls)} decoder blocks were not called"
        )
    inputs = LayerInputs(start_pos, [calls[i] for i in range(adapter.n_layers)])
    return Captured(first[0], first[-1], inputs, out)


def _cache_keyword(model: Any) -> str:
    """The name of a forward's cache argument: `cache` in recent transformers, `past_key_values` before."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _first(output: Any) -> Any:
    return output[0] if isinstance(output, (tuple, list)) else output


def _device_of(module: Any, like: Any) -> Any:
    p = next(module.parameters(), None)
    return like.device if p is None else p.device


def _is_mask(name: str | None, v: Any) -> bool:
    """A 4-D (batch, 1, queries, keys) attention mask, by keyword or as a positional argument."""
    if getattr(v, "dim", lambda: 0)() != 4 or v.shape[1] != 1:
        return False
    return name is None or "mask" in name


def _check_every_block(
    model: Any, layers_path: str, n: int, paths: dict[str, str], missing: dict, widths: dict[str, int]
) -> None:
    """Hybrid models (attention in some blocks, recurrences or other experts in the rest) do not have
    every component in every block, and some widen the MLP of some blocks (Gemma 4): such components are
    left out, the first block that differs named."""
    blocks = model.get_submodule(layers_path)
    for comp, path in list(paths.items()):
        if not path:
            continue
        lacking = next((i for i in range(n) if not _has_submodule(blocks[i], path)), None)
        if lacking is not None:
            missing[comp] = f"block {lacking} has no {path} (blocks of different kinds)"
            continue
        want = widths.get(comp)
        sizes = [getattr(blocks[i].get_submodule(path), "in_features", want) for i in range(n)]
        other = next((i for i, w in enumerate(sizes) if w != want), None)
        if want and other is not None:
            missing[comp] = f"block {other}'s {path} is {sizes[other]} wide, block {n - 1}'s {want}"


def _has_submodule(module: Any, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True


def _tolerance(model: Any) -> float:
    """Relative error allowed when replaying blocks (the very same operations): a few roundings of the
    model's dtype. Fitted identities (residual sums, scales) get _FIT_TOL at least: HF runs norms and
    soft caps in fp32 even in fp64 models, and those identities regroup the arithmetic."""
    import torch

    dtype = model.get_input_embeddings().weight.dtype
    return {torch.float64: 1e-9, torch.float32: 2e-5}.get(dtype, 2e-2)


_FIT_TOL = 1e-4


def _rel(path: str, block: str) -> str:
    return path[len(block) + 1 :]
