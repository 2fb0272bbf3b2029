"""Study 1, transplant: write a source prompt's activation of one component into a neutral baseline run.

For every component (residual stream, attention output, MLP output per layer; every head) the source's
activation at the last position (or at every position, ``positions: aligned``) replaces the baseline's,
and the change in log-probability of each target token at the baseline's last position is recorded (fp32).
With two targets the change in their margin (log P(t1) - log P(t2)) is ranked too: a component can raise
both ' yes' and ' no' (it says "answer now"), and only the margin tells which way it leans.

When every source has as many tokens as the baseline, the heads are also scored by attribution patching
(one backward per target) and its rank correlation with the exact sweep is reported; ``method:
attribution`` then re-checks only the top_k heads exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from everybit.common.errors import InputError, UsageError
from everybit.probe.config import TransplantConfig
from everybit.probe.report import Heatmap, StudyResult
from everybit.probe.studies import (
    Context,
    check_layers,
    fmt_num,
    head_attribution,
    label,
    patched_map,
    spearman,
    timed,
    top_k_indices,
)

LAYER_COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out")
SHORT = {
    "resid_pre": "resid_pre",
    "resid_post": "resid",
    "attn_out": "attn",
    "mlp_out": "mlp",
    "head": "head",
}
SUMMARY_TOP = 3
Site3 = tuple[str, int, int | None]  # (component, layer, head or None)


@dataclass(frozen=True)
class Goal:
    """What a Δ is measured on: one target's log-prob, or the margin of two (weights +1 / -1)."""

    name: str  # the target's text, or "A - B"
    weights: tuple[float, ...]
    measure: str  # CSV measure column
    what: str  # for titles: Δlog P(' yes') or Δ[log P(' yes') - log P(' no')]


def goals(targets: list[str]) -> list[Goal]:
    out = [
        Goal(t, tuple(1.0 if j == i else 0.0 for j in range(len(targets))), "delta_logprob", f"Δlog P({t!r})")
        for i, t in enumerate(targets)
    ]
    if len(targets) == 2:
        a, b = targets
        out.append(Goal(f"{a} - {b}", (1.0, -1.0), "delta_margin", f"Δ[log P({a!r}) - log P({b!r})]"))
    return out


def run(cfg: TransplantConfig, ctx: Context) -> StudyResult:
    """The transplant study; see the module docstring."""
    a = ctx.lm.adapter
    layers = check_layers(cfg, a.n_layers)
    targets = [(t, ctx.lm.token_id(t)) for t in cfg.targets]
    base_ids = ctx.encode(cfg.baseline)
    sources = [(p, ctx.encode(p.text)) for p in cfg.sources]
    for p, ids in sources:
        if cfg.positions == "aligned" and len(ids) != len(base_ids):
            raise InputError(
                f"{cfg.path}: source {p.name!r} is {len(ids)} tokens and the baseline {len(base_ids)}: "
                "positions: aligned needs equal lengths (or use positions: last)"
            )
    # Attribution compares two runs position by position: it needs sources as long as the baseline.
    same_length = all(len(ids) == len(base_ids) for _, ids in sources)
    use_attr = ctx.method == "attribution" and "head" in cfg.components
    if use_attr and not same_length:
        raise UsageError(
            "--method attribution compares runs position by position: every source prompt must have as "
            f"many tokens as the baseline ({len(base_ids)}) in a transplant config"
        )
    gs = goals(cfg.targets)
    with timed(ctx, "baseline"):
        base = ctx.engine.run(base_ids)
    base_lp = _target_logprobs(base.logits[-1][None], [tid for _, tid in targets])[0]
    sites = _sites(cfg, layers, a.n_heads)
    rows: list[dict[str, Any]] = []
    prompts = _prompt_rows(ctx, "baseline", "baseline", cfg.baseline, base_ids, base, targets)
    deltas: dict[tuple[str, Site3], list[float]] = {}  # (goal, site) -> Δ per source
    spearmans: list[dict[str, Any]] = []
    for p, ids in sources:
        with timed(ctx, "source runs"):
            src = ctx.engine.run(ids)
        prompts += _prompt_rows(ctx, p.name, "source", p.text, ids, src, targets)
        estimates: dict[str, list[float]] = {}
        exact_sites = sites
        head_sites = [s for s in sites if s[0] == "head"]
        if head_sites and same_length:
            with timed(ctx, "attribution"):
                estimates = _attribution(ctx, cfg, src, ids, base_ids, targets, head_sites)
            if use_attr:
                keep = {
                    head_sites[i]
                    for g in gs
                    for i in top_k_indices(_combine(g, estimates, targets), cfg.top_k)
                }
                exact_sites = [s for s in sites if s[0] != "head" or s in keep]
        with timed(ctx, "exact sweep"):
            patched = _exact(ctx, cfg, src, base, base_ids, exact_sites, [tid for _, tid in targets])
        exact: dict[Site3, dict[str, float]] = {}
        for site, lps in zip(exact_sites, patched, strict=True):
            d = [lp - b for lp, b in zip(lps, base_lp, strict=True)]
            exact[site] = {}
            for g in gs:
                v = sum(w * x for w, x in zip(g.weights, d, strict=True))
                exact[site][g.name] = v
                deltas.setdefault((g.name, site), []).append(v)
                rows.append(_row(p.name, site, g.name, g.measure, v))
        for g in gs if estimates else []:
            est = _combine(g, estimates, targets)
            for site, v in zip(head_sites, est, strict=True):
                rows.append(_row(p.name, site, g.name, "attribution", v))
            both = [(e, exact[s][g.name]) for s, e in zip(head_sites, est, strict=True) if s in exact]
            rho = spearman([x for x, _ in both], [y for _, y in both])
            compared = f"top {len(both)}" if use_attr else f"all {len(both)}"
            spearmans.append({"source": p.name, "goal": g.name, "compared": compared, "spearman": rho})
    ranking = _ranking(gs, deltas, len(sources))
    return StudyResult(
        study="transplant",
        title=cfg.title or "transplant",
        tables={"transplant": rows, "ranking": ranking, "prompts": prompts},
        heatmaps=_heatmaps(cfg, gs, layers, a.n_heads, deltas),
        summary=_summary(cfg, ctx, targets, base_lp, gs, ranking, spearmans, use_attr),
        meta={**ctx.meta(), "spearman": spearmans, "n_sources": len(sources)},
    )


def _sites(cfg: TransplantConfig, layers: list[int], n_heads: int) -> list[Site3]:
    out: list[Site3] = []
    for comp in cfg.components:
        if comp == "head":
            out += [("head", layer, h) for layer in layers for h in range(n_heads)]
        else:
            out += [(comp, layer, None) for layer in layers]
    return out


def _target_logprobs(logits: Any, tids: list[int]) -> list[list[float]]:
    from everybit.probe.interventions import log_probs

    return log_probs(logits)[:, tids].tolist()


def _combine(g: Goal, estimates: dict[str, list[float]], targets: list[tuple[str, int]]) -> list[float]:
    """A goal's estimate from the per-target ones (attribution is linear, so margins subtract)."""
    cols = [estimates[t] for t, _ in targets]
    return [sum(w * c[i] for w, c in zip(g.weights, cols, strict=True)) for i in range(len(cols[0]))]


def _prompt_rows(
    ctx: Context, name: str, role: str, text: str, ids: Any, trace: Any, targets: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The unpatched runs: each target's log-prob and the model's own top token, per prompt."""
    from everybit.probe.interventions import log_probs

    lp = log_probs(trace.logits[-1])
    top = int(lp.argmax())
    return [
        {
            "prompt": name,
            "role": role,
            "text": text,
            "tokens": len(ids),
            "target": t,
            "logprob": float(lp[tid]),
            "top_token": ctx.lm.decode([top]),
            "top_logprob": float(lp[top]),
        }
        for t, tid in targets
    ]


def _row(source: str, site: Site3, goal: str, measure: str, v: float) -> dict[str, Any]:
    comp, layer, idx = site
    return {
        "source": source,
        "component": comp,
        "layer": layer,
        "index": idx,
        "label": label(comp, layer, idx),
        "target": goal,
        "measure": measure,
        "value": float(v),
    }


def _exact(
    ctx: Context,
    cfg: TransplantConfig,
    src: Any,
    base: Any,
    base_ids: Any,
    sites: list[Site3],
    tids: list[int],
) -> list[list[float]]:
    """Patched log-probs of the targets, one list per site."""
    from everybit.probe.interventions import Patch, Site

    pos = None if cfg.positions == "aligned" else -1
    variants = []
    for comp, layer, idx in sites:
        site = Site(comp, layer, pos, idx)
        variants.append([Patch(site, src.value(site))])
    chunks = patched_map(
        ctx, base_ids, variants, lambda lg: _target_logprobs(lg, tids), base=base, desc="transplant"
    )
    return [row for chunk in chunks for row in chunk]


def _attribution(
    ctx: Context,
    cfg: TransplantConfig,
    src: Any,
    src_ids: Any,
    base_ids: Any,
    targets: list[tuple[str, int]],
    head_sites: list[Site3],
) -> dict[str, list[float]]:
    """Attribution estimates of Δlog P(target) per head (in head_sites' order), one backward per target."""
    from everybit.probe.interventions import log_probs

    return {
        t: head_attribution(
            ctx,
            src_ids,
            base_ids,
            lambda lg, tid=tid: log_probs(lg)[tid],
            head_sites,
            src=src,
            last_only=cfg.positions == "last",
        )
        for t, tid in targets
    }


def _ranking(gs: list[Goal], deltas: dict[tuple[str, Site3], list[float]], n_sources: int) -> list[dict]:
    """Per goal: components by mean Δ over sources, most positive (toward the target) first."""
    out = []
    for g in gs:
        items = [(sum(v) / len(v), site) for (name, site), v in deltas.items() if name == g.name and v]
        items.sort(key=lambda x: -x[0])
        for rank, (mean, (comp, layer, idx)) in enumerate(items, 1):
            out.append(
                {
                    "target": g.name,
                    "rank": rank,
                    "label": label(comp, layer, idx),
                    "component": comp,
                    "layer": layer,
                    "index": idx,
                    "mean_delta": mean,
                    "sources": n_sources,
                }
            )
    return out


def _heatmaps(
    cfg: TransplantConfig, gs: list[Goal], layers: list[int], n_heads: int, deltas: dict
) -> list[Heatmap]:
    def mean(goal: str, site: Site3) -> float:
        v = deltas.get((goal, site))
        return sum(v) / len(v) if v else math.nan

    out = []
    comps = [c for c in LAYER_COMPONENTS if c in cfg.components]
    blank = "blank cells: not re-checked exactly (outside the attribution top-k)"
    for k, g in enumerate(gs):
        if comps:
            out.append(
                Heatmap(
                    name=f"layers_{k}",
                    title=f"{g.what}, one component transplanted",
                    values=[[mean(g.name, (c, layer, None)) for c in comps] for layer in layers],
                    rows=[str(x) for x in layers],
                    cols=[SHORT[c] for c in comps],
                    ylabel="layer",
                    xlabel="component",
                    label="Δ log-prob",
                )
            )
        if "head" in cfg.components:
            out.append(
                Heatmap(
                    name=f"heads_{k}",
                    title=f"{g.what}, one attention head transplanted",
                    values=[[mean(g.name, ("head", layer, h)) for h in range(n_heads)] for layer in layers],
                    rows=[str(x) for x in layers],
                    cols=[str(h) for h in range(n_heads)],
                    ylabel="layer",
                    xlabel="head",
                    label="Δ log-prob",
                    note=blank if cfg.method == "attribution" else "",
                )
            )
    return out


def _summary(
    cfg: TransplantConfig,
    ctx: Context,
    targets: list[tuple[str, int]],
    base_lp: list[float],
    gs: list[Goal],
    ranking: list[dict[str, Any]],
    spearmans: list[dict[str, Any]],
    use_attr: bool,
) -> list[str]:
    method = "attribution screen + exact top-k" if use_attr else "exact"
    lines = [
        f"transplant: {cfg.title or cfg.path}",
        f"model {ctx.lm.name}; {len(cfg.sources)} source prompt(s); positions: {cfg.positions}; "
        f"method: {method}",
        f"baseline {cfg.baseline!r}: "
        + ", ".join(f"log P({t!r}) = {b:.3f}" for (t, _), b in zip(targets, base_lp, strict=True)),
        "mean Δ over sources, per component kind (toward = raises it; away = lowers it):",
    ]
    for g in gs:
        lines.append(f"{g.name!r}:" if g.measure != "delta_margin" else f"margin {g.name}:")
        for comp in cfg.components:
            ranked = [r for r in ranking if r["target"] == g.name and r["component"] == comp]
            if not ranked:
                continue

            def show(rs: list[dict], comp: str = comp) -> str:
                # within one kind the layer says it all: L21H1 for heads, L21 for the rest
                return ", ".join(
                    f"{r['label'] if comp == 'head' else 'L' + str(r['layer'])} {fmt_num(r['mean_delta'])}"
                    for r in rs
                )

            toward, away = show(ranked[:SUMMARY_TOP]), show(ranked[::-1][:SUMMARY_TOP])
            lines.append(f"  {SHORT[comp]:>5}: toward {toward}; away {away}")
    for g in gs:
        rhos = [s["spearman"] for s in spearmans if s["goal"] == g.name and math.isfinite(s["spearman"])]
        if rhos:
            mean = sum(rhos) / len(rhos)
            lines.append(
                f"attribution vs exact, heads ({spearmans[0]['compared']}), {g.name!r}: Spearman mean "
                f"{mean:.3f}, min {min(rhos):.3f} over {len(rhos)} source(s)"
            )
    return lines
