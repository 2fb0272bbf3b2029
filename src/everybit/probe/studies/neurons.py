"""`everybit probe neurons`: MLP neurons consistently active across a set of prompts.

A neuron's activation is the input of the MLP's down projection (after the gate / non-linearity). Per prompt
it is reduced over positions (``aggregate``: max, mean or the last position); across the prompt set each
neuron gets its mean and the fraction of prompts where it exceeds ``threshold``. With ``control_prompts``
the ranking is by selectivity (frequency on the set minus frequency on the controls), otherwise by
frequency; ties go to the larger mean. The prompts that drive each top neuron most are listed.
"""

from __future__ import annotations

from typing import Any

from everybit.probe.config import NeuronsConfig, Prompt
from everybit.probe.report import Heatmap, StudyResult
from everybit.probe.studies import Context, check_layers, timed

MAP_LAYERS_MAX = 64  # layer x neuron frequency map drawn for up to this many layers


def activations(ctx: Context, prompts: list[Prompt], layers: list[int], aggregate: str) -> Any:
    """fp32 tensor (prompts, layers, d_mlp): each prompt's neuron activations reduced over positions."""
    import torch

    out = []
    for p in prompts:
        trace = ctx.engine.run(ctx.encode(p.text))
        acts = trace.get("neuron")[layers].float()  # (L, T, d_mlp)
        if aggregate == "max":
            out.append(acts.max(dim=1).values)
        elif aggregate == "mean":
            out.append(acts.mean(dim=1))
        else:
            out.append(acts[:, -1])
    return torch.stack(out).cpu()


def run(cfg: NeuronsConfig, ctx: Context) -> StudyResult:
    """The neurons study; see the module docstring."""
    import torch

    layers = check_layers(cfg, ctx.lm.adapter.n_layers)
    with timed(ctx, "prompt runs"):
        acts = activations(ctx, cfg.prompts, layers, cfg.aggregate)
        ctrl = activations(ctx, cfg.control_prompts, layers, cfg.aggregate) if cfg.control_prompts else None
    mean = acts.mean(0)
    freq = (acts > cfg.threshold).float().mean(0)
    cols: dict[str, Any] = {"mean": mean, "frequency": freq}
    if ctrl is not None:
        cols["control_mean"] = ctrl.mean(0)
        cols["control_frequency"] = (ctrl > cfg.threshold).float().mean(0)
        cols["selectivity"] = freq - cols["control_frequency"]
        primary, secondary = cols["selectivity"], mean - cols["control_mean"]
    else:
        primary, secondary = freq, mean
    # rank by primary, ties by secondary: a stable sort on the secondary key, then on the primary
    flat_p, flat_s = primary.flatten(), secondary.flatten()
    order = torch.argsort(flat_s, descending=True, stable=True)
    order = order[torch.argsort(flat_p[order], descending=True, stable=True)]
    d_mlp = acts.shape[-1]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(1, len(order) + 1)
    all_rows = []
    for li, layer in enumerate(layers):
        for n in range(d_mlp):
            row: dict[str, Any] = {"layer": layer, "neuron": n, "label": f"L{layer}N{n}"}
            row |= {k: float(v[li, n]) for k, v in cols.items()}
            row["rank"] = int(rank[li * d_mlp + n])
            all_rows.append(row)
    top = [(int(i) // d_mlp, int(i) % d_mlp) for i in order[: cfg.top_k]]
    every = cfg.prompts + cfg.control_prompts
    stacked = torch.cat([acts, ctrl]) if ctrl is not None else acts
    top_rows, act_rows = _top_tables(cfg, layers, top, cols, acts, stacked, every)
    heatmaps = [_top_map(cfg, layers, top, stacked, every)]
    if len(layers) <= MAP_LAYERS_MAX:
        heatmaps.append(
            Heatmap(
                name="frequency",
                title=f"fraction of prompts with activation > {cfg.threshold:g} "
                f"({cfg.aggregate} over positions)",
                values=freq.tolist(),
                rows=[str(x) for x in layers],
                cols=[str(n) for n in range(d_mlp)],
                ylabel="layer",
                xlabel="neuron",
                label="frequency",
                diverging=False,
            )
        )
    summary = [
        f"neurons: {cfg.title or cfg.path}",
        f"model {ctx.lm.name}; {len(cfg.prompts)} prompt(s), {len(cfg.control_prompts)} control(s); "
        f"{len(layers)} layer(s) x {d_mlp} neurons; activation > {cfg.threshold:g}, {cfg.aggregate} over "
        "positions",
        "ranked by " + ("selectivity (frequency - control frequency)" if ctrl is not None else "frequency"),
        *(
            f"{r['rank']:>3}. {r['label']}: frequency {r['frequency']:.2f}, mean {r['mean']:+.3f}"
            + (f", controls {r['control_frequency']:.2f}" if ctrl is not None else "")
            + f"; top prompts: {r['top_prompts']}"
            for r in top_rows[:10]
        ),
    ]
    return StudyResult(
        study="neurons",
        title=cfg.title or "neurons",
        tables={"neurons": all_rows, "top_neurons": top_rows, "activations": act_rows},
        heatmaps=heatmaps,
        summary=summary,
        meta={**ctx.meta(), "prompts": len(cfg.prompts), "control_prompts": len(cfg.control_prompts)},
    )


def _top_tables(
    cfg: NeuronsConfig,
    layers: list[int],
    top: list[tuple[int, int]],
    cols: dict[str, Any],
    acts: Any,
    stacked: Any,
    every: list[Prompt],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    top_rows, act_rows = [], []
    for rank, (li, n) in enumerate(top, 1):
        lab = f"L{layers[li]}N{n}"
        col = acts[:, li, n]
        best = col.argsort(descending=True)[: cfg.top_prompts].tolist()
        prompts = "; ".join(f"{cfg.prompts[i].name} ({float(col[i]):.2f})" for i in best)
        row: dict[str, Any] = {"rank": rank, "label": lab, "layer": layers[li], "neuron": n}
        row |= {k: float(v[li, n]) for k, v in cols.items()}
        row["top_prompts"] = prompts
        top_rows.append(row)
        for j, p in enumerate(every):
            group = "prompt" if j < len(cfg.prompts) else "control"
            act_rows.append(
                {
                    "label": lab,
                    "prompt": p.name,
                    "group": group,
                    "text": p.text,
                    "activation": float(stacked[j, li, n]),
                }
            )
    return top_rows, act_rows


def _top_map(
    cfg: NeuronsConfig, layers: list[int], top: list[tuple[int, int]], stacked: Any, every: list[Prompt]
) -> Heatmap:
    """Each top neuron's activations over the prompts, scaled by its own largest |activation|: scales differ
    by 10x between neurons and one loud row would wash out the rest (raw values are in activations.csv)."""
    mark = {True: "", False: " (control)"}
    values = []
    for li, n in top:
        row = [float(stacked[j, li, n]) for j in range(len(every))]
        peak = max(abs(v) for v in row) or 1.0
        values.append([v / peak for v in row])
    return Heatmap(
        name="top_neurons",
        title=f"top {len(top)} neurons on each prompt ({cfg.aggregate} over positions, each row / its max)",
        values=values,
        rows=[f"L{layers[li]}N{n}" for li, n in top],
        cols=[p.name + mark[j < len(cfg.prompts)] for j, p in enumerate(every)],
        ylabel="neuron",
        xlabel="prompt",
        label="activation / row max",
    )
