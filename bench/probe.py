"""probe's batched patching engine vs TransformerLens 4.3 (TransformerBridge + run_with_hooks), same run.

Same model (SmolLM2-135M-Instruct, fp32, two separate instances: booting a bridge rewires its model),
same token ids, one torch thread for both (thread oversubscription on a busy 2-core machine distorts
everything). Three sweeps, each a complete study step:

(a) layer x head: each head's clean output at the last position patched into the corrupt run (as the
    transplant study patches);
(b) layer x position: the clean residual stream (resid_pre) patched into the corrupt run, per layer and
    position;
(c) neuron scan: each of layer 15's 1,536 MLP neurons zero-ablated at the last position of the clean run
    (the prediction being studied is made there).

TransformerLens runs one forward per variant (its patching helpers do the same); ours batches variants and
starts each at its first patched layer and position from the cached run. Results are compared row by row
(max |logit difference| over the vocabulary) and by their top-10 components; the attribution screen
(2 forwards + 1 backward) is rank-correlated with the exact head sweep.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import data
from bench.harness import Report

CLEAN = "When Mary and John went to the store on Monday, John gave a bottle of milk to"
CORRUPT = "When Mary and John went to the store on Monday, Mary gave a bottle of milk to"
TARGET, FOIL = " Mary", " John"
NEURON_LAYER = 15
REPEAT = 3  # timed runs of ours (median); TransformerLens runs once per sweep (minutes)
TARGETS = {"heads": 8.0, "resid": 8.0, "neurons": 15.0}  # speed-up over TransformerLens
ATTRIBUTION_RHO = 0.8
TOL = 1e-4


class PeakRSS:
    """Peak resident memory above the start, sampled every 5 ms while the block runs."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """(result, median seconds, peak MiB above the start)."""
    times, out, peak = [], None, 0.0
    for _ in range(repeat):
        with PeakRSS() as mem:
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        peak = max(peak, mem.mib)
    return out, statistics.median(times), peak


def _tl_loop(bridge: Any, ids: Any, cases: list[tuple[str, Callable]]) -> Any:
    """One run_with_hooks forward per case; last-position logits (n, V) fp32."""
    import torch

    rows = []
    with torch.no_grad():
        for name, hook in cases:
            rows.append(bridge.run_with_hooks(ids[None], fwd_hooks=[(name, hook)])[0, -1].float())
    return torch.stack(rows)


def _setter(pos: int | None, index: int | None, value: Any) -> Callable:
    def hook(x: Any, hook: Any) -> Any:
        x = x.clone()
        key = (0, slice(None) if pos is None else pos) + (() if index is None else (index,))
        x[key] = value
        return x

    return hook


def _top10(effects: Any) -> set[int]:
    return set(effects.abs().flatten().topk(min(10, effects.numel())).indices.tolist())


def _spearman(a: Any, b: Any) -> float:
    import torch

    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def run(quick: bool = False) -> Report:
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    from everybit.common import hfmodels
    from everybit.probe.attribution import attribute
    from everybit.probe.interventions import Engine, Patch, Site, logit_diff
    from everybit.probe.models import load_model

    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = data.smollm2_folder()
    report = Report(
        "probe", "probe: batched exact patching vs TransformerLens 4.3 on SmolLM2-135M (1 thread)"
    )
    meta = data.provenance(source)
    report.add_data(
        "SmolLM2-135M-Instruct", source / "model.safetensors", meta["source"], meta.get("versions")
    )

    lm = load_model(str(source))
    engine = Engine(lm)
    model2, tok2 = hfmodels.load(str(source))
    bridge = TransformerBridge.boot_transformers("smollm2", hf_model=model2, tokenizer=tok2)
    clean, corrupt = torch.tensor(lm.encode(CLEAN)), torch.tensor(lm.encode(CORRUPT))
    if len(clean) != len(corrupt):
        raise RuntimeError("benchmark prompts must tokenize to the same length")
    target, foil = lm.token_id(TARGET), lm.token_id(FOIL)
    a = lm.adapter
    layers = range(0, a.n_layers, 10) if quick else range(a.n_layers)
    clean_tr, corrupt_tr = engine.run(clean), engine.run(corrupt)
    with torch.no_grad():
        _, tl_cache = bridge.run_with_cache(clean[None])
        unpatched_gap = float((bridge(clean[None])[0].float() - clean_tr.logits).abs().max())

    sweeps = {
        "heads": (
            corrupt,
            corrupt_tr,
            [Site("head", L, -1, h) for L in layers for h in range(a.n_heads)],
            lambda s: clean_tr.value(s),
            lambda s: (
                f"blocks.{s.layer}.attn.hook_z",
                tl_cache[f"blocks.{s.layer}.attn.hook_z"][0][-1, s.index],
            ),
        ),
        "resid": (
            corrupt,
            corrupt_tr,
            [Site("resid_pre", L, p) for L in layers for p in range(len(clean))],
            lambda s: clean_tr.value(s),
            lambda s: (
                f"blocks.{s.layer}.hook_resid_pre",
                tl_cache[f"blocks.{s.layer}.hook_resid_pre"][0][s.position],
            ),
        ),
        "neurons": (
            clean,
            clean_tr,
            [Site("neuron", NEURON_LAYER, -1, n) for n in range(a.d_mlp if not quick else 64)],
            lambda s: None,
            lambda s: (f"blocks.{s.layer}.mlp.hook_post", 0.0),
        ),
    }
    rows, results = [], {}
    for name, (ids, base, sites, ours_value, tl_case) in sweeps.items():
        variants = [
            [Patch(s, v) if (v := ours_value(s)) is not None else Patch(s, mode="zero")] for s in sites
        ]
        engine.reset_counters()

        def ours_call(ids: Any = ids, variants: list = variants, base: Any = base) -> Any:
            return engine.patched_logits(ids, variants, base)

        ours, ours_s, ours_mib = _timed(ours_call, REPEAT)
        forwards = engine.forward_passes // REPEAT
        cases = []
        for s in sites:
            hook_name, value = tl_case(s)
            cases.append((hook_name, _setter(s.position, s.index, value)))
        tl, tl_s, tl_mib = _timed(lambda ids=ids, cases=cases: _tl_loop(bridge, ids, cases), 1)
        base_metric = logit_diff(base.logits[-1], target, foil)
        eff_ours = logit_diff(ours, target, foil) - base_metric
        eff_tl = logit_diff(tl, target, foil) - base_metric
        overlap = len(_top10(eff_ours) & _top10(eff_tl))
        diff = float((ours - tl).abs().max())
        results[name] = {
            "ours_s": ours_s,
            "tl_s": tl_s,
            "diff": diff,
            "overlap": overlap,
            "effects": eff_ours,
        }
        row = [name, len(sites), ours_s, forwards, ours_mib, tl_s, len(sites), tl_mib, tl_s / ours_s]
        rows.append([*row, diff, overlap])

    def metric(logits: Any) -> Any:
        return logit_diff(logits, target, foil)

    engine.reset_counters()

    def screen() -> Any:  # per position: the exact sweep patches the last position only
        return attribute(engine, clean, corrupt, metric, ("head",), per_position=True, clean=clean_tr)

    scores, attr_s, _ = _timed(screen, REPEAT)
    exact = results["heads"]["effects"].reshape(len(layers), a.n_heads)
    rho = _spearman(scores["head"][list(layers), -1], exact)
    passes = (engine.forward_passes + engine.backward_passes) / REPEAT

    report.add_table(
        "Sweeps: ours (batched, prefix reuse) vs TransformerLens (one run_with_hooks per variant)",
        [
            "sweep",
            "variants",
            "ours s (median)",
            "ours forwards",
            "ours peak MiB",
            "TL s",
            "TL forwards",
            "TL peak MiB",
            "speed-up",
            "max |logit diff|",
            "top-10 overlap",
        ],
        rows,
        note=f"Prompts ({len(clean)} tokens): clean {CLEAN!r}, corrupt {CORRUPT!r}; metric: logit difference "
        f"{TARGET!r} - {FOIL!r}. Unpatched, the two frameworks differ by {unpatched_gap:.1e} already.",
    )
    report.add_table(
        "Attribution screen of every head vs the exact head sweep",
        ["heads", "passes (forward + backward)", "seconds", "Spearman rho vs exact"],
        [[exact.numel(), passes, attr_s, rho]],
    )
    for name, r in results.items():
        report.add_headline(
            f"{name} sweep: speed-up over TransformerLens (same thread count)",
            round(r["tl_s"] / r["ours_s"], 1),
            "TransformerLens",
            round(r["tl_s"], 1),
            target=f">= {TARGETS[name]:g}x",
            met=r["tl_s"] / r["ours_s"] >= TARGETS[name],
            unit="x",
        )
        report.add_headline(
            f"{name} sweep: max |difference| vs TransformerLens, top-10 overlap {r['overlap']}/10",
            f"{r['diff']:.1e}",
            "tolerance",
            TOL,
            target=f"<= {TOL:g}, same top-10",
            met=r["diff"] <= TOL and r["overlap"] == 10,
        )
    report.add_headline(
        f"attribution screen of every head ({passes:g} passes): Spearman rho vs exact",
        round(rho, 3),
        "target",
        ATTRIBUTION_RHO,
        target=f">= {ATTRIBUTION_RHO} in <= 3 passes",
        met=rho >= ATTRIBUTION_RHO and passes <= 3,
    )
    _second_model(report)
    report.add_table(
        "GPU",
        ["what", "status"],
        [["conformance suite, a shipped study, speed vs CPU and vs TransformerLens on a GPU", "not run"]],
        note="No GPU machine was lent to the session that ran this benchmark: CPU figures only "
        "(docs/probe.md gives the memory figures for --device cuda / --device-map auto).",
    )
    return report


def _second_model(report: Report) -> None:
    """Gemma 3 270M (another family, 262k vocabulary, found by discovery): the five conformance checks
    on the real model, and the head sweep against TransformerLens on the same prompts."""
    import torch
    from transformer_lens.model_bridge import TransformerBridge

    from everybit.common import hfmodels
    from everybit.probe import conformance
    from everybit.probe.interventions import Engine, Patch, Site, logit_diff
    from everybit.probe.models import load_model

    source = data.gemma3_folder()
    meta = data.provenance(source)
    report.add_data("Gemma 3 270M", source / "model.safetensors", meta["source"], meta.get("versions"))
    lm = load_model(str(source))
    checks = conformance.check(lm)
    engine = Engine(lm)
    model2, tok2 = hfmodels.load(str(source))
    bridge = TransformerBridge.boot_transformers("gemma3", hf_model=model2, tokenizer=tok2)
    clean, corrupt = torch.tensor(lm.encode(CLEAN)), torch.tensor(lm.encode(CORRUPT))
    target, foil = lm.token_id(TARGET), lm.token_id(FOIL)
    clean_tr, corrupt_tr = engine.run(clean), engine.run(corrupt)
    a = lm.adapter
    sites = [Site("head", L, -1, h) for L in range(a.n_layers) for h in range(a.n_heads)]
    variants = [[Patch(s, clean_tr.value(s))] for s in sites]
    ours, ours_s, _ = _timed(lambda: engine.patched_logits(corrupt, variants, corrupt_tr), REPEAT)
    with torch.no_grad():
        _, tl_cache = bridge.run_with_cache(clean[None])
        tl_plain = bridge(clean[None])[0, -1].float()
    cases = [
        (
            f"blocks.{s.layer}.attn.hook_z",
            _setter(-1, s.index, tl_cache[f"blocks.{s.layer}.attn.hook_z"][0][-1, s.index]),
        )
        for s in sites
    ]
    tl, tl_s, _ = _timed(lambda: _tl_loop(bridge, corrupt, cases), 1)
    scale = float(tl.abs().max())
    diff = float((ours - tl).abs().max()) / scale
    plain = float((tl_plain - clean_tr.logits[-1]).abs().max()) / scale
    base = logit_diff(corrupt_tr.logits[-1], target, foil)
    overlap = len(_top10(logit_diff(ours, target, foil) - base) & _top10(logit_diff(tl, target, foil) - base))
    report.add_table(
        "Second model: Gemma 3 270M (gemma3_text, 18 layers, 4 heads x 256, vocab 262,144), fp32, 1 thread",
        ["check", "result"],
        [[f"conformance: {k}", v] for k, v in checks.items()]
        + [
            ["unpatched logits, max |TL - ours| / max |logit|", f"{plain:.1e}"],
            [f"head sweep ({len(sites)} heads, last position): ours s / TL s", f"{ours_s:.2f} / {tl_s:.1f}"],
            ["head sweep: max |TL - ours| / max |logit|, top-10 overlap", f"{diff:.1e}, {overlap}/10"],
        ],
        note="Relative differences: Gemma's residual stream grows to ~1e5, so fp32 rounding is relative.",
    )
    report.add_headline(
        "Gemma 3 270M: conformance checks passed on the real model",
        sum(v == conformance.PASS or v.startswith("n/a") for v in checks.values()),
        "checks",
        len(checks),
        target="all",
        met=all(v == conformance.PASS or v.startswith("n/a") for v in checks.values()),
    )
    report.add_headline(
        f"Gemma 3 270M head sweep: speed-up over TransformerLens, top-10 overlap {overlap}/10",
        round(tl_s / ours_s, 1),
        "TransformerLens",
        round(tl_s, 1),
        target=f"<= {TOL:g} relative difference, same top-10",
        met=diff <= TOL and overlap == 10,
        unit="x",
    )
