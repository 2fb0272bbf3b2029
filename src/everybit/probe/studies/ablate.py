"""Study 3, ablate: knock out each MLP neuron of some layers, one at a time, and watch the next token.

Each neuron (the down projection's input) is set to zero (``mode: zero``) or to its mean activation
(``mode: mean``: over every position of ``mean_prompts``, or of the prompt itself when none are given), at
every position or only the last. Recorded per neuron (fp32): P(target) after ablation, ΔP(target), the new
top-1 token and whether it differs from the unablated one (a flip). Neurons with |ΔP| > threshold or a
flip are listed; the heatmap marks flips with an 'x'.
"""

from __future__ import annotations

import math
from typing import Any

from everybit.probe.config import AblateConfig
from everybit.probe.report import Heatmap, StudyResult
from everybit.probe.studies import Context, check_layers, patched_map, timed

GRID_COLS = 48  # one layer's neurons drawn as a grid this wide (1,536 -> 32 x 48)
SUMMARY_TOP = 10
FOLDED_LAYERS_MAX = 4  # up to this many layers get one folded grid each


def _means(ctx: Context, cfg: AblateConfig, layers: list[int], base: Any) -> Any:
    """Mean activation of every neuron (layers, d_mlp) over all positions of the reference prompts."""
    import torch

    traces = [ctx.engine.run(ctx.encode(p.text)) for p in cfg.mean_prompts] or [base]
    acts = torch.cat([t.get("neuron")[layers].float() for t in traces], dim=1)  # (L, sum T, d_mlp)
    return acts.mean(dim=1)


def run(cfg: AblateConfig, ctx: Context) -> StudyResult:
    """The ablate study; see the module docstring."""
    import torch

    from everybit.probe.interventions import Patch, Site

    a = ctx.lm.adapter
    layers = check_layers(cfg, a.n_layers)
    ids = ctx.encode(cfg.prompt)
    with timed(ctx, "baseline"):
        base = ctx.engine.run(ids)
    probs = torch.softmax(base.logits[-1].float(), dim=-1)
    top1 = int(probs.argmax())
    tid = ctx.lm.token_id(cfg.target) if cfg.target is not None else top1
    target = cfg.target if cfg.target is not None else ctx.lm.decode([top1])
    p0 = float(probs[tid])
    means = _means(ctx, cfg, layers, base) if cfg.mode == "mean" else None
    pos = None if cfg.positions == "all" else -1
    variants = []
    for li, layer in enumerate(layers):
        for n in range(a.d_mlp):
            site = Site("neuron", layer, pos, n)
            if means is None:
                variants.append([Patch(site, mode="zero")])
            else:
                variants.append([Patch(site, means[li, n].reshape(()), mode="mean")])

    def reduce(lg: Any) -> list[tuple[float, int]]:
        pr = torch.softmax(lg.float(), dim=-1)
        return list(zip(pr[:, tid].tolist(), pr.argmax(-1).tolist(), strict=True))

    with timed(ctx, "ablation sweep"):
        chunks = patched_map(ctx, ids, variants, reduce, base=base, desc="ablating")
    results = [r for c in chunks for r in c]
    rows = []
    for k, (p, top) in enumerate(results):
        layer, n = layers[k // a.d_mlp], k % a.d_mlp
        rows.append(
            {
                "layer": layer,
                "neuron": n,
                "label": f"L{layer}N{n}",
                "p_target": p,
                "delta_p": p - p0,
                "top_token": ctx.lm.decode([top]),
                "flipped": top != top1,
                "over_threshold": abs(p - p0) > cfg.threshold,
            }
        )
    return StudyResult(
        study="ablate",
        title=cfg.title or "ablate",
        tables={"ablate": rows},
        heatmaps=_heatmaps(cfg, layers, a.d_mlp, rows, target),
        summary=_summary(cfg, ctx, layers, rows, ctx.lm.decode([top1]), target, p0),
        meta={**ctx.meta(), "target": target, "p_target": p0, "top1": ctx.lm.decode([top1])},
    )


def _heatmaps(
    cfg: AblateConfig, layers: list[int], d_mlp: int, rows: list[dict], target: str
) -> list[Heatmap]:
    """One folded grid per layer for a few layers (readable cells), else one layer x neuron strip map."""
    title = f"ΔP({target!r}) when one neuron is {cfg.mode}-ablated (x: top-1 token changed)"
    if len(layers) <= FOLDED_LAYERS_MAX:
        return [_folded(layer, title, d_mlp, [r for r in rows if r["layer"] == layer]) for layer in layers]
    by_layer = {layer: i for i, layer in enumerate(layers)}
    values = [[math.nan] * d_mlp for _ in layers]
    marks = [[False] * d_mlp for _ in layers]
    for r in rows:
        values[by_layer[r["layer"]]][r["neuron"]] = r["delta_p"]
        marks[by_layer[r["layer"]]][r["neuron"]] = r["flipped"]
    heatmap = Heatmap(
        name="ablate",
        title=title,
        values=values,
        rows=[str(x) for x in layers],
        cols=[str(n) for n in range(d_mlp)],
        ylabel="layer",
        xlabel="neuron",
        label="ΔP(target)",
        marks=marks,
    )
    return [heatmap]


def _folded(layer: int, title: str, d_mlp: int, rows: list[dict]) -> Heatmap:
    """One layer's neurons folded into a grid: row r holds neurons r*cols .. r*cols + cols - 1."""
    cols = min(GRID_COLS, d_mlp)
    n_rows = math.ceil(d_mlp / cols)
    values = [[math.nan] * cols for _ in range(n_rows)]
    marks = [[False] * cols for _ in range(n_rows)]
    for r in rows:
        i, j = divmod(r["neuron"], cols)
        values[i][j], marks[i][j] = r["delta_p"], r["flipped"]
    return Heatmap(
        name=f"ablate_L{layer}",
        title=f"layer {layer}: {title}",
        values=values,
        rows=[str(i * cols) for i in range(n_rows)],
        cols=[f"+{j}" for j in range(cols)],
        ylabel="neuron (row start)",
        xlabel="neuron (offset)",
        label="ΔP(target)",
        marks=marks,
    )


def _summary(
    cfg: AblateConfig, ctx: Context, layers: list[int], rows: list[dict], top1: str, target: str, p0: float
) -> list[str]:
    flips = [r for r in rows if r["flipped"]]
    over = [r for r in rows if r["over_threshold"]]
    biggest = sorted(rows, key=lambda r: -abs(r["delta_p"]))[:SUMMARY_TOP]
    where = f"layer {layers[0]}" if len(layers) == 1 else f"{len(layers)} layers"
    lines = [
        f"ablate: {cfg.title or cfg.path}",
        f"model {ctx.lm.name}; prompt {cfg.prompt!r}; {cfg.mode}-ablating {len(rows):,} neurons ({where}), "
        f"{cfg.positions} position(s)",
        f"unablated: top-1 {top1!r}; P({target!r}) = {p0:.4f}",
        f"{len(flips)} neuron(s) change the top-1 token; {len(over)} move P({target!r}) by more than "
        f"{cfg.threshold:g}",
        "largest |ΔP|: " + ", ".join(f"{r['label']} {r['delta_p']:+.3g}" for r in biggest),
    ]
    if flips:
        shown = ", ".join(f"{r['label']} -> {r['top_token']!r}" for r in flips[:SUMMARY_TOP])
        lines.append(
            f"flips: {shown}" + (f" (+{len(flips) - SUMMARY_TOP} more)" if len(flips) > SUMMARY_TOP else "")
        )
    return lines
