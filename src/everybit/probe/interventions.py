"""Exact activation patching on HF causal LMs, many patched variants per forward.

    engine = Engine(lm)                                   # lm = load_model(...)
    base = engine.run(ids)                                # one forward, every component cached
    sites = [Site("head", L, -1, h) for L in range(n_layers) for h in range(n_heads)]
    out = engine.patched_logits(ids, [[Patch(s, mode="zero")] for s in sites], base)   # (270, V) fp32

Speed notes
-----------
Exactness first: a patch is a hook on the model's own module (forward pre-hook on o_proj / down_proj for
`head` / `neuron`, on the layer for `resid_pre`; forward hook on self_attn / mlp / the layer for `attn_out` /
`mlp_out` / `resid_post`), so the arithmetic is the model's. What makes it fast:

1. Batching: the rows of one forward are different variants. A hook writes each row's own patch (grouped
   into one indexed assignment per hook call), so 270 head ablations are one forward of 270 rows, not 270
   forwards; rows per batch come from `memory_budget_mb` (activation size per row) unless batch_size is set.
2. Layer prefix: nothing before a variant's first patched layer L changes, so its row starts at layer L from
   the cached `resid_pre[L]` of the unpatched run. Rows are sorted by L and a batch grows as it goes: at
   layer L the rows that start there are appended (their hidden state is the cached one), so every row
   runs exactly the layers it needs.
3. Position prefix: with causal attention a patch at position p cannot change positions < p, so a batch
   whose patches all sit at positions >= p computes only positions p..T-1; the attention layers read the
   keys/values of positions < p from the unpatched run (`adapters.PrefixCache`), with the model's own
   masks cut to those query rows. Variants are grouped by their first patched position for this. A
   last-position head or neuron sweep thus costs one position per remaining layer per row.
4. Last position only: the final norm and the unembedding run on the last position.

Everything returned is fp32 (logits are cast after the head), whatever dtype the model runs in; the
counters `forward_passes` and `rows` say how many batched forwards and variant rows were run.
"""

from __future__ import annotations

import contextlib
import operator
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from everybit.common.errors import InputError
from everybit.probe import experts
from everybit.probe.adapters import COMPONENTS, LayerInputs, PrefixCache, capture
from everybit.probe.models import LoadedModel

MODES = ("set", "zero", "mean")


@dataclass(frozen=True)
class Site:
    """One place in the model: component of a layer, at a position (negative counts from the end; None =
    every position), optionally one head or neuron (index; None = the whole component)."""

    component: str
    layer: int
    position: int | None = -1
    index: int | None = None

    def __post_init__(self) -> None:
        if self.component not in COMPONENTS:
            raise InputError(f"unknown component {self.component!r}: one of {', '.join(COMPONENTS)}")
        for name in ("layer", "position", "index"):
            v = getattr(self, name)
            if v is None and name != "layer":
                continue
            try:  # numpy and 0-d torch integers too (studies index arrays), stored as plain ints
                if isinstance(v, bool):
                    raise TypeError
                object.__setattr__(self, name, operator.index(v))
            except TypeError:
                kind = "an int" if name == "layer" else "an int or None"
                raise InputError(f"Site.{name} must be {kind}, not {v!r}") from None

    def __str__(self) -> str:
        idx = "" if self.index is None else f"[{self.index}]"
        pos = "all" if self.position is None else self.position
        return f"{self.component}{idx}@L{self.layer},pos {pos}"


@dataclass(frozen=True, eq=False)
class Patch:
    """Write `value` ("set", "mean": the mean activation) or zeros ("zero") at `site` during a forward.

    value's shape is the site's: (d_model,) for a residual / attention / MLP output at one position,
    (n_heads, head_dim) for `head`, (head_dim,) for one head, (d_mlp,) for `neuron`, () for one neuron;
    with position None a leading (T,). Anything broadcastable to that is accepted. Where patches of one
    variant overlap, every-position patches are written before one-position ones and whole-component
    patches before one head / neuron, so the more specific patch wins.
    """

    site: Site
    value: Any = None
    mode: str = "set"

    def __post_init__(self) -> None:
        if not isinstance(self.site, Site):
            raise InputError(f"Patch.site must be a Site, not {type(self.site).__name__}")
        if self.mode not in MODES:
            raise InputError(f"unknown patch mode {self.mode!r}: one of {', '.join(MODES)}")
        if self.mode == "zero" and self.value is not None:
            raise InputError(f"patch at {self.site}: mode 'zero' takes no value")
        if self.mode != "zero" and self.value is None:
            raise InputError(f"patch at {self.site}: mode {self.mode!r} needs a value")


@dataclass(repr=False)
class Trace:
    """Every component of one unpatched forward (model dtype, batch dimension dropped) and fp32 logits.

    resid_pre (N+1, T, d): input of each layer, then the final residual (input of the final norm);
    attn_out, mlp_out (N, T, d); head (N, T, H, dh); neuron (N, T, d_mlp); logits (T, V). A component left
    out by `names_filter` (or one the model lacks) is None. TransformerLens-style keys work too:
    `trace["resid_post", 5]`, `trace["blocks.5.hook_resid_post"]`, "z" for head, "post" for neuron.
    """

    ids: Any
    resid_pre: Any
    attn_out: Any
    mlp_out: Any
    head: Any
    neuron: Any
    logits: Any
    keys: list[Any] | None = field(default=None, repr=False)  # per layer (1, kv_heads, T, dh): PrefixCache
    values: list[Any] | None = field(default=None, repr=False)
    inputs: dict[int, LayerInputs] = field(default_factory=dict, repr=False)  # first position -> block args
    prefix_ok: bool | None = field(default=None, repr=False)  # forwards over a cached prefix work here

    @property
    def resid_post(self) -> Any:
        return self.resid_pre[1:]

    def get(self, component: str) -> Any:
        """The stacked cache of one component, (N, T, ...)."""
        component = _ALIASES.get(component, component)
        if component not in COMPONENTS:
            raise InputError(f"unknown component {component!r}: one of {', '.join(COMPONENTS)}")
        got = self.resid_pre[:-1] if component == "resid_pre" else getattr(self, component)
        if got is None:
            raise InputError(
                f"{component} was not recorded in this trace (names_filter, or the model lacks it)"
            )
        return got

    def __getitem__(self, key: Any) -> Any:
        """trace["resid_post", 5] -> (T, d); trace["head"] -> (N, T, H, dh); trace["blocks.5.hook_z"]."""
        if isinstance(key, str) and key.startswith("blocks."):
            _, layer, hook = key.split(".", 2)
            return self.get(hook.rsplit("hook_", 1)[-1])[int(layer)]
        if isinstance(key, tuple):
            name, layer = key
            return self.get(name)[layer]
        return self.get(key)

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{c} {tuple(self.get(c).shape)}"
            for c in COMPONENTS
            if c.startswith("resid") or getattr(self, c) is not None
        )
        return f"Trace({len(self.ids)} tokens: {shapes}, logits {tuple(self.logits.shape)})"

    def value(self, site: Site) -> Any:
        """The cached activation at `site`, shaped as a Patch value for it."""
        t = self.get(site.component)[site.layer]
        if site.position is not None:
            t = t[site.position]
        elif site.index is not None:
            return t[:, site.index]
        return t if site.index is None else t[site.index]


_ALIASES = {"z": "head", "post": "neuron", "result": "attn_out"}  # TransformerLens hook names


@dataclass
class _Prepared:
    """A validated variant: patches with absolute positions and values cast to the model, plus where the
    batch may start (first patched layer, first patched position)."""

    patches: list[tuple[str, int, int | None, int | None, Any]]  # component, layer, abs pos, index, value
    start: int
    first_pos: int


class Engine:
    """Unpatched traces and batched patched forwards of one loaded model. See the module docstring."""

    def __init__(
        self, lm: LoadedModel, *, memory_budget_mb: int = 1024, batch_size: int | None = None
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise InputError(f"batch size must be >= 1, not {batch_size}")
        if memory_budget_mb <= 0:
            raise InputError(f"memory budget must be > 0 MB, not {memory_budget_mb}")
        self.lm = lm
        self.model = lm.model
        self.adapter = lm.adapter
        self.memory_budget_mb = memory_budget_mb
        self.batch_size = batch_size
        self.forward_passes = 0  # batched forward calls (a trace and a plain forward count one each)
        self.backward_passes = 0  # attribution's backward calls
        self.rows = 0  # patched variant rows evaluated

    def reset_counters(self) -> None:
        self.forward_passes = self.backward_passes = self.rows = 0

    # ------------------------------------------------------------------ inputs
    def ids(self, ids: Any) -> Any:
        """ids as a 1-D LongTensor on the model's input device; InputError when they cannot be a prompt."""
        import torch

        t = torch.as_tensor(ids)
        if t.dim() == 2 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 1 or t.numel() == 0 or t.dtype.is_floating_point or t.dtype == torch.bool:
            raise InputError(f"token ids must be a non-empty 1-D list of ints, got shape {tuple(t.shape)}")
        if int(t.min()) < 0 or int(t.max()) >= self.adapter.vocab_size:
            raise InputError(f"token id out of range: the vocabulary has {self.adapter.vocab_size} tokens")
        return t.long().to(self.lm.device)

    def check(self, site: Site, n_tokens: int) -> None:
        """InputError when `site` does not exist in this model for an n_tokens-token prompt."""
        a = self.adapter
        if not 0 <= site.layer < a.n_layers:
            raise InputError(f"layer {site.layer} out of range: {self.lm.name} has layers 0-{a.n_layers - 1}")
        if site.position is not None and not -n_tokens <= site.position < n_tokens:
            raise InputError(f"position {site.position} out of range for a {n_tokens}-token prompt")
        size = a.index_size(site.component)
        if site.index is not None:
            if size is None:
                raise InputError(f"{site.component} takes no index (only head and neuron do)")
            if not 0 <= site.index < size:
                raise InputError(
                    f"{site.component} {site.index} out of range: {size} per layer (0-{size - 1})"
                )

    def _prepare(self, variant: Sequence[Patch], n_tokens: int) -> _Prepared:
        import torch

        out, seen = [], set()
        for p in variant:
            if not isinstance(p, Patch):
                raise InputError(f"a variant is a list of Patch, got {type(p).__name__}")
            s = p.site
            self.check(s, n_tokens)
            pos = None if s.position is None else s.position % n_tokens
            key = (s.component, s.layer, pos, s.index)
            if key in seen:
                raise InputError(f"a variant patches {s} twice")
            seen.add(key)
            shape = self.adapter.shape(s.component)
            shape = shape if s.index is None else shape[1:]
            shape = shape if pos is not None else (n_tokens, *shape)
            if p.mode == "zero":
                value = None
            else:
                value = torch.as_tensor(p.value)
                try:
                    ok = torch.broadcast_shapes(value.shape, shape) == shape
                except RuntimeError:
                    ok = False
                if not ok:
                    raise InputError(f"patch value at {s} has shape {tuple(value.shape)}, expected {shape}")
                value = value.detach().to(self.lm.dtype).expand(shape)
            out.append((s.component, s.layer, pos, s.index, value))
        start = min((o[1] for o in out), default=self.adapter.n_layers)
        first = min((0 if o[2] is None else o[2] for o in out), default=n_tokens - 1)
        return _Prepared(out, start, first)

    # ------------------------------------------------------------------ plain forwards
    def logits(self, ids: Any) -> Any:
        """fp32 logits (T, V) of the plain HF forward."""
        import torch

        t = self.ids(ids)
        with torch.no_grad():
            out = self.model(input_ids=t[None], use_cache=False)
        self.forward_passes += 1
        return at_least_fp32(out.logits[0])

    def run(self, ids: Any, *, names_filter: Any = None) -> Trace:
        """One plain HF forward caching every component at every layer and position (see Trace).

        names_filter (component names, or a callable taking a name) limits which of attn_out, mlp_out,
        head and neuron are recorded, as TransformerLens' run_with_cache does; the residual stream is
        always kept (patched forwards start from it)."""
        import torch

        t = self.ids(ids)
        n = self.adapter.n_layers
        wanted = [c for c in COMPONENTS if _wanted(c, names_filter) and c not in self.adapter.missing]
        with torch.no_grad(), recording(self.lm, ["resid_pre", *wanted], keep_graph=False) as rec:
            try:
                got = capture(self.model, self.adapter, t[None], use_cache=True)
            except (ValueError, RuntimeError, TypeError):  # hybrid caches some models cannot fill
                rec.clear()
                got = capture(self.model, self.adapter, t[None], use_cache=False)
        self.forward_passes += 1
        dev = self.lm.device

        def stack(component: str) -> Any:
            if component not in wanted and component != "resid_pre":
                return None
            return torch.stack([rec[component, i][0].to(dev) for i in range(n)])

        resid = torch.cat([stack("resid_pre"), got.final[0].to(dev)[None]])
        head = stack("head")
        if head is not None:
            head = head.view(*head.shape[:2], self.adapter.n_heads, self.adapter.head_dim)
        keys, values = _kv(got.output, n, len(t))
        return Trace(
            ids=t,
            resid_pre=resid,
            attn_out=stack("attn_out"),
            mlp_out=stack("mlp_out"),
            head=head,
            neuron=stack("neuron"),
            logits=at_least_fp32(got.output.logits[0]),
            keys=keys,
            values=values,
            inputs={0: got.layer_inputs},
        )

    # ------------------------------------------------------------------ patched forwards
    def rows_per_batch(self, n_tokens: int, n_query: int) -> int:
        """Rows per forward under the memory budget: activations of n_query positions attending over
        n_tokens, per row, for the widest tensors a layer holds at once, plus one row of logits."""
        if self.batch_size is not None:
            return self.batch_size
        a = self.adapter
        item = self.lm.dtype.itemsize
        per_pos = 6 * a.d_model + 3 * a.d_mlp + 2 * a.n_heads * (a.head_dim + n_tokens)
        row = item * n_query * per_pos + (item + 4) * a.vocab_size
        return max(1, self.memory_budget_mb * 2**20 // row)

    def patched_logits(self, ids: Any, variants: Sequence[Sequence[Patch]], base: Trace | None = None) -> Any:
        """fp32 last-position logits (n, V), one row per variant (the patches applied together).

        A variant with no patches gets the unpatched logits. Equal (to float rounding) to running each
        variant alone as a plain HF forward with hooks.
        """
        import torch

        t = self.ids(ids)
        n_tokens = len(t)
        prepared = [self._prepare(v, n_tokens) for v in variants]
        if not prepared:
            return torch.empty(0, self.adapter.vocab_size, device=t.device)
        if base is None:
            base = self.run(t)
        elif not torch.equal(base.ids.to(t.device), t):
            raise InputError("the base trace was run on other token ids than these")
        dtype = torch.promote_types(self.lm.dtype, torch.float32)
        out = torch.empty(len(prepared), self.adapter.vocab_size, dtype=dtype, device=t.device)
        skip = base.keys is not None and self.adapter.can_skip_prefix(self.model, n_tokens)
        skip = skip and self._prefix_works(base)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            if not p.patches:
                out[i] = base.logits[-1].to(t.device)
            else:
                groups[p.first_pos if skip else 0].append(i)
        for first_pos, members in sorted(groups.items()):
            members.sort(key=lambda i: prepared[i].start)
            size = self.rows_per_batch(n_tokens, n_tokens - first_pos)
            for k in range(0, len(members), size):
                chunk = members[k : k + size]
                logits = self._batch(base, [prepared[i] for i in chunk], first_pos)
                out[chunk] = logits.to(t.device)
        return out

    def _batch(self, base: Trace, rows: list[_Prepared], first_pos: int) -> Any:
        """One forward of `rows` (sorted by start layer) from their first layer and first_pos on."""
        import torch

        starts = [r.start for r in rows]
        by_site: dict[tuple[str, int], list[tuple[int, int | None, int | None, Any]]] = defaultdict(list)
        for row, r in enumerate(rows):
            for comp, layer, pos, index, value in r.patches:
                by_site[comp, layer].append((row, None if pos is None else pos - first_pos, index, value))

        def grow(layer: int, hidden: Any) -> Any:
            have = hidden.shape[0]
            want = sum(1 for s in starts if s <= layer)
            if want == have:
                return hidden
            new = base.resid_pre[layer, first_pos:].to(hidden).expand(want - have, -1, -1)
            return torch.cat([hidden, new])

        first = starts[0]
        hidden = grow(first, base.resid_pre[first, first_pos:][None][:0])
        cache = PrefixCache(base.keys, base.values, first_pos) if first_pos else None
        inputs = self._layer_inputs(base, first_pos)
        with torch.no_grad(), self._patching(by_site):
            final = self.adapter.run_layers(self.model, hidden, first, inputs, cache=cache, before_layer=grow)
            logits = self.adapter.final_logits(self.model, final[:, -1])
        self.forward_passes += 1
        self.rows += len(rows)
        return logits

    def _layer_inputs(self, base: Trace, p: int) -> LayerInputs:
        """The blocks' arguments for forwards of positions p.. : the model's own, captured from a forward of
        those positions over a cache of the unpatched keys and values of positions < p (once per p)."""
        if p not in base.inputs:
            from transformers import DynamicCache

            past = DynamicCache()
            for i, (k, v) in enumerate(zip(base.keys, base.values, strict=True)):
                past.update(k[:, :, :p], v[:, :, :p], i)
            got = capture(self.model, self.adapter, base.ids[None, p:], past=past, start_pos=p)
            base.inputs[p] = got.layer_inputs
            self.forward_passes += 1
        return base.inputs[p]

    def _prefix_works(self, base: Trace) -> bool:
        """Whether this model accepts a forward over a cache of the prefix (hybrid models with recurrent
        state do not): tried once per trace; when it fails, forwards start at position 0."""
        if base.prefix_ok is None:
            try:
                self._layer_inputs(base, len(base.ids) - 1)
                base.prefix_ok = True
            except Exception:  # whatever the model's cache code raises: fall back to the exact slow path
                base.prefix_ok = False
        return base.prefix_ok

    @contextlib.contextmanager
    def _patching(self, by_site: dict[tuple[str, int], list[Any]]) -> Iterator[None]:
        handles = []
        try:
            for (comp, layer), items in by_site.items():
                module, pre = self.adapter.hook_point(self.model, comp, layer)
                writer = _Writer(comp, items, self.adapter.n_heads)
                handles.append(_hook(module, pre, writer))
            yield
        finally:
            for h in handles:
                h.remove()


class _Writer:
    """Writes the patches of many rows into one module input/output (B, t, width), grouped so that each
    group is one indexed assignment; groups go in Patch's overlap order (the more specific wins)."""

    def __init__(self, component: str, items: list[tuple[int, int | None, int | None, Any]], n_heads: int):
        self.heads = n_heads if component == "head" else 0
        groups: dict[tuple[int | None, bool], list[Any]] = defaultdict(list)
        for row, pos, index, value in items:
            groups[pos, index is not None].append((row, index, value))
        order = sorted(groups, key=lambda k: (k[0] is not None, k[1], k[0] or 0))
        self.groups = [(pos, has_index, groups[pos, has_index]) for pos, has_index in order]
        self._ready: list[tuple[Any, ...]] | None = None

    def _prepare(self, like: Any) -> list[tuple[Any, ...]]:
        import torch

        ready = []
        for pos, has_index, items in self.groups:
            rows = torch.tensor([r for r, _, _ in items], device=like.device)
            index = torch.tensor([i for _, i, _ in items], device=like.device) if has_index else None
            vals = [v for _, _, v in items]
            if all(v is None for v in vals):  # zero ablation: a scalar broadcasts
                val = torch.zeros((), dtype=like.dtype, device=like.device)
            else:
                shape = next(v.shape for v in vals if v is not None)
                val = torch.stack(
                    [torch.zeros(shape, dtype=like.dtype) if v is None else v.to(like.dtype) for v in vals]
                ).to(like.device)
            ready.append((pos, rows, index, val))
        return ready

    def __call__(self, x: Any) -> Any:
        if self._ready is None:
            self._ready = self._prepare(x)
        y = x.clone()  # never write into a tensor the model (or a cached trace) still holds
        v = y.view(*y.shape[:-1], self.heads, -1) if self.heads else y
        for pos, rows, index, val in self._ready:
            if pos is None:
                if index is None:
                    v[rows] = val
                else:
                    v[rows, :, index] = val
            elif index is None:
                v[rows, pos] = val
            else:
                v[rows, pos, index] = val
        return y


def _hook(module: Any, pre: Any, fn: Any) -> Any:
    """Register fn(tensor) -> tensor on module's main input (pre) or main output (or on the neurons of
    fused experts: module is then (experts, their block), pre is experts.EXPERTS)."""
    if pre == experts.EXPERTS:
        return experts.hook(*module, fn)
    if pre:

        def pre_hook(_m: Any, args: tuple, kwargs: dict) -> Any:
            if args:
                return (fn(args[0]), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": fn(kwargs["hidden_states"])}

        return module.register_forward_pre_hook(pre_hook, with_kwargs=True)

    def post_hook(_m: Any, _args: Any, output: Any) -> Any:
        if isinstance(output, (tuple, list)):  # OpenAI GPT's blocks return a list
            return type(output)([fn(output[0]), *output[1:]])
        return fn(output)

    return module.register_forward_hook(post_hook)


@contextlib.contextmanager
def recording(lm: LoadedModel, components: Sequence[str], *, keep_graph: bool = False) -> Iterator[dict]:
    """Within the block, every forward stores {(component, layer): activation (B, T, width)}; keep_graph
    keeps the tensors in the autograd graph (attribution), else they are detached."""
    store: dict[tuple[str, int], Any] = {}
    handles = []

    def saver(key: tuple[str, int]) -> Any:
        def save(x: Any) -> Any:
            # the model goes on with a copy: some add into a block's output in place (Falcon's parallel
            # MLP += attention), which would otherwise change what was recorded and its gradient
            store[key] = x if keep_graph else x.detach()
            return x.clone()

        return save

    try:
        for comp in components:
            if comp in lm.adapter.missing:
                continue
            for layer in range(lm.adapter.n_layers):
                module, pre = lm.adapter.hook_point(lm.model, comp, layer)
                handles.append(_hook(module, pre, saver((comp, layer))))
        yield store
    finally:
        for h in handles:
            h.remove()


def _kv(out: Any, n_layers: int, n_tokens: int) -> tuple[list[Any] | None, list[Any] | None]:
    """Per-layer keys and values of a use_cache=True forward, or (None, None) when some layer did not keep
    every position (sliding-window caches): then batches start at position 0."""
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    layers = getattr(cache, "layers", None)
    if layers is None or len(layers) < n_layers:
        return None, None
    keys = [getattr(layer, "keys", None) for layer in layers[:n_layers]]
    values = [getattr(layer, "values", None) for layer in layers[:n_layers]]
    if any(k is None or k.dim() != 4 or k.shape[-2] != n_tokens for k in keys + values):
        return None, None
    return keys, values


def _wanted(component: str, names_filter: Any) -> bool:
    if names_filter is None:
        return True
    if callable(names_filter):
        return bool(names_filter(component))
    names = [names_filter] if isinstance(names_filter, str) else list(names_filter)
    return component in {_ALIASES.get(n, n) for n in names}


# ---------------------------------------------------------------------- metrics (fp32)
def at_least_fp32(x: Any) -> Any:
    """x as float32, or float64 when it already is (bf16 / fp16 logits are too coarse for metrics)."""
    import torch

    return x.to(torch.promote_types(x.dtype, torch.float32))


def log_probs(logits: Any) -> Any:
    """log-softmax over the vocabulary, in fp32 (fp64 for fp64 logits)."""
    import torch

    return torch.log_softmax(at_least_fp32(logits), dim=-1)


def logit_diff(logits: Any, a: int, b: int) -> Any:
    """logits[..., a] - logits[..., b] in fp32."""
    x = at_least_fp32(logits)
    return x[..., a] - x[..., b]
