"""The probe section of ``everybit demo``: the three seed studies' headline plots on SmolLM2-135M-Instruct.

Each shipped config, cut down so that the section runs in well under a minute on two cores:

- transplant_yesno with two of its questions, attention/MLP outputs and heads (no residual stream);
- patch_ampm with its first pair, residual stream only, clean -> corrupt;
- ablate_seashells on layer 29 only.

Skipped (not failed) when the ml extra or the offline SmolLM2 is missing. Everything shown is measured in
this run.
"""

from __future__ import annotations

import math
from typing import Any

from everybit.common.report import Chart, Section, Series, Table

TOP = 8


def _transplant_chart(result: Any) -> tuple[Chart, str]:
    """The components that move the Yes/No margin most, either way."""
    ranked = [r for r in result.tables["ranking"] if r["target"] == "Yes - No"]
    ranked.sort(key=lambda r: -abs(r["mean_delta"]))
    top = ranked[:TOP]
    chart = Chart(
        "transplant: largest moves of log P(Yes) - log P(No)",
        [Series("Δ margin", [r["label"] for r in top], [r["mean_delta"] for r in top])],
        kind="bar",
        ylabel="Δ[log P(Yes) - log P(No)]",
    )
    return chart, f"{top[0]['label']} {top[0]['mean_delta']:+.2f}"


def _patch_chart(result: Any, pair: Any, tokens: list[str]) -> tuple[Chart, str]:
    """Normalized metric per layer at the positions that carry the a.m./p.m. difference at some layer."""
    rows = [
        r
        for r in result.tables["patch"]
        if r["pair"] == pair.name and r["measure"] == "normalized" and r["direction"] == "sufficiency"
    ]
    by_pos: dict[int, dict[int, float]] = {}
    for r in rows:
        by_pos.setdefault(r["position"], {})[r["layer"]] = r["value"]
    keep = [p for p, v in sorted(by_pos.items()) if max(v.values()) >= 0.5]
    series = [
        Series(f"{p} {tokens[p]!r}", sorted(by_pos[p]), [by_pos[p][k] for k in sorted(by_pos[p])])
        for p in keep
    ]
    last = by_pos[max(by_pos)]
    arrive = next((k for k in sorted(last) if last[k] >= 0.5), math.nan)
    chart = Chart(
        "patch: a.m. residual written into the p.m. run, per position",
        series,
        kind="line",
        xlabel="layer",
        ylabel="normalized (1 = clean behaviour)",
    )
    return chart, f"layer {arrive}"


def _ablate_chart(result: Any) -> tuple[Chart, str]:
    rows = sorted(result.tables["ablate"], key=lambda r: -abs(r["delta_p"]))[:TOP]
    flips = sum(r["flipped"] for r in result.tables["ablate"])
    chart = Chart(
        f"ablate: layer {rows[0]['layer']} neurons moving P({result.meta['target']!r}) most",
        [Series("ΔP", [r["label"] for r in rows], [r["delta_p"] for r in rows])],
        kind="bar",
        ylabel="ΔP(target)",
    )
    return chart, f"{flips} flip(s), largest |ΔP| {abs(rows[0]['delta_p']):.3f}"


def demo(ctx: Any) -> Section:
    from everybit.probe import config as configs
    from everybit.probe.interventions import Engine
    from everybit.probe.models import load_model
    from everybit.probe.studies import Context, default_model, run_study

    lm = load_model(default_model())
    run = Context(lm, Engine(lm), quiet=ctx.quiet)

    t_cfg = configs.load("transplant_yesno")
    t_cfg.sources = [t_cfg.sources[0], t_cfg.sources[3]]  # one true, one false question
    t_cfg.components = ["attn_out", "mlp_out", "head"]
    transplant = run_study(t_cfg, run)

    p_cfg = configs.load("patch_ampm")
    p_cfg.pairs, p_cfg.components, p_cfg.directions = p_cfg.pairs[:1], ["resid_pre"], ["sufficiency"]
    patch = run_study(p_cfg, run)
    tokens = run.tokens(run.encode(p_cfg.pairs[0].clean))

    a_cfg = configs.load("ablate_seashells")
    a_cfg.layers = (29,)
    ablate = run_study(a_cfg, run)

    charts, found = [], []
    for chart, headline in (
        _transplant_chart(transplant),
        _patch_chart(patch, p_cfg.pairs[0], tokens),
        _ablate_chart(ablate),
    ):
        charts.append(chart)
        found.append(headline)
    rho = [s["spearman"] for s in transplant.meta["spearman"] if s["goal"] == "Yes - No"]
    runs = {r["run"]: r["logit_diff"] for r in patch.tables["runs"]}
    table = Table(
        ["study", "finding"],
        [
            ["transplant", f"largest push on the Yes/No margin: {found[0]}"],
            [
                "transplant",
                f"attribution vs exact head ranking, Spearman {min(rho):.3f} (worst of 2 questions)",
            ],
            [
                "patch",
                f"logit diff ' morning' - ' evening': clean {runs['clean']:+.2f}, corrupt "
                f"{runs['corrupt']:+.2f}; the last position restores half of it from {found[1]}",
            ],
            ["ablate", f"layer 29, 1,536 neurons zeroed one at a time: {found[2]}"],
        ],
        title="Headlines (SmolLM2-135M-Instruct)",
    )
    return Section(
        "probe",
        text="The seed's three studies on SmolLM2-135M-Instruct, cut down for speed; the full runs and what "
        "they found are in docs/studies.md (everybit probe transplant|patch|ablate --config NAME).",
        headline=[
            ("am->pm info reaches the last position", found[1]),
            ("attribution Spearman (heads)", f"{min(rho):.2f}"),
        ],
        tables=[table],
        charts=charts,
    )
