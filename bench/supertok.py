"""supertok against standard BPE, SuperBPE and no-pre-tokenization BPE, trained on the same text.

Training text: a 50 MB English slice of debtext + 20 MB of CPython stdlib code (bench.data.tokenizer_corpora);
held-out text from the same sources but disjoint blocks (English, code) plus LaTeX math (PARI/GP manuals).
Every method is trained by the CLI in its own process (wall time and peak RSS from GNU time) at 8k and 32k;
SuperBPE also at three transition points (25%, 50%, 90% of the vocabulary) so the comparison is with its best.
Then: the supertok recipe ablation (chunk-length distributions, the seed's run filter and token cap) on a
10 MB slice, and the inference pre-token cap (speed and bytes/token of one tokenizer under several caps).
Also writes supertok-bytes.png/.html and supertok-ablation.png/.html.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import data, harness
from bench.harness import TIME, Report, run_measured

MB = data.MB
VOCABS = (8_000, 32_000)
TRANSITIONS = (0.25, 0.5, 0.9)  # SuperBPE stage-1 share of the vocabulary
HELD = ("held-en", "held-code", "held-math")
ABLATION_SHARE = 7  # the ablation trains on every 7th 64 KiB block of the training text (~10 MB)
ABLATION = (  # label, method, CLI options
    ("default", "supertok", []),
    ("first default 1-127", "supertok", ["--dist", "PREVIOUS"]),
    ("paper dist (normalized)", "supertok", ["--dist", "PAPER", "--normalize"]),
    ("seed code dist", "supertok", ["--dist", "SEED"]),
    (
        "seed-faithful (seed dist, runs>=7 dropped, tokens<=30 chars)",
        "supertok",
        ["--dist", "SEED", "--drop-runs", "7", "--max-token-chars", "30"],
    ),
    ("short 1-31", "supertok", ["--dist", "1-7:0.2,8-15:0.4,16-31:0.4"]),
    ("long 8-127", "supertok", ["--dist", "8-15:0.2,16-31:0.3,32-63:0.3,64-127:0.2"]),
    ("longest 32-255", "supertok", ["--dist", "32-63:0.3,64-127:0.3,128-255:0.4"]),
    ("default + runs>=7 dropped", "supertok", ["--drop-runs", "7"]),
    ("default + tokens<=30 chars", "supertok", ["--max-token-chars", "30"]),
    ("nopretok (whole lines)", "nopretok", []),
    ("bpe (baseline)", "bpe", []),
)
CAPS = (32, 64, 256, 1024, 4096, None)  # inference pre-token caps (None: no cap, no line split)
TARGET_GAIN = 1.12
TARGET_SPEED = 0.5
TARGET_TRAIN_S = 20 * 60
TARGET_RSS = 8 << 30


def _train(files: list[Path], out: Path, method: str, vocab: int, extra: list[str]) -> dict[str, Any]:
    """Train through the CLI in a child process; returns seconds and peak RSS."""
    from everybit.supertok.dist import PAPER_DIST, PREVIOUS_DIST, SEED_CODE_DIST

    named = {"PAPER": PAPER_DIST, "SEED": SEED_CODE_DIST, "PREVIOUS": PREVIOUS_DIST}
    extra = [named.get(a, a) for a in extra]
    argv = data.supertok_train_command(files, out, method, vocab, extra)
    sample = run_measured(argv, out.with_suffix(".log"))
    return {"seconds": sample.seconds, "peak_rss": sample.peak_rss}


def _thin(src: Path, out: Path, keep_every: int) -> Path:
    """Every keep_every-th of src's newline-aligned 64 KiB blocks (a proportional slice)."""
    raw = src.read_bytes()
    out.write_bytes(b"".join(raw[a:b] for i, a, b in data.text_blocks(raw) if i % keep_every == 0))
    return out


def _score_all(folder: Path, label: str, texts: dict[str, str]) -> list[Any]:
    from everybit.supertok.evaluate import load_tokenizer, score

    tok = load_tokenizer(folder)
    return [score(tok, text, label, domain) for domain, text in texts.items()]


def _main_runs(train: list[Path], texts: dict[str, str], work: Path, vocabs: tuple[int, ...]) -> list[dict]:
    runs = []
    for vocab in vocabs:
        plan = [("bpe", "bpe", []), ("nopretok", "nopretok", []), ("supertok", "supertok", [])]
        plan += [
            (f"superbpe t={int(share * 100)}%", "superbpe", ["--transition", str(int(vocab * share))])
            for share in TRANSITIONS
        ]
        for label, method, extra in plan:
            out = work / f"{method}-{vocab}-{len(runs)}"
            cost = _train(train, out, method, vocab, extra)
            runs.append(
                {
                    "label": label,
                    "method": method,
                    "vocab": vocab,
                    "dir": out,
                    **cost,
                    "scores": _score_all(out, label, texts),
                }
            )
    return runs


def _ablation(train: list[Path], texts: dict[str, str], work: Path, vocab: int) -> list[dict]:
    thin = [_thin(p, work / f"thin-{p.name}", ABLATION_SHARE) for p in train]
    runs = []
    for label, method, extra in ABLATION:
        out = work / f"ablation-{len(runs)}"
        cost = _train(thin, out, method, vocab, extra)
        runs.append({"label": label, **cost, "scores": _score_all(out, label, texts)})
    return runs  # the last one is the bpe baseline


def _caps(folder: Path, texts: dict[str, str]) -> list[list[Any]]:
    """One tokenizer under several inference pre-token caps: bytes/token and encode speed per domain, both
    batched (64 KiB pieces on every core) and as one call on the whole file (one core; with no cap the
    whole file is then a single pre-token, the case that could be quadratic)."""
    from everybit.supertok import pretok
    from everybit.supertok.evaluate import load_tokenizer, score

    rows = []
    for cap in CAPS:
        tok = load_tokenizer(folder)
        tok.pre_tokenizer = pretok.line_pretokenizer(cap) if cap else pretok.byte_level()
        for domain, text in texts.items():
            s = score(tok, text)
            start = perf_counter()
            tok.encode(text, add_special_tokens=False)
            whole = len(text.encode()) / MB / (perf_counter() - start)
            rows.append(["none" if cap is None else cap, domain, s.bytes_per_token, s.encode_mb_s, whole])
    return rows


def _find(runs: list[dict], label: str, vocab: int) -> dict:
    return next(r for r in runs if r["label"] == label and r["vocab"] == vocab)


def _bpt(run: dict, domain: str) -> float:
    return next(s.bytes_per_token for s in run["scores"] if s.domain == domain)


def _speed(run: dict, domain: str) -> float:
    return next(s.encode_mb_s for s in run["scores"] if s.domain == domain)


SCORE_COLUMNS = [
    "vocab",
    "method",
    "domain",
    "bytes/token",
    "vs bpe",
    "tokens/word",
    "% spanning",
    "types for 99%",
    "Rényi 2.5",
    "encode MB/s",
    "round trip",
]


def _score_rows(runs: list[dict]) -> list[list[Any]]:
    rows = []
    for run in runs:
        base = _find(runs, "bpe", run["vocab"])
        for s in run["scores"]:
            rows.append(
                [
                    run["vocab"],
                    run["label"],
                    s.domain,
                    s.bytes_per_token,
                    s.bytes_per_token / _bpt(base, s.domain),
                    s.tokens_per_word,
                    s.spanning_pct,
                    s.types_99,
                    s.renyi_2_5,
                    s.encode_mb_s,
                    s.round_trip,
                ]
            )
    return rows


def _cost_rows(runs: list[dict]) -> list[list[Any]]:
    return [[r["vocab"], r["label"], r["seconds"], r["peak_rss"] / 2**30] for r in runs]


def _headlines(report: Report, runs: list[dict], vocab: int, train_mb: float) -> None:
    st, bpe = _find(runs, "supertok", vocab), _find(runs, "bpe", vocab)
    supers = [r for r in runs if r["method"] == "superbpe" and r["vocab"] == vocab]
    best = max(supers, key=lambda r: _bpt(r, "held-en"))
    gain = _bpt(st, "held-en") / _bpt(bpe, "held-en")
    k = f"{vocab // 1000}k"
    report.add_headline(
        f"held-out English bytes/token, supertok / bpe, {k}",
        round(_bpt(st, "held-en"), 3),
        "bpe (GPT-4 regex)",
        round(_bpt(bpe, "held-en"), 3),
        ratio=gain,
        target=f">= {TARGET_GAIN}x",
        met=gain >= TARGET_GAIN,
    )
    vs = _bpt(st, "held-en") / _bpt(best, "held-en")
    report.add_headline(
        f"held-out English bytes/token, supertok / best SuperBPE, {k}",
        round(_bpt(st, "held-en"), 3),
        best["label"],
        round(_bpt(best, "held-en"), 3),
        ratio=vs,
        target=">= 1.0x",
        met=vs >= 1.0,
    )
    speed = min(_speed(st, d) / _speed(bpe, d) for d in HELD)
    report.add_headline(
        f"encode speed, supertok / bpe (slowest domain), {k}",
        round(min(_speed(st, d) for d in HELD), 2),
        "bpe",
        round(min(_speed(bpe, d) for d in HELD), 2),
        ratio=speed,
        target=f">= {TARGET_SPEED}x",
        met=speed >= TARGET_SPEED,
        unit="MB/s",
    )
    report.add_limit(
        f"training {train_mb:.0f} MB at {k}: supertok wall time", round(st["seconds"], 1), TARGET_TRAIN_S, "s"
    )
    report.add_limit(
        f"training {train_mb:.0f} MB at {k}: supertok peak memory",
        round(st["peak_rss"] / 2**30, 2),
        TARGET_RSS / 2**30,
        "GiB",
    )


def _chart_files(runs: list[dict], ablation: list[dict], vocab: int) -> tuple[str, str]:
    """PNG + HTML (interactive SVG) of bytes/token per domain and method, and of the ablation."""
    from everybit.common.report import Chart, Series

    main = [r for r in runs if r["vocab"] == vocab]
    charts = {
        "supertok-bytes": Chart(
            f"Held-out bytes per token at {vocab // 1000}k (higher is better)",
            [
                Series(r["label"], [s.domain for s in r["scores"]], [s.bytes_per_token for s in r["scores"]])
                for r in main
            ],
            xlabel="held-out domain",
            ylabel="bytes / token",
        ),
        "supertok-ablation": Chart(
            "supertok recipe ablation (10 MB, 32k): held-out English bytes/token",
            [Series(r["label"], ["held-en"], [_bpt(r, "held-en")]) for r in ablation],
            ylabel="bytes / token",
        ),
    }
    for name, chart in charts.items():
        chart.save_png(harness.RESULTS_DIR / f"{name}.png")
        values = (["tokenizer", *chart.series[0].x], [[s.name, *s.y] for s in chart.series])
        harness.chart_page(harness.RESULTS_DIR / f"{name}.html", chart.title, chart, tables=[values])
    return "supertok-bytes.png", "supertok-ablation.png"


def run(quick: bool = False) -> Report:
    if not shutil.which(TIME):
        raise data.DataUnavailable("supertok benchmark: GNU time not found; run `apt-get install -y time`")
    sizes = dict(train_en=5 * MB, train_code=2 * MB, held=500_000) if quick else {}
    corpora = data.tokenizer_corpora(**sizes)
    report = Report(
        "supertok", "supertok: superword tokenizers vs BPE and SuperBPE (same data, held-out text)"
    )
    for key, path in corpora.items():
        meta = data.provenance(path)
        report.add_data(key, path, meta["source"], meta.get("versions"))
    train = [corpora["train-en"], corpora["train-code"]]
    texts = {k: corpora[k].read_text() for k in HELD}
    vocabs = (8_000,) if quick else VOCABS
    with tempfile.TemporaryDirectory(prefix="bench-supertok-") as tmp:
        work = Path(tmp)
        os.environ["EVERYBIT_NO_PROGRESS"] = "1"
        runs = _main_runs(train, texts, work, vocabs)
        ablation = _ablation(train, texts, work, vocabs[-1])
        caps = _caps(_find(runs, "supertok", vocabs[-1])["dir"], texts)
        for vocab in vocabs:
            _headlines(report, runs, vocab, sum(p.stat().st_size for p in train) / MB)
        report.add_table(
            "Held-out evaluation (one row per tokenizer and domain)",
            SCORE_COLUMNS,
            _score_rows(runs),
            note=_metric_note(),
        )
        report.add_table(
            "Training cost (all training text; one process each, GNU time)",
            ["vocab", "method", "seconds", "peak RSS GiB"],
            _cost_rows(runs),
        )
        base = ablation[-1]
        report.add_table(
            f"supertok recipe ablation ({ABLATION_SHARE}x thinner training text, vocab {vocabs[-1]:,})",
            ["recipe", *[f"{d} bytes/token" for d in HELD], "held-en vs bpe", "train s"],
            [
                [
                    r["label"],
                    *[_bpt(r, d) for d in HELD],
                    _bpt(r, "held-en") / _bpt(base, "held-en"),
                    r["seconds"],
                ]
                for r in ablation
            ],
        )
        png_bytes, png_ablation = _chart_files(runs, ablation, vocabs[-1])
        report.add_table(
            f"Inference pre-token cap (the {vocabs[-1] // 1000}k supertok tokenizer; trained with cap 256)",
            [
                "cap (characters)",
                "domain",
                "bytes/token",
                "encode MB/s (batched)",
                "MB/s (whole file, 1 call)",
            ],
            caps,
            note=f"Charts: ![bytes/token]({png_bytes}) ![ablation]({png_ablation}) (interactive: "
            "supertok-bytes.html, supertok-ablation.html).",
        )
    return report


def _metric_note() -> str:
    return (
        "bytes/token: UTF-8 bytes per token; vs bpe: that over bpe's at the same vocabulary; % spanning: "
        "tokens holding a non-space followed by whitespace; types for 99%: distinct tokens covering 99% of "
        "occurrences; Rényi 2.5: efficiency H_2.5/log|V|; encode MB/s: HF encode_batch over 64 KiB pieces, "
        "2 threads."
    )
