"""probe: causal-intervention studies on any HF causal LM, exact and batched.

    from everybit import probe
    lm = probe.load_model("SmolLM2-135M-Instruct.Q4_1.gguf")        # HF folder, .gguf or hub id
    engine = probe.Engine(lm)
    ids = lm.encode("The capital of France is")
    base = engine.run(ids)                                           # every component, every layer
    site = probe.Site("head", 14, -1, 3)                             # layer 14, last position, head 3
    out = engine.patched_logits(ids, [[probe.Patch(site, mode="zero")]], base)   # (1, V) fp32
    scores = probe.attribute(engine, clean_ids, corrupt_ids, metric)["head"]     # (layers, heads)

Components: resid_pre, resid_post, attn_out, mlp_out, head (o_proj input per head), neuron (down_proj
input); adapters for Llama, Mistral, Qwen2/3, Gemma, Gemma2 and GPT-2 (see probe.adapters).
Importing this package does not import torch: names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "COMPONENTS": "everybit.probe.adapters",
    "FAMILIES": "everybit.probe.adapters",
    "Adapter": "everybit.probe.adapters",
    "adapter_for": "everybit.probe.adapters",
    "LoadedModel": "everybit.probe.models",
    "load_model": "everybit.probe.models",
    "wrap_model": "everybit.probe.models",
    "Engine": "everybit.probe.interventions",
    "Patch": "everybit.probe.interventions",
    "Site": "everybit.probe.interventions",
    "Trace": "everybit.probe.interventions",
    "log_probs": "everybit.probe.interventions",
    "logit_diff": "everybit.probe.interventions",
    "attribute": "everybit.probe.attribution",
    "load_config": "everybit.probe.config",
    "run_study": "everybit.probe.studies",
    "Context": "everybit.probe.studies",
    "default_model": "everybit.probe.studies",
    "StudyResult": "everybit.probe.report",
    "write_study": "everybit.probe.report",
    "Heatmap": "everybit.probe.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # lazy, so that `everybit --help` and the CLI's argument parsing never pay for these imports
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'everybit.probe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
