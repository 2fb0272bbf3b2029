"""tokenadapt: every initialisation method, ours, OMP and mergekit-tokensurgeon, with and without a donor.

*No donor*: SmolLM2-135M given a supertok and a standard BPE 32k tokenizer (bench.data.adaptation_tokenizers:
50 MB of debtext English + 20 MB of stdlib code, SmolLM2's special tokens kept); no model uses them, so OMP
fits in the external embedder's space, and mergekit-tokensurgeon gets that same space as its donor (a
one-layer model folder whose embeddings are the embedder's vectors of the new tokens). *Donor exists*: Gemma 3
270M given SmolLM2's tokenizer with SmolLM2 as the donor (the reverse is not run: see LARGE_OMP_NOTE).
Held-out English and code are slices of the tokenizer benchmark's held-out files; the metric is corpus bits
per byte (tokenizer independent) with bootstrap 95% intervals over ~2,000-character samples.
mergekit-tokensurgeon runs in its own process; its default in mergekit 0.1.5 is `--approximation-method omp
--k 64` (read from its --help in this run), so one run serves both. Cold transplants (empty embedding cache)
are not rerun here; docs/tokenadapt.md has their figures. Also writes tokenadapt-bpb.png and .html.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, harness
from bench.harness import TIME, Report, run_measured

EVAL_CHARS = 16_000  # per domain: 8 samples of ~2,000 characters, the same text for every model
CALIBRATION_CHARS = 3_000  # per domain, from the tokenizers' training text (disjoint from the held-out text)
QUICK_CHARS = 3_000
TOKENSURGEON = "mergekit-tokensurgeon"
WARM_SECONDS = 30  # issue target for any method, embeddings cached
LARGE_OMP_NOTE = (
    "The reverse donor cell, SmolLM2 given Gemma 3's tokenizer, is not run: it has 216k tokens to estimate "
    "against a 46k-token shared dictionary in Gemma's 640 dimensions, so OMP with k 64 is 216k x 46k x 640 x "
    "64 x 2 = 0.8 PFLOP, about 3 hours on these 2 cores for mergekit and for ours alike, and every "
    "other method there searches neighbours for 216k tokens and scores a 262k vocabulary (about 10 minutes "
    "a method here). Gemma 3 given SmolLM2's tokenizer runs the reference methods only (subtoken-mean, "
    "global, hybrid, omp, calibrated) to fit the session."
)


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


def _evaluate(model: Any, tok: Any, texts: dict[str, str], label: str) -> dict[str, Any]:
    from everybit.tokenadapt.evaluate import score

    return {d: score(model, tok, t, label, d) for d, t in texts.items()}


def _adapted(
    model_dir: Path,
    tok_dir: Path,
    method: str,
    opts: Any,
    embedder: Any,
    calibration: str,
    donor: tuple | None = None,
) -> tuple[Any, Any, Any, float]:
    from everybit.tokenadapt.models import load
    from everybit.tokenadapt.transplant import load_new_tokenizer, transplant

    model, old_tok = load(model_dir)
    new_tok = load_new_tokenizer(tok_dir)
    start = time.perf_counter()
    report = transplant(
        model, old_tok, new_tok, method, opts, embedder, calibration_text=calibration, donor=donor
    )
    return model, new_tok, report, time.perf_counter() - start


def _external_donor(tok_dir: Path, embedder: Any, out: Path) -> Path:
    """A model folder mergekit-tokensurgeon can take as its donor when no model uses the new tokenizer: the
    tokenizer, and as input embeddings the external embedder's vectors of every token (the space our OMP
    fits in then). Only the embedding is written: tokensurgeon reads nothing else of a donor."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig

    from everybit.tokenadapt.surface import surface

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    keys = surface(tok.backend_tokenizer)
    vectors = embedder.encode([keys.text(i) for i in range(len(keys.keys))], "embedding donor tokens")
    config = LlamaConfig(
        vocab_size=len(vectors),
        hidden_size=vectors.shape[1],
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    config.architectures = ["LlamaForCausalLM"]
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    save_file(
        {"model.embed_tokens.weight": torch.from_numpy(vectors).contiguous()}, out / "model.safetensors"
    )
    tok.save_pretrained(out)
    return out


def tokensurgeon_defaults() -> str:
    """mergekit-tokensurgeon's default approximation method and k, read from its --help."""
    import re
    import subprocess

    text = subprocess.run(
        [TOKENSURGEON, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "300"},
    ).stdout
    method = re.search(r"--approximation-method.*?\[default:\s*(\w+)\]", text, re.S)
    k = re.search(r"--k INTEGER.*?\[default:\s*(\d+)\]", text, re.S)
    return f"{method.group(1) if method else '?'}, k {k.group(1) if k else '?'}"


def _tokensurgeon(base: Path, donor: Path, work: Path) -> tuple[Any, Any, float]:
    """(model, tokenizer, seconds): mergekit-tokensurgeon with its defaults, in its own process."""
    from everybit.tokenadapt.models import load

    out = work / "tokensurgeon"
    shutil.rmtree(out, ignore_errors=True)
    argv = [TOKENSURGEON, str(base), str(donor), str(out), "--quiet", "--no-write-model-card"]
    sample = run_measured(argv, work / "tokensurgeon.log", peak_rss=False)
    model, tok = load(out)
    return model, tok, sample.seconds


def _cell(
    runs: list[dict],
    scenario: str,
    base: str,
    target: str,
    label: str,
    made: tuple[Any, Any, Any, float],
    texts: dict[str, str],
) -> None:
    model, tok, rep, seconds = made
    runs.append(
        {
            "scenario": scenario,
            "base": base,
            "target": target,
            "method": label,
            "seconds": seconds,
            "shared": getattr(rep, "shared", None),
            "estimated": getattr(rep, "estimated", None),
            "coef": getattr(rep, "coefficients", None),
            "calibration": getattr(rep, "calibration", None),
            "scores": _evaluate(model, tok, texts, label),
        }
    )


def _scenario(
    runs: list[dict],
    scenario: str,
    base: tuple[str, Path],
    target: tuple[str, Path],
    donor: tuple | None,
    methods_run: list[tuple[str, Any, str]],
    embedder: Any,
    texts: dict[str, str],
    calibration: str,
    work: Path,
    surgeon_donor: Path | None,
) -> None:
    """Every method of methods_run (method, options, label) for one (base model, new tokenizer), and
    mergekit-tokensurgeon when surgeon_donor is given."""
    for method, opts, label in methods_run:
        made = _adapted(base[1], target[1], method, opts, embedder, calibration, donor)
        _cell(runs, scenario, base[0], target[0], label, made, texts)
        del made
    if surgeon_donor is not None:
        model, tok, seconds = _tokensurgeon(base[1], surgeon_donor, work)
        _cell(runs, scenario, base[0], target[0], "tokensurgeon", (model, tok, None, seconds), texts)
        shutil.rmtree(work / "tokensurgeon", ignore_errors=True)


def _bpb(runs: list[dict], target: str, method: str, domain: str, base: str = "SmolLM2") -> float:
    run = next(r for r in runs if r["target"] == target and r["method"] == method and r["base"] == base)
    return run["scores"][domain].bits_per_byte


def run(quick: bool = False) -> Report:
    from everybit.tokenadapt import methods
    from everybit.tokenadapt.embedder import Embedder
    from everybit.tokenadapt.models import load

    if not shutil.which(TIME):
        raise data.DataUnavailable("tokenadapt benchmark: GNU time not found; run `apt-get install -y time`")
    if not shutil.which(TOKENSURGEON):
        raise data.DataUnavailable(
            "tokenadapt benchmark: mergekit-tokensurgeon not found; run `pip install mergekit==0.1.5`"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["EVERYBIT_NO_PROGRESS"] = "1"
    smol_dir, gemma_dir = data.smollm2_folder(), data.gemma3_folder()
    targets = data.adaptation_tokenizers()
    texts = _held_texts(QUICK_CHARS if quick else EVAL_CHARS)
    calibration = "".join(_held_texts(CALIBRATION_CHARS, "train").values())
    report = Report(
        "tokenadapt",
        "tokenadapt: new-token embeddings for SmolLM2-135M and Gemma 3 270M, ours vs OMP and mergekit "
        "tokensurgeon (bits per byte)",
    )
    for label, path in [
        ("SmolLM2-135M-Instruct", smol_dir),
        ("Gemma 3 270M", gemma_dir),
        *targets.items(),
    ]:
        meta = data.provenance(path)
        report.add_data(
            label,
            path / ("model.safetensors" if path in (smol_dir, gemma_dir) else "tokenizer.json"),
            meta["source"],
            meta.get("versions"),
        )
    saved = data.cache_dir() / ("tokenadapt-runs-quick.pkl" if quick else "tokenadapt-runs.pkl")
    if os.environ.get("BENCH_REUSE_RUNS") and saved.is_file():  # redraw the report from the last run
        runs, bases, *_ = pickle.loads(saved.read_bytes())
        return _write(report, runs, bases, list(texts))
    bases = {}
    for name, folder in (("SmolLM2", smol_dir), ("Gemma 3", gemma_dir)):
        model, tok = load(folder)
        bases[name] = _evaluate(model, tok, texts, name)
        del model
    embedder = Embedder()
    every = [(m, methods.Options(), m) for m in methods.METHODS]
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-tokenadapt-") as tmp:
        work = Path(tmp)
        for target, tok_dir in targets.items():
            donor_dir = _external_donor(tok_dir, embedder, work / f"donor-{target}")
            _scenario(
                runs,
                "no donor",
                ("SmolLM2", smol_dir),
                (target, tok_dir),
                None,
                every,
                embedder,
                texts,
                calibration,
                work,
                donor_dir,
            )
        smol = (*load(smol_dir), "SmolLM2")
        # Gemma scores every text with a 262k vocabulary: the reference methods only, to fit the session
        gemma_plan = [
            (m, methods.Options(), m) for m in ("subtoken-mean", "global", "hybrid", "omp", "calibrated")
        ]
        _scenario(
            runs,
            "donor",
            ("Gemma 3", gemma_dir),
            ("SmolLM2 tokenizer", smol_dir),
            smol,
            gemma_plan,
            embedder,
            texts,
            calibration,
            work,
            smol_dir,
        )
        del smol
    saved.write_bytes(pickle.dumps((runs, bases, None, None)))  # the last two: old cold-transplant slots
    return _write(report, runs, bases, list(texts))


def _write(report: Report, runs: list, bases: dict, domains: list[str]) -> Report:
    _tables(report, runs, bases)
    _headlines(report, runs, domains)
    return report


def _cells(runs: list[dict]) -> list[tuple[str, str, str]]:
    """(scenario, base, target) in run order."""
    return list(dict.fromkeys((r["scenario"], r["base"], r["target"]) for r in runs))


def _tables(report: Report, runs: list[dict], bases: dict) -> None:
    domains = list(next(iter(bases.values())))
    cols = ["scenario", "model", "new tokenizer", "method"]
    for d in domains:
        cols += [f"{d} bpb", f"{d} 95% CI"]
    cols += ["english tokens/byte", "transplant s"]

    def bpb_cells(scores: dict) -> list:
        out: list = []
        for d in domains:
            lo, hi = scores[d].interval()
            out += [scores[d].bits_per_byte, f"{lo:.3f}-{hi:.3f}"]
        return out

    def per_byte(score: Any) -> float:
        return score.tokens / score.bytes

    rows = [
        ["(base)", name, "own", "-", *bpb_cells(s), per_byte(s["english"]), None] for name, s in bases.items()
    ]
    rows += [
        [
            r["scenario"],
            r["base"],
            r["target"],
            r["method"],
            *bpb_cells(r["scores"]),
            per_byte(r["scores"]["english"]),
            r["seconds"],
        ]
        for r in runs
    ]
    png = _chart(runs, bases)
    report.add_table(
        "Bits per byte on held-out text (lower is better), bootstrap 95% intervals over samples",
        cols,
        rows,
        note="calibrated is ours; omp is our implementation of tokensurgeon's method (same atoms and "
        "coefficients as mergekit's on the same inputs, tests/tokenadapt/test_omp.py, but repeated vectors "
        "merged into one atom); tokensurgeon is mergekit-tokensurgeon itself "
        f"(mergekit {_version('mergekit')}, defaults: {tokensurgeon_defaults()}). No donor: the donor space "
        "is the external embedder's (all-MiniLM-L6-v2), for omp, calibrated and tokensurgeon alike. "
        f"{LARGE_OMP_NOTE} Chart: ![bpb]({png}) (interactive: tokenadapt-bpb.html).",
    )
    ratios = [
        [
            r["scenario"],
            r["base"],
            r["target"],
            r["method"],
            *[r["scores"][d].mean_sample_ppl / bases[r["base"]][d].mean_sample_ppl for d in domains],
            *[r["scores"][d].median_sample_ppl / bases[r["base"]][d].median_sample_ppl for d in domains],
        ]
        for r in runs
    ]
    report.add_table(
        "The paper's metric: mean (and median) over samples of each sample's perplexity, over the base's",
        [
            "scenario",
            "model",
            "new tokenizer",
            "method",
            *[f"{d} mean-ppl ratio" for d in domains],
            *[f"{d} median-ppl ratio" for d in domains],
        ],
        ratios,
        note="Per-token perplexities depend on the tokenizer, so only bits per byte compares models fairly.",
    )
    shared = {
        (r["base"], r["target"]): (r["shared"], r["estimated"]) for r in runs if r["shared"] is not None
    }
    report.add_table(
        "Targets",
        ["model", "new tokenizer", "tokens shared with the model's (copied)", "tokens estimated"],
        [[b, t, s, e] for (b, t), (s, e) in shared.items()],
    )
    fitted = [
        [r["base"], r["target"], *[round(c, 3) for c in r["coef"]]] for r in runs if r["method"] == "fitted"
    ]
    report.add_table(
        "fitted (ours, experimental): coefficients learned on the model's own vocabulary",
        ["model", "new tokenizer", "local", "piece mean", "first piece", "last piece", "global", "ridge map"],
        fitted,
    )
    chosen = [
        [r["base"], r["target"], c["w"], c["T"], c.get("omp", 0.0), c["bits_per_byte"]]
        for r in runs
        if r["calibration"]
        for c in r["calibration"]
        if c.get("chosen")
    ]
    report.add_table(
        "calibrated (ours): the member chosen on calibration text (training-side slices)",
        ["model", "new tokenizer", "w", "T", "OMP share", "calibration bpb"],
        chosen,
        note="Hybrid members over w x T first; then (1 - share) x the best of them + share x OMP.",
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _headlines(report: Report, runs: list[dict], domains: list[str]) -> None:
    """Ours (calibrated) against tokensurgeon and hybrid on every (scenario, model, tokenizer, domain)."""
    for scenario, base, target in _cells(runs):
        for d in domains:
            ours = _bpb(runs, target, "calibrated", d, base)
            rivals = {
                m: _bpb(runs, target, m, d, base)
                for m in ("tokensurgeon", "hybrid")
                if any(r["method"] == m and r["target"] == target and r["base"] == base for r in runs)
            }
            best = min(rivals, key=rivals.__getitem__)
            missing = "" if "tokensurgeon" in rivals else " (tokensurgeon not run, see the table note)"
            report.add_headline(
                f"{scenario}: {base} + {target}, {d}: calibrated (ours) vs the better of "
                f"{' / '.join(rivals)}{missing}, bpb",
                round(ours, 3),
                best,
                round(rivals[best], 3),
                ratio=ours / rivals[best],
                target="lower than both",
                met=all(ours < v for v in rivals.values()),
            )
    for method in ("omp", "hybrid", "calibrated"):
        seconds = max(
            r["seconds"]
            for r in runs
            if r["method"] == method and r["base"] == "SmolLM2" and r["scenario"] == "no donor"
        )
        report.add_limit(
            f"warm-cache transplant into SmolLM2, {method} (slowest 32k target, in process)",
            round(seconds, 1),
            WARM_SECONDS,
            "s",
        )


def _chart(runs: list[dict], bases: dict) -> str:
    from everybit.common.report import Chart, Series

    shown = ("subtoken-mean", "hybrid", "omp", "tokensurgeon", "calibrated")
    cats = [f"{b} + {t} {d}" for _, b, t in _cells(runs) for d in next(iter(bases.values()))]

    def value(cat: str, method: str) -> float:
        head, domain = cat.rsplit(" ", 1)
        base, target = head.split(" + ")
        found = [r for r in runs if r["base"] == base and r["target"] == target and r["method"] == method]
        return found[0]["scores"][domain].bits_per_byte if found else float("nan")

    series = [
        Series(
            "base model, own tokenizer",
            cats,
            [bases[c.split(" + ")[0]][c.rsplit(" ", 1)[1]].bits_per_byte for c in cats],
        )
    ]
    series += [Series(m, cats, [value(c, m) for c in cats]) for m in shown]
    chart = Chart(
        "Held-out bits per byte after a new tokenizer, by initialisation (lower is better)",
        series,
        ylabel="bits / byte",
    )
    return save_chart(chart, "tokenadapt-bpb")


def save_chart(chart: Any, stem: str) -> str:
    """STEM.png and an STEM.html page with the chart's SVG in bench/results; returns the PNG's name."""
    chart.save_png(harness.RESULTS_DIR / f"{stem}.png")
    harness.chart_page(harness.RESULTS_DIR / f"{stem}.html", chart.title, chart)
    return f"{stem}.png"
