"""Conformance of the engine on any causal LM: five checks against plain HF forwards, and a zoo of every
decoder-only architecture the installed transformers can build tiny, random and offline.

    from everybit.probe import conformance
    results = conformance.check(lm)                     # any LoadedModel: {check: "pass" | why not}
    table = conformance.run_zoo()                       # every family of the installed transformers
    python -m everybit.probe.conformance docs/probe-families.md     # regenerates the docs table

The checks (each compares two independent computations of the same numbers):
- logits: the engine's own replay of the decoder blocks == the model's logits;
- patching: batched patched forwards (layer and position prefixes, many variants per row batch) == one
  plain HF forward per variant with one naive hook writing the patch;
- prefix: the same with every patch at the last position, where forwards start at that position over the
  cached keys and values (or, with windowed attention reaching the prompt, from position 0);
- attribution: attribution patching's scores == central finite differences of the metric along the same
  clean - corrupt direction, for heads, neurons and MLP outputs;
- ablation: zeroing a head / neuron through the engine == zeroing its columns of the out / down
  projection's weight by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from everybit.common.errors import EverybitError
from everybit.probe import experts
from everybit.probe.interventions import Engine, Patch, Site, _hook
from everybit.probe.models import LoadedModel, wrap_model

CHECKS = ("logits", "patching", "prefix", "attribution", "ablation")
PASS = "pass"

# Tiny sizes for any config: only the keys a config already has are set. Two layers keep every family's
# first-layer special cases (MoE models with a dense first layer) next to a regular one.
_TINY = {
    **dict.fromkeys(("hidden_size", "n_embd", "d_model", "word_embed_proj_dim", "embedding_size"), 64),
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers"), 2),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads", "n_heads"), 4),
    **dict.fromkeys(("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"), 96),
    **dict.fromkeys(("max_position_embeddings", "n_positions"), 128),
    **dict.fromkeys(("num_experts", "num_local_experts", "n_routed_experts"), 4),
    **dict.fromkeys(("moe_intermediate_size", "shared_expert_intermediate_size"), 32),
    "num_key_value_heads": 2,
    "head_dim": 16,
    "rotary_dim": 8,
    "vocab_size": 97,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "n_shared_experts": 1,
    "kv_lora_rank": 16,
    "q_lora_rank": 32,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 16,
    "sliding_window": 4,
    "attention_types": [[["global", "local"], 1]],  # GPT-Neo: one global and one local layer
    "window_size": 4,
}
_VOCAB = _TINY["vocab_size"]
_MAX_PARAMS = 3_000_000  # a config that stays bigger than this after shrinking is not tiny
_PROMPT = 7  # tokens: longer than the tiny sliding windows (4), so window masks are exercised


@dataclass
class FamilyResult:
    family: str
    model_class: str = ""
    params: int = 0
    checks: dict[str, str] = field(default_factory=dict)  # check -> PASS or why not
    skipped: str = ""  # why the family was not built or not mapped

    @property
    def passed(self) -> bool:
        return not self.skipped and all(v == PASS or v.startswith("n/a") for v in self.checks.values())


# ---------------------------------------------------------------------- the checks
def check(lm: LoadedModel, *, tol: float | None = None, seed: int = 0) -> dict[str, str]:
    """Runs every check on `lm` with a random prompt; {check: "pass", "n/a: why" or "FAIL: ..."}."""
    import torch

    eng = Engine(lm)
    tol = tol if tol is not None else (1e-7 if lm.dtype == torch.float64 else 2e-4)
    gen = torch.Generator().manual_seed(seed)
    vocab = lm.adapter.vocab_size
    ids = torch.randint(1, vocab, (_PROMPT,), generator=gen)
    corrupt = ids.clone()
    corrupt[1] = (corrupt[1] + 1) % (vocab - 1) + 1
    base = eng.run(ids)
    results = {}
    for name, fn in _CHECKS.items():
        try:
            results[name] = fn(eng, base, ids, corrupt, tol)
        except EverybitError as exc:
            results[name] = f"FAIL: {exc}"
    return results


def _close(a: Any, b: Any, tol: float) -> str:
    """PASS, or FAIL with the largest difference relative to the logits' scale."""
    err = float((a.double() - b.double()).abs().max()) / max(float(b.double().abs().max()), 1.0)
    return PASS if err <= tol else f"FAIL: relative difference {err:.2e} > {tol:.0e}"


def _plain_logits(lm: LoadedModel, ids: Any) -> Any:
    import torch

    with torch.no_grad():
        return lm.model(input_ids=ids[None].to(lm.device), use_cache=False).logits[0, -1]


def naive_logits(lm: LoadedModel, ids: Any, variant: Sequence[Patch]) -> Any:
    """Last-position logits of one plain HF forward with one hook per patch writing its value: the
    reference the batched engine must equal."""
    import torch

    handles = []
    try:
        for p in variant:
            module, pre = lm.adapter.hook_point(lm.model, p.site.component, p.site.layer)
            handles.append(_hook(module, pre, _naive_writer(lm, p)))
        return _plain_logits(lm, ids)
    finally:
        for h in handles:
            h.remove()
        del torch


def _naive_writer(lm: LoadedModel, p: Patch) -> Callable[[Any], Any]:
    import torch

    s, heads = p.site, lm.adapter.n_heads

    def write(x: Any) -> Any:
        y = x.clone()
        v = y.view(*y.shape[:-1], heads, -1) if s.component == "head" else y
        target = v[0] if s.position is None else v[0, s.position]
        if s.index is not None:
            target = target[..., s.index, :] if s.component == "head" else target[..., s.index]
        value = torch.zeros_like(target) if p.mode == "zero" else torch.as_tensor(p.value).to(target)
        target.copy_(value.expand_as(target))
        return y

    return write


def _variants(eng: Engine, base: Any, last_only: bool, seed: int) -> list[list[Patch]]:
    """A mix of patch kinds over every available component, one or two patches per variant."""
    import torch

    a = eng.adapter
    gen = torch.Generator().manual_seed(seed)
    comps = [
        c for c in ("resid_pre", "resid_post", "attn_out", "mlp_out", "head", "neuron") if c not in a.missing
    ]
    out: list[list[Patch]] = []
    for i in range(12):
        c = comps[i % len(comps)]
        layer = int(torch.randint(0, a.n_layers, (1,), generator=gen))
        pos = -1 if last_only else int(torch.randint(0, _PROMPT, (1,), generator=gen))
        size = a.index_size(c)
        index = int(torch.randint(0, size, (1,), generator=gen)) if size else None
        site = Site(c, layer, pos, index)
        kind = i % 3
        if kind == 0:
            out.append([Patch(site, mode="zero")])
        elif kind == 1:
            out.append([Patch(site, base.value(site) * 1.5 + 0.25)])
        else:  # two patches in one variant, the second on another layer
            other = Site("resid_pre", (layer + 1) % a.n_layers, pos)
            out.append([Patch(site, mode="zero"), Patch(other, base.value(other) * 0.5)])
    return out


def _check_logits(eng: Engine, base: Any, ids: Any, _c: Any, tol: float) -> str:
    # a patch writing layer 0's own input replays every block from the captured arguments
    site = Site("resid_pre", 0, None)
    got = eng.patched_logits(ids, [[Patch(site, base.value(site))]], base)[0]
    return _close(got, _plain_logits(eng.lm, ids), tol)


def _check_patching(eng: Engine, base: Any, ids: Any, _c: Any, tol: float, last_only: bool = False) -> str:
    import torch

    variants = _variants(eng, base, last_only, seed=1 + last_only)
    got = eng.patched_logits(ids, variants, base)
    want = torch.stack([naive_logits(eng.lm, ids, v) for v in variants])
    return _close(got, want, tol)


def _check_prefix(eng: Engine, base: Any, ids: Any, corrupt: Any, tol: float) -> str:
    verdict = _check_patching(eng, base, ids, corrupt, tol, last_only=True)
    if verdict == PASS and not (base.keys is not None and eng.adapter.can_skip_prefix(eng.model, len(ids))):
        return "n/a: windowed attention reaches the prompt, forwards start at position 0 (checked exact)"
    return verdict


def _check_attribution(eng: Engine, base: Any, ids: Any, corrupt: Any, tol: float) -> str:
    import torch

    from everybit.probe.attribution import attribute

    a = eng.adapter
    target = int(base.logits[-1].argmax())

    def metric(logits: Any) -> Any:
        return torch.log_softmax(logits, -1)[..., target]

    comps = [c for c in ("head", "neuron", "mlp_out") if c not in a.missing]
    scores = attribute(eng, ids, corrupt, metric, comps, clean=base)
    bad = eng.run(corrupt)
    # the tiny models are fp64 but HF runs their norms in fp32, whose rounding swamps small steps: a
    # step of 0.2 of the clean - corrupt difference keeps it far below the signal, and Richardson's
    # extrapolation over h and h/2 removes most of the truncation error such a step leaves
    checked = 0
    for c in comps:
        layer = a.n_layers - 1
        # the strongest head / neuron: small scores sit at the finite differences' rounding floor
        index = int(scores[c][layer].abs().argmax()) if a.index_size(c) else None
        site = Site(c, layer, None, index)
        here, there = bad.value(site), base.value(site)
        delta = there - here
        score = float(scores[c][layer] if index is None else scores[c][layer, index])
        # a mixture of experts routes differently after a large step: then a small one must agree
        fds = [_derivative(eng, corrupt, bad, site, here, delta, metric, eps) for eps in (0.2, 0.02)]
        limit = 2e-3 if eng.lm.dtype == torch.float64 else 5e-2
        if all(abs(score - fd) / max(abs(fd), 1e-3) > limit for fd in fds):
            return f"FAIL: {c} attribution {score:.4g} vs finite difference {fds[0]:.4g}"
        checked += 1
    return PASS if checked else "n/a: no head, neuron or MLP output"


def _derivative(
    eng: Engine, ids: Any, trace: Any, site: Site, here: Any, delta: Any, metric: Any, eps: float
) -> float:
    """d metric / dt at t = 0 of patching here + t * delta: central differences at steps eps and eps/2,
    combined by Richardson's extrapolation."""
    steps = [here + k * eps * delta for k in (1, -1, 0.5, -0.5)]
    out = eng.patched_logits(ids, [[Patch(site, v)] for v in steps], trace)
    m = [float(metric(o)) for o in out]
    coarse, fine = (m[0] - m[1]) / (2 * eps), (m[2] - m[3]) / eps
    return (4 * fine - coarse) / 3


def _check_ablation(eng: Engine, base: Any, ids: Any, _c: Any, tol: float) -> str:
    import torch

    a = eng.adapter
    verdicts = []
    for c, width in (("head", a.head_dim), ("neuron", 1)):
        if c in a.missing:
            verdicts.append(f"n/a: {c}: {a.missing[c]}")
            continue
        layer, index = a.n_layers - 1, a.index_size(c) - 1  # type: ignore[operator]
        got = eng.patched_logits(ids, [[Patch(Site(c, layer, None, index), mode="zero")]], base)[0]
        module, kind = a.hook_point(eng.model, c, layer)
        cols = slice(index * width, (index + 1) * width)
        if kind == experts.EXPERTS:  # unit i of expert e: column i of down_proj[e]
            units = module[0].down_proj.shape[-1]
            view = module[0].down_proj[index // units, :, index % units]
        elif isinstance(module, torch.nn.Linear):
            view = module.weight[:, cols]
        elif type(module).__name__ == "Conv1D":  # GPT-2 stores (in, out)
            view = module.weight[cols, :]
        else:
            verdicts.append(f"n/a: {c}: {type(module).__name__} is not a plain projection")
            continue
        saved = view.detach().clone()
        try:
            with torch.no_grad():
                view.zero_()
            want = _plain_logits(eng.lm, ids)
        finally:
            with torch.no_grad():
                view.copy_(saved)
        verdict = _close(got, want, tol)
        if verdict != PASS:
            return f"{c}: {verdict}"
    return next((v for v in verdicts if v != PASS), PASS)


_CHECKS = {
    "logits": _check_logits,
    "patching": _check_patching,
    "prefix": _check_prefix,
    "attribution": _check_attribution,
    "ablation": _check_ablation,
}


# ---------------------------------------------------------------------- the zoo
def families() -> list[str]:
    """Every model type the installed transformers maps to a causal-LM class."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def tiny_config(family: str) -> Any:
    """The family's default config with every size in _TINY it has shrunk (ids beyond the vocab moved)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cls = CONFIG_MAPPING[family]
    defaults = cls().to_dict()
    kw = {k: v for k, v in _TINY.items() if k in defaults}
    if "kv_lora_rank" in defaults and "num_key_value_heads" in kw:  # latent attention: one kv per head
        kw["num_key_value_heads"] = kw.get("num_attention_heads", 4)
    for k, v in defaults.items():
        if k.endswith("token_id") and isinstance(v, int) and v >= _VOCAB:
            kw[k] = 1
    return cls(**kw)


def build(family: str, *, seed: int = 0) -> tuple[Any, str]:
    """(tiny random fp64 model, "") or (None, why it cannot be built tiny)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        cfg = tiny_config(family)
    except Exception as exc:  # transformers validates configs with many exception types
        return None, f"config: {_first_line(exc)}"
    if getattr(cfg, "is_encoder_decoder", False):
        return None, "encoder-decoder"
    if getattr(cfg, "sub_configs", None):
        return None, f"composite model ({', '.join(cfg.sub_configs)}): its text model is tested on its own"
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
        if params > _MAX_PARAMS:
            return None, f"does not shrink below {_MAX_PARAMS:,} parameters with the common size keys"
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg).to(torch.float64).eval()
    except Exception as exc:
        return None, f"cannot be built: {_first_line(exc)}"
    with torch.no_grad():  # random norms and biases too, so that no component is trivially zero
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model, ""


def run_family(family: str) -> FamilyResult:
    import torch

    res = FamilyResult(family)
    model, why = build(family)
    if model is None:
        res.skipped = why
        return res
    res.model_class, res.params = type(model).__name__, sum(p.numel() for p in model.parameters())
    try:
        _forward_once(model)
    except Exception:
        try:  # some kernels (grouped expert matmuls) take no fp64: the family is checked in fp32
            _forward_once(model.to(torch.float32))
        except Exception as exc:
            res.skipped = f"its own forward fails: {_first_line(exc)}"
            return res
    try:
        lm = wrap_model(model, name=family)
    except Exception as exc:  # EverybitError is the expected one; anything else is reported as a miss
        res.skipped = f"not mapped: {_first_line(exc)}"
        return res
    try:
        res.checks = check(lm)
    except Exception as exc:  # a check crashing is a failure of ours, reported as such
        res.checks = {"logits": f"FAIL: {type(exc).__name__}: {_first_line(exc)}"}
    return res


def _forward_once(model: Any) -> None:
    import torch

    with torch.no_grad():
        model(input_ids=torch.arange(1, _PROMPT + 1)[None], use_cache=False)


def run_zoo(names: Sequence[str] | None = None, *, progress: bool = False) -> list[FamilyResult]:
    import warnings

    from everybit.common.hfmodels import transformers_module

    transformers_module("probe")
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names or families():
            if progress:
                print(name, file=sys.stderr, flush=True)
            out.append(run_family(name))
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:150]


def table(results: Sequence[FamilyResult]) -> str:
    """The docs page: one row per family, one column per check."""
    import transformers

    passed = [r for r in results if r.passed]
    lines = [
        "# probe: supported model families",
        "",
        "Generated by `python -m everybit.probe.conformance docs/probe-families.md` from the conformance",
        "suite (`tests/probe/test_conformance.py`) over every causal-LM family of transformers "
        f"{transformers.__version__}: each family is built tiny (2 layers, d_model 64), random and",
        "offline in float64, mapped by discovery (`probe.adapters`) and checked against plain HF forwards "
        "(`probe.conformance`; see docs/probe.md). "
        f"**{len(passed)} of {len(results)} families pass every check**; the others say why.",
        "",
        "| family | class | " + " | ".join(CHECKS) + " |",
        "|---|---|" + "---|" * len(CHECKS),
    ]
    for r in results:
        if r.skipped:
            lines.append(
                f"| {r.family} | {r.model_class or '-'} | {r.skipped.replace('|', '/')} |"
                + " |" * (len(CHECKS) - 1)
            )
            continue
        cells = [
            ("pass" if r.checks.get(c) == PASS else r.checks.get(c, "-")).replace("|", "/") for c in CHECKS
        ]
        lines.append(f"| {r.family} | {r.model_class} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    results = run_zoo(args[1:] or None, progress=True)
    text = table(results)
    if args:
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
