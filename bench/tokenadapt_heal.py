"""tokenadapt healing: held-out bits per byte of SmolLM2-135M with a new 32k tokenizer against CPU-minutes.

For each target (supertok-32k, bpe-32k) the candidate initialisations are transplanted and scored zero-shot on
the held-out English; the best three are healed (tokenadapt.heal, its default mode) on the tokenizers'
training text (debtext English + stdlib code, disjoint from the held-out text), each curve scored on the same
held-out English and code as bench/tokenadapt.py. The x axis is the process CPU time spent in training steps
(both cores count; evaluation excluded). Budgets: HEAD_MINUTES for the best initialisation of supertok-32k
(the target the issue measures), SIDE_MINUTES for the others: a full 60-minute curve for all six would need
six hours of this 2-core machine. Tokens per byte come from the same held-out text: a superword tokenizer's
point is fewer forward passes per byte at equal quality.
"""

from __future__ import annotations

import os
from typing import Any

from bench import data
from bench.harness import Report
from bench.tokenadapt import CALIBRATION_CHARS, EVAL_CHARS, QUICK_CHARS, _held_texts, save_chart

INITS = ("hybrid", "global", "omp", "calibrated")  # the zero-shot leaders of bench/tokenadapt.py
HEAD_MINUTES = 60.0  # supertok-32k from its best initialisation: the target is after <= 60
SIDE_MINUTES = {"supertok-32k": 2.0, "bpe-32k": 2.0}  # the other curves: which start heals fastest
BPE_HEAD_MINUTES = 6.0  # bpe-32k from its best initialisation
TARGET_RATIO = 1.25  # healed English bpb within 1.25x of the base model's
TRAIN_CHARS = 12_000_000  # healing text: far more than 60 CPU-minutes can read (~200k tokens)
QUICK_MINUTES = 0.5


def _train_text(chars: int) -> str:
    corpora = data.tokenizer_corpora()
    english = corpora["train-en"].read_text()[: chars * 4 // 5]
    code = corpora["train-code"].read_text()[: chars // 5]
    return english[: english.rfind("\n") + 1] + code[: code.rfind("\n") + 1]


def run(quick: bool = False) -> Report:
    from everybit.tokenadapt.embedder import Embedder
    from everybit.tokenadapt.evaluate import score
    from everybit.tokenadapt.heal import DEFAULT_MODE, heal
    from everybit.tokenadapt.methods import Options
    from everybit.tokenadapt.models import load
    from everybit.tokenadapt.transplant import load_new_tokenizer, transplant

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["EVERYBIT_NO_PROGRESS"] = "1"
    smol_dir = data.smollm2_folder()
    targets = data.adaptation_tokenizers()
    texts = _held_texts(QUICK_CHARS if quick else EVAL_CHARS)
    calibration = "".join(_held_texts(CALIBRATION_CHARS, "train").values())
    train = _train_text(200_000 if quick else TRAIN_CHARS)
    report = Report(
        "tokenadapt_heal",
        "tokenadapt healing: SmolLM2-135M with a new 32k tokenizer, bits per byte vs CPU-minutes",
    )
    report.add_data(
        "SmolLM2-135M-Instruct", smol_dir / "model.safetensors", data.provenance(smol_dir)["source"]
    )
    base_model, base_tok = load(smol_dir)
    base = {d: score(base_model, base_tok, t) for d, t in texts.items()}
    del base_model
    embedder = Embedder()
    zero, curves = [], []
    for target, tok_dir in targets.items():
        made = {}
        for init in INITS:
            model, old = load(smol_dir)
            new = load_new_tokenizer(tok_dir)
            rep = transplant(model, old, new, init, Options(), embedder, calibration_text=calibration)
            made[init] = (model, new, rep, score(model, new, texts["english"]).bits_per_byte)
            zero.append([target, init, made[init][3]])
        ranked = sorted(made, key=lambda m, made=made: made[m][3])[:3]
        for rank, init in enumerate(ranked):
            model, new, rep, _ = made[init]
            if quick:
                minutes = QUICK_MINUTES
            elif rank == 0:
                minutes = HEAD_MINUTES if target == "supertok-32k" else BPE_HEAD_MINUTES
            else:
                minutes = SIDE_MINUTES[target]
            points = heal(model, new, rep.estimated_ids, train, val_texts=texts, cpu_minutes=minutes)
            per_byte = {d: score(model, new, t).tokens / len(t.encode()) for d, t in texts.items()}
            curves.append({"target": target, "init": init, "points": points, "tokens_per_byte": per_byte})
        del made
    _report(report, base, texts, zero, curves, DEFAULT_MODE)
    return report


def _bpb(point: Any, domain: str) -> float:
    return point.val_bpb.get(domain, float("nan"))


def _report(report: Report, base: dict, texts: dict, zero: list, curves: list, mode: str) -> None:
    base_per_byte = {d: base[d].tokens / base[d].bytes for d in base}
    report.add_table(
        "Zero-shot English bits per byte of the candidate initialisations (the best three are healed)",
        ["target", "initialisation", "english bpb"],
        zero,
    )
    rows = []
    for c in curves:
        for p in c["points"]:
            rows.append(
                [
                    c["target"],
                    c["init"],
                    p.step,
                    p.tokens,
                    round(p.cpu_seconds / 60, 2),
                    round(p.wall_seconds / 60, 2),
                    *[_bpb(p, d) for d in texts],
                ]
            )
    png = _chart(curves, base)
    report.add_table(
        f"Healing curves (mode {mode!r}; held-out bits per byte; CPU-minutes of training, both cores)",
        ["target", "initialisation", "step", "tokens", "CPU-min", "wall min", *[f"{d} bpb" for d in texts]],
        rows,
        note="Base model (own tokenizer): "
        + ", ".join(f"{d} {base[d].bits_per_byte:.3f} bpb" for d in texts)
        + f". Chart: ![curves]({png}) (interactive: tokenadapt-heal.html).",
    )
    head = next(c for c in curves if c["target"] == "supertok-32k")
    last = head["points"][-1]
    en = _bpb(last, "english")
    report.add_headline(
        f"supertok-32k from {head['init']}, healed {last.cpu_seconds / 60:.0f} CPU-minutes: English bpb vs "
        f"the base model's (zero-shot {_bpb(head['points'][0], 'english'):.3f})",
        round(en, 3),
        "SmolLM2, own tokenizer",
        round(base["english"].bits_per_byte, 3),
        ratio=en / base["english"].bits_per_byte,
        target=f"<= {TARGET_RATIO}x",
        met=en <= TARGET_RATIO * base["english"].bits_per_byte,
    )
    saving = 1 - head["tokens_per_byte"]["english"] / base_per_byte["english"]
    report.add_table(
        "Tokens per byte on the held-out text (forward passes per byte)",
        ["tokenizer", *[f"{d} tokens/byte" for d in texts], "english saving vs SmolLM2's"],
        [["SmolLM2 (own)", *[base_per_byte[d] for d in texts], 0.0]]
        + [
            [
                t,
                *[c["tokens_per_byte"][d] for d in texts],
                1 - c["tokens_per_byte"]["english"] / base_per_byte["english"],
            ]
            for t, c in {c["target"]: c for c in curves}.items()
        ],
        note=f"With supertok-32k the model reads {saving:.0%} fewer tokens per English byte than SmolLM2 "
        "with its own tokenizer.",
    )


def _chart(curves: list, base: dict) -> str:
    from everybit.common.report import Chart, Series

    series = []
    for c in curves:
        pts = [p for p in c["points"] if p.val_bpb]
        series.append(
            Series(
                f"{c['target']} from {c['init']}",
                [p.cpu_seconds / 60 for p in pts],
                [_bpb(p, "english") for p in pts],
            )
        )
    span = max(max(s.x) for s in series)
    series.append(Series("SmolLM2, own tokenizer", [0, span], [base["english"].bits_per_byte] * 2))
    series.append(Series("1.25x the base", [0, span], [TARGET_RATIO * base["english"].bits_per_byte] * 2))
    chart = Chart(
        "Healing: held-out English bits per byte vs training CPU-minutes",
        series,
        kind="line",
        xlabel="CPU-minutes of training (2 cores)",
        ylabel="bits / byte",
    )
    return save_chart(chart, "tokenadapt-heal")
