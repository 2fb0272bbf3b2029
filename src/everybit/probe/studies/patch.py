"""Study 2, patch: clean/corrupt activation patching, in both directions.

Each pair is a clean prompt (the behaviour: "9:00 am ... it is" -> ' morning') and a corrupt one that
differs in a detail and must tokenize to the same length. For the residual stream (and attention / MLP
outputs) every layer x position is patched on its own; every head is patched at all positions. Directions:

- sufficiency: clean activation written into the corrupt run (does this site alone restore the behaviour?)
- necessity: corrupt activation written into the clean run (does losing this site break it?)

Metrics at the last position (fp32): the target's logit, the logit difference target - foil, and the
normalized patching metric (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt): 1 = clean behaviour, 0 =
corrupt behaviour, in both directions (so for necessity a value near 0 marks a necessary site).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from everybit.common.errors import InputError
from everybit.probe.config import PatchConfig
from everybit.probe.report import Heatmap, StudyResult
from everybit.probe.studies import (
    Context,
    check_layers,
    head_attribution,
    label,
    patched_map,
    spearman,
    timed,
    top_k_indices,
)

MAX_PAIR_FIGURES = 3  # layer x position grids are drawn for the first pairs only (all are in the CSV)
WEAK_CONTRAST = 1.0  # logit-difference gap between clean and corrupt below which results are flagged
SUMMARY_TOP = 5
DIRECTION_TEXT = {"sufficiency": "clean -> corrupt", "necessity": "corrupt -> clean"}


def _check_pair(ctx: Context, cfg: PatchConfig, name: str, clean: Any, corrupt: Any) -> None:
    if len(clean) != len(corrupt):
        raise InputError(
            f"{cfg.path}: pair {name!r}: clean is {len(clean)} tokens {ctx.tokens(clean)} and corrupt "
            f"{len(corrupt)} {ctx.tokens(corrupt)}: patching needs prompts of equal length"
        )


@dataclass
class _Pair:
    """One clean/corrupt pair with its unpatched runs and logit differences."""

    name: str
    ids: dict[str, Any]  # "clean" / "corrupt" -> ids
    traces: dict[str, Any]
    ld: dict[str, float]
    tokens: list[str]

    @property
    def gap(self) -> float:
        return self.ld["clean"] - self.ld["corrupt"]

    def normalized(self, ld: float) -> float:
        return (ld - self.ld["corrupt"]) / self.gap if abs(self.gap) > 1e-6 else math.nan


def run(cfg: PatchConfig, ctx: Context) -> StudyResult:
    """The patch study; see the module docstring."""
    a = ctx.lm.adapter
    layers = check_layers(cfg, a.n_layers)
    tid, fid = ctx.lm.token_id(cfg.target), ctx.lm.token_id(cfg.foil)
    encoded = [(p, ctx.encode(p.clean), ctx.encode(p.corrupt)) for p in cfg.pairs]
    for p, clean, corrupt in encoded:
        _check_pair(ctx, cfg, p.name, clean, corrupt)
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    heatmaps: list[Heatmap] = []
    head_norm: dict[tuple[str, int, int], list[float]] = {}
    notes: list[str] = []
    spearmans: list[dict[str, Any]] = []
    best: list[str] = []
    for k, (p, clean_ids, corrupt_ids) in enumerate(encoded):
        pair = _run_pair(ctx, p, clean_ids, corrupt_ids, tid, fid, runs)
        notes.append(
            f"pair {p.name}: logit diff {cfg.target!r} - {cfg.foil!r}: clean {pair.ld['clean']:+.3f}, "
            f"corrupt {pair.ld['corrupt']:+.3f} (gap {pair.gap:+.3f})"
        )
        if abs(pair.gap) < WEAK_CONTRAST:
            notes.append(
                f"  weak contrast: the pair moves the logit difference by only {abs(pair.gap):.2f}, "
                "so the normalized metric is noisy; prefer pairs where the behaviour clearly differs"
            )
        for direction in cfg.directions:
            for comp in cfg.components:
                got, rho = _sweep(ctx, cfg, pair, direction, comp, layers, (tid, fid), rows)
                if rho is not None:
                    spearmans.append({"pair": p.name, "direction": direction, **rho})
                    notes.append(
                        f"attribution vs exact, heads ({rho['compared']}), pair {p.name}, {direction}: "
                        f"Spearman {rho['spearman']:.3f}"
                    )
                best.append(_best(p.name, direction, comp, got, pair.tokens))
                if comp == "head":
                    for (_, layer, _, h), (_, norm) in got.items():
                        head_norm.setdefault((direction, layer, h), []).append(norm)
                elif k < MAX_PAIR_FIGURES:
                    heatmaps.append(_position_map(p.name, k, direction, comp, layers, pair.tokens, got))
    if "head" in cfg.components:
        heatmaps += [
            _head_map(d, layers, a.n_heads, head_norm, len(encoded), ctx.method) for d in cfg.directions
        ]
    method = "attribution screen + exact top-k (heads)" if ctx.method == "attribution" else "exact"
    summary = [
        f"patch: {cfg.title or cfg.path}",
        f"model {ctx.lm.name}; {len(encoded)} pair(s); target {cfg.target!r}, foil {cfg.foil!r}; "
        f"method: {method}",
        "normalized = (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt); sufficiency: 1 = the site "
        "restores the clean behaviour; necessity: 0 = losing the site breaks it",
        *notes,
        *best,
    ]
    return StudyResult(
        study="patch",
        title=cfg.title or "patch",
        tables={"patch": rows, "runs": runs},
        heatmaps=heatmaps,
        summary=summary,
        meta={**ctx.meta(), "spearman": spearmans, "pairs": len(encoded)},
    )


def _run_pair(
    ctx: Context, p: Any, clean_ids: Any, corrupt_ids: Any, tid: int, fid: int, runs: list[dict[str, Any]]
) -> _Pair:
    """The unpatched clean and corrupt runs of a pair; appends their rows to ``runs``."""
    ids = {"clean": clean_ids, "corrupt": corrupt_ids}
    with timed(ctx, "clean/corrupt runs"):
        traces = {name: ctx.engine.run(i) for name, i in ids.items()}
    ld = {}
    for name, trace in traces.items():
        logit, ld[name] = _metrics(trace.logits[-1], tid, fid)
        top = int(trace.logits[-1].argmax())
        runs.append(
            {
                "pair": p.name,
                "run": name,
                "text": p.clean if name == "clean" else p.corrupt,
                "tokens": len(ids[name]),
                "target_logit": logit,
                "logit_diff": ld[name],
                "top_token": ctx.lm.decode([top]),
            }
        )
    return _Pair(p.name, ids, traces, ld, ctx.tokens(clean_ids))


def _sweep(
    ctx: Context,
    cfg: PatchConfig,
    pair: _Pair,
    direction: str,
    comp: str,
    layers: list[int],
    tokens_: tuple[int, int],
    rows: list[dict[str, Any]],
) -> tuple[dict[tuple, tuple[float, float]], dict[str, Any] | None]:
    """One component's sweep in one direction: {site: (logit diff, normalized)}, and for heads the
    attribution-vs-exact comparison. Appends long-format rows."""
    tid, fid = tokens_
    src, dst = ("clean", "corrupt") if direction == "sufficiency" else ("corrupt", "clean")
    sites = _sites(comp, layers, len(pair.tokens), ctx.lm.adapter.n_heads)
    estimates: list[float] = []
    exact_sites = sites
    if comp == "head":

        def metric(lg: Any) -> Any:
            return lg[tid].float() - lg[fid].float()

        with timed(ctx, "attribution"):
            heads = [(c, layer, i) for c, layer, _, i in sites]
            estimates = head_attribution(
                ctx, pair.ids[src], pair.ids[dst], metric, heads, src=pair.traces[src]
            )
        if ctx.method == "attribution":
            exact_sites = [sites[i] for i in sorted(top_k_indices(estimates, cfg.top_k))]
    with timed(ctx, "exact sweeps"):
        values = _exact(ctx, pair.traces[src], pair.traces[dst], pair.ids[dst], exact_sites, tid, fid)
    got: dict[tuple, tuple[float, float]] = {}
    for site, (logit, ld) in zip(exact_sites, values, strict=True):
        got[site] = (ld, pair.normalized(ld))
        tok = "" if site[2] is None else pair.tokens[site[2]]
        for measure, v in (("target_logit", logit), ("logit_diff", ld), ("normalized", got[site][1])):
            rows.append(_row(pair.name, direction, site, tok, measure, v))
    if not estimates:
        return got, None
    for site, est in zip(sites, estimates, strict=True):
        rows.append(_row(pair.name, direction, site, "", "attribution", est))
    both = [(est, got[s][0] - pair.ld[dst]) for s, est in zip(sites, estimates, strict=True) if s in got]
    rho = spearman([x for x, _ in both], [y for _, y in both])
    compared = f"top {len(both)}" if ctx.method == "attribution" else f"all {len(both)}"
    return got, {"compared": compared, "heads": len(both), "spearman": rho}


def _metrics(logits: Any, tid: int, fid: int) -> tuple[float, float]:
    x = logits.float()
    return float(x[tid]), float(x[tid] - x[fid])


def _sites(comp: str, layers: list[int], n_tokens: int, n_heads: int) -> list[tuple]:
    """(component, layer, position, head): per layer x position, or per layer x head at every position."""
    if comp == "head":
        return [("head", layer, None, h) for layer in layers for h in range(n_heads)]
    return [(comp, layer, pos, None) for layer in layers for pos in range(n_tokens)]


def _exact(ctx: Context, src: Any, dst: Any, dst_ids: Any, sites: list[tuple], tid: int, fid: int) -> list:
    """(target logit, logit diff) for each site patched from src into the dst run."""
    from everybit.probe.interventions import Patch, Site

    variants = []
    for comp, layer, pos, idx in sites:
        site = Site(comp, layer, pos, idx)
        variants.append([Patch(site, src.value(site))])

    def reduce(lg: Any) -> list[tuple[float, float]]:
        return list(zip(lg[:, tid].tolist(), (lg[:, tid] - lg[:, fid]).tolist(), strict=True))

    chunks = patched_map(ctx, dst_ids, variants, reduce, base=dst, desc="patching")
    return [v for chunk in chunks for v in chunk]


def _row(pair: str, direction: str, site: tuple, token: str, measure: str, value: float) -> dict[str, Any]:
    comp, layer, pos, idx = site
    return {
        "pair": pair,
        "direction": direction,
        "component": comp,
        "layer": layer,
        "position": pos,
        "token": token,
        "index": idx,
        "label": label(comp, layer, idx) + ("" if pos is None else f" pos {pos}"),
        "measure": measure,
        "value": float(value),
    }


def _best(pair: str, direction: str, comp: str, got: dict, tokens: list[str]) -> str:
    """The sites that matter most: highest normalized value for sufficiency, lowest for necessity."""
    items = [(norm, site) for site, (_, norm) in got.items() if math.isfinite(norm)]
    items.sort(key=lambda x: -x[0] if direction == "sufficiency" else x[0])

    def name(site: tuple) -> str:
        c, layer, pos, idx = site
        return label(c, layer, idx) if pos is None else f"L{layer} {tokens[pos]!r}@{pos}"

    top = ", ".join(f"{name(s)} {v:.2f}" for v, s in items[:SUMMARY_TOP])
    return f"{pair} {direction} ({DIRECTION_TEXT[direction]}), {comp}: {top}"


def _position_map(
    pair: str, k: int, direction: str, comp: str, layers: list[int], tokens: list[str], got: dict
) -> Heatmap:
    grid = [
        [got.get((comp, layer, pos, None), (0, math.nan))[1] for pos in range(len(tokens))]
        for layer in layers
    ]
    return Heatmap(
        name=f"{comp}_{direction}_pair{k}",
        title=f"{comp} patching, {direction} ({DIRECTION_TEXT[direction]}), pair {pair}",
        values=grid,
        rows=[str(x) for x in layers],
        cols=[f"{i} {t}" for i, t in enumerate(tokens)],
        ylabel="layer",
        xlabel="position",
        label="normalized",
        center=0.0 if direction == "sufficiency" else 1.0,
    )


def _head_map(
    direction: str, layers: list[int], n_heads: int, head_norm: dict, n_pairs: int, method: str
) -> Heatmap:
    def mean(layer: int, h: int) -> float:
        v = [x for x in head_norm.get((direction, layer, h), []) if math.isfinite(x)]
        return sum(v) / len(v) if v else math.nan

    return Heatmap(
        name=f"heads_{direction}",
        title=f"head patching (all positions), {direction} ({DIRECTION_TEXT[direction]}), "
        f"mean of {n_pairs} pair(s)",
        values=[[mean(layer, h) for h in range(n_heads)] for layer in layers],
        rows=[str(x) for x in layers],
        cols=[str(h) for h in range(n_heads)],
        ylabel="layer",
        xlabel="head",
        label="normalized",
        center=0.0 if direction == "sufficiency" else 1.0,
        note="blank cells: not re-checked exactly (outside the attribution top-k)"
        if method == "attribution"
        else "",
    )
