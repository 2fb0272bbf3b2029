"""tokenadapt: every initialisation method, SmolLM2-135M given a supertok and a standard BPE 32k tokenizer.

Targets come from bench.data.adaptation_tokenizers (trained on 50 MB of debtext English + 20 MB of stdlib
code, SmolLM2's special tokens kept); held-out English and code are slices of the tokenizer benchmark's
held-out files (blocks disjoint from the tokenizers' training text). The metric is corpus bits per byte
(tokenizer independent); the paper's mean-of-sample perplexity ratio and its median are reported next to
it. One cold transplant (hybrid, empty embedding cache) runs through the CLI in its own process for wall time
and peak RSS; the others run in this process and share the embedding cache. Also writes tokenadapt-bpb.png
and tokenadapt-bpb.html.
"""

from __future__ import annotations

import html
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, harness
from bench.harness import TIME, Report, run_measured

EVAL_CHARS = 16_000  # per domain: ~4k tokens, the same text for every model
CALIBRATION_CHARS = 3_000  # per domain, from the tokenizers' training text (disjoint from the held-out text)
QUICK_CHARS = 3_000
BASELINES = ("random", "mean", "subtoken-mean")
ABLATIONS = (  # (label, option overrides) for hybrid on the supertok target
    ("w=0.1", {"global_weight": 0.1}),
    ("w=0.5", {"global_weight": 0.5}),
    ("T=0.3", {"temperature": 0.3}),
    ("T=1.0", {"temperature": 1.0}),
    ("k=1", {"top_k": 1}),
    ("k=10", {"top_k": 10}),
)
TARGET_SECONDS = 600
TARGET_RSS = 6 << 30


def _held_texts(chars: int, split: str = "held") -> dict[str, str]:
    """`chars` of each domain from the middle of the held-out (or training) files, whole lines."""
    corpora = data.tokenizer_corpora()
    texts = {}
    for key, domain in ((f"{split}-en", "english"), (f"{split}-code", "code")):
        full = corpora[key].read_text()
        start = full.index("\n", len(full) // 3) + 1
        end = full.index("\n", start + chars) + 1
        texts[domain] = full[start:end]
    return texts


def _cold_transplant(model_dir: Path, tok_dir: Path, work: Path) -> dict[str, Any]:
    """The CLI, hybrid, with an empty embedding cache: what a first transplant costs."""
    env_cache = work / "cold-cache"
    argv = [
        sys.executable,
        "-c",
        "from everybit.cli import main; main()",
        "tokenadapt",
        "transplant",
        "-q",
        "--model",
        str(model_dir),
        "--tokenizer",
        str(tok_dir),
        "--out",
        str(work / "cold"),
        "--method",
        "hybrid",
    ]
    old = os.environ.get("EVERYBIT_CACHE")
    os.environ["EVERYBIT_CACHE"] = str(env_cache)
    try:
        sample = run_measured(argv, work / "cold.log")
    finally:
        if old is None:
            os.environ.pop("EVERYBIT_CACHE")
        else:
            os.environ["EVERYBIT_CACHE"] = old
    from tokenizers import Tokenizer

    new_vocab = Tokenizer.from_file(str(work / "cold" / "tokenizer.json")).get_vocab_size()
    shutil.rmtree(work / "cold", ignore_errors=True)
    return {"seconds": sample.seconds, "peak_rss": sample.peak_rss, "new_vocab": new_vocab}


def _evaluate(model: Any, tok: Any, texts: dict[str, str], label: str) -> dict[str, Any]:
    from everybit.tokenadapt.evaluate import score

    return {d: score(model, tok, t, label, d) for d, t in texts.items()}


def _adapted(
    model_dir: Path, tok_dir: Path, method: str, opts: Any, embedder: Any, calibration: str
) -> tuple[Any, Any, Any, float]:
    from everybit.tokenadapt.models import load
    from everybit.tokenadapt.transplant import load_new_tokenizer, transplant

    model, old_tok = load(model_dir)
    new_tok = load_new_tokenizer(tok_dir)
    start = time.perf_counter()
    report = transplant(model, old_tok, new_tok, method, opts, embedder, calibration_text=calibration)
    return model, new_tok, report, time.perf_counter() - start


def _bpb(runs: list[dict], target: str, method: str, domain: str) -> float:
    run = next(r for r in runs if r["target"] == target and r["method"] == method)
    return run["scores"][domain].bits_per_byte


def run(quick: bool = False) -> Report:
    from everybit.tokenadapt import methods
    from everybit.tokenadapt.embedder import Embedder
    from everybit.tokenadapt.models import load

    if not shutil.which(TIME):
        raise data.DataUnavailable("tokenadapt benchmark: GNU time not found; run `apt-get install -y time`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["EVERYBIT_NO_PROGRESS"] = "1"
    model_dir = data.smollm2_folder()
    targets = data.adaptation_tokenizers()
    texts = _held_texts(QUICK_CHARS if quick else EVAL_CHARS)
    calibration = "".join(_held_texts(CALIBRATION_CHARS, "train").values())
    report = Report(
        "tokenadapt", "tokenadapt: initialising new-token embeddings of SmolLM2-135M (bits per byte)"
    )
    for label, path in [("SmolLM2-135M-Instruct", model_dir), *targets.items()]:
        meta = data.provenance(path)
        report.add_data(
            label,
            path / ("model.safetensors" if path == model_dir else "tokenizer.json"),
            meta["source"],
            meta.get("versions"),
        )
    base_model, base_tok = load(model_dir)
    base = _evaluate(base_model, base_tok, texts, "base")
    del base_model
    embedder = Embedder()
    plan = [(t, m, methods.Options(), m) for t in targets for m in methods.METHODS]
    if not quick:
        plan += [
            ("supertok-32k", "hybrid", methods.Options(**kw), f"hybrid {label}") for label, kw in ABLATIONS
        ]
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-tokenadapt-") as tmp:
        cold = _cold_transplant(model_dir, targets["supertok-32k"], Path(tmp))
        (Path(tmp) / "gemma3").mkdir()  # the large-vocabulary case: every one of 262k old tokens embedded
        large = _cold_transplant(data.gemma3_folder(), targets["supertok-32k"], Path(tmp) / "gemma3")
        for target, method, opts, label in plan:
            model, tok, rep, seconds = _adapted(
                model_dir, targets[target], method, opts, embedder, calibration
            )
            runs.append(
                {
                    "target": target,
                    "method": label,
                    "seconds": seconds,
                    "shared": rep.shared,
                    "estimated": rep.estimated,
                    "coef": rep.coefficients,
                    "calibration": rep.calibration,
                    "scores": _evaluate(model, tok, texts, label),
                }
            )
            del model
    _tables(report, runs, base, cold)
    _headlines(report, runs, base, cold, list(targets), list(texts))
    _large_vocabulary(report, large, targets["supertok-32k"])
    return report


def _large_vocabulary(report: Report, cold: dict, tok_dir: Path) -> None:
    """A cold transplant into Gemma 3 270M (262,144 tokens, ~6,200 `<unusedN>` placeholder specials)."""
    from tokenizers import Tokenizer

    given = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab_size()
    report.add_table(
        "Large vocabulary: supertok-32k into Gemma 3 270M (vocabulary 262,144), cold, CLI, hybrid",
        ["seconds", "peak RSS GiB", "new tokenizer as given", "new tokenizer after transplant"],
        [[round(cold["seconds"]), round(cold["peak_rss"] / 2**30, 2), given, cold["new_vocab"]]],
        note="Old-tokenizer specials are carried only when a role or the chat template uses them, so "
        "Gemma's <unusedN> placeholders stay out of the new tokenizer.",
    )
    report.add_limit(
        "cold transplant into a 262k-vocabulary model (Gemma 3 270M, hybrid)",
        round(cold["seconds"]),
        TARGET_SECONDS,
        "s",
    )
    report.add_limit(
        "cold transplant into a 262k-vocabulary model: peak RSS",
        round(cold["peak_rss"] / 2**30, 2),
        TARGET_RSS / 2**30,
        "GiB",
    )


def _tables(report: Report, runs: list[dict], base: dict, cold: dict) -> None:
    cols = [
        "target",
        "method",
        *[f"{d} bpb" for d in base],
        *[f"{d} mean-ppl ratio" for d in base],
        *[f"{d} median-ppl ratio" for d in base],
        "transplant s",
    ]
    rows = [
        [
            "(base model)",
            "SmolLM2 own tokenizer",
            *[s.bits_per_byte for s in base.values()],
            *[1.0] * len(base),
            *[1.0] * len(base),
            None,
        ]
    ]
    for r in runs:
        s = r["scores"]
        rows.append(
            [
                r["target"],
                r["method"],
                *[s[d].bits_per_byte for d in base],
                *[s[d].mean_sample_ppl / base[d].mean_sample_ppl for d in base],
                *[s[d].median_sample_ppl / base[d].median_sample_ppl for d in base],
                r["seconds"],
            ]
        )
    png = _chart(runs, base)
    report.add_table(
        "Bits per byte on held-out text (lower is better), and the paper's perplexity ratios",
        cols,
        rows,
        note="mean-ppl ratio: mean over ~2,000-character samples of each sample's perplexity, over the base "
        "model's (the paper's metric; per-token perplexities depend on the tokenizer, so only bits per byte "
        f"compares models fairly); median-ppl ratio: the same with medians. Chart: ![bpb]({png}) "
        "(interactive: tokenadapt-bpb.html).",
    )
    shared = {r["target"]: (r["shared"], r["estimated"]) for r in runs}
    report.add_table(
        "Targets",
        ["target", "tokens shared with SmolLM2 (copied)", "tokens estimated"],
        [[t, s, e] for t, (s, e) in shared.items()],
    )
    fitted = [[r["target"], *[round(c, 3) for c in r["coef"]]] for r in runs if r["method"] == "fitted"]
    report.add_table(
        "fitted (ours): coefficients learned on SmolLM2's own vocabulary",
        ["target", "local", "piece mean", "first piece", "last piece", "global", "ridge map"],
        fitted,
    )
    chosen = [
        [r["target"], c["w"], c["T"], c["bits_per_byte"]]
        for r in runs
        if r["calibration"]
        for c in r["calibration"]
        if c.get("chosen")
    ]
    report.add_table(
        "calibrated (ours): the hybrid member chosen on calibration text (training-side slices)",
        ["target", "w", "T", "calibration bpb"],
        chosen,
    )
    report.add_table(
        "Cold transplant through the CLI (hybrid, supertok 32k, empty embedding cache, GNU time)",
        ["seconds", "peak RSS GiB"],
        [[cold["seconds"], cold["peak_rss"] / 2**30]],
    )


def _headlines(
    report: Report, runs: list[dict], base: dict, cold: dict, targets: list[str], domains: list[str]
) -> None:
    for target in targets:
        worst_margin = min(
            min(_bpb(runs, target, b, d) for b in BASELINES) - _bpb(runs, target, "hybrid", d)
            for d in domains
        )
        best_base = min((_bpb(runs, target, b, d), b) for b in BASELINES for d in domains[:1])
        report.add_headline(
            f"{target}: hybrid vs best of random/mean/subtoken-mean, English bpb",
            round(_bpb(runs, target, "hybrid", domains[0]), 3),
            best_base[1],
            round(best_base[0], 3),
            target="lower on every domain",
            met=worst_margin > 0,
        )
        for d in domains:
            ours, hyb = _bpb(runs, target, "calibrated", d), _bpb(runs, target, "hybrid", d)
            closed = (hyb - ours) / (hyb - base[d].bits_per_byte)
            report.add_headline(
                f"{target}, {d}: calibrated (ours) vs hybrid bpb ({closed:.0%} of hybrid's gap to "
                f"the base {base[d].bits_per_byte:.3f} closed)",
                round(ours, 3),
                "hybrid",
                round(hyb, 3),
                ratio=ours / hyb,
                target="lower",
                met=ours < hyb,
            )
    report.add_limit(
        "cold transplant of a 32k tokenizer (hybrid, embeddings computed)",
        round(cold["seconds"]),
        TARGET_SECONDS,
        "s",
    )
    report.add_limit(
        "cold transplant peak RSS", round(cold["peak_rss"] / 2**30, 2), TARGET_RSS / 2**30, "GiB"
    )


def _chart(runs: list[dict], base: dict) -> str:
    from everybit.common.report import Chart, Series

    cats = [f"{t} {d}" for t in dict.fromkeys(r["target"] for r in runs) for d in base]
    names = [m for m in dict.fromkeys(r["method"] for r in runs) if not m.startswith("hybrid ")]
    series = [Series("base (own tokenizer)", cats, [base[c.split()[-1]].bits_per_byte for c in cats])]
    for name in names:
        ys = [_bpb(runs, c.split()[0], name, c.split()[-1]) for c in cats]
        series.append(Series(name, cats, ys))
    chart = Chart(
        "SmolLM2-135M, held-out bits per byte by initialisation (lower is better)",
        series,
        ylabel="bits / byte",
    )
    chart.save_png(harness.RESULTS_DIR / "tokenadapt-bpb.png")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tokenadapt bits per byte</title>'
        f"</head><body>{chart.to_svg()}<p>{html.escape(chart.title)}</p></body></html>\n"
    )
    (harness.RESULTS_DIR / "tokenadapt-bpb.html").write_text(page)
    return "tokenadapt-bpb.png"
