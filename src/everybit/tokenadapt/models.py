"""Loading a causal LM and its tokenizer for tokenadapt (the loading itself lives in common.hfmodels), and
finding the parts a transplant rewrites: input embedding, output head, tying, embedding scale.

Everything is discovered through the model's own interface (get_input_embeddings, get_output_embeddings,
weight identity, an ``embed_scale`` on the embedding module or a multiplier on the decoder); FORWARD_SCALES
is the one place for what a model does not expose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from everybit.common import hfmodels
from everybit.common.errors import InputError
from everybit.common.hfmodels import DTYPES, smollm2_gguf

__all__ = [
    "DTYPES",
    "Layout",
    "check_architecture",
    "layout",
    "load",
    "smollm2_gguf",
    "transformers_module",
]

# Families that multiply the looked-up rows inside the model's forward, with nothing to read the factor
# from: model_type -> factor from the config. transformers 4.x scaled Gemma and Gemma 2 by a local
# `normalizer`; 5.x moved it into the embedding module (embed_scale), which is read first.
FORWARD_SCALES: dict[str, Callable[[Any], float]] = {
    "gemma": lambda config: math.sqrt(config.hidden_size),
    "gemma2": lambda config: math.sqrt(config.hidden_size),
}
# Attributes under which a decoder keeps the factor it applies to the embeddings (RecurrentGemma, Granite).
DECODER_SCALES = ("normalizer", "embedding_multiplier")


@dataclass(frozen=True)
class Layout:
    """What a transplant rewrites. The methods read and write raw ``weight`` rows; ``scale`` is the factor
    the model applies to input rows on lookup (Gemma: sqrt(d_model)), which the rows never include."""

    input: Any  # the input embedding module
    output: Any | None  # the output head, None when tied to the input embedding
    tied: bool
    scale: float
    scale_source: str  # where scale was found, for the report


def transformers_module() -> Any:
    """transformers, imported with its logging and progress bars following our -q and TTY rules."""
    return hfmodels.transformers_module("tokenadapt")


def load(src: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, a .gguf file (dequantized) or a hub id (cache or network)."""
    model, tokenizer = hfmodels.load(src, dtype, tool="tokenadapt")
    check_architecture(model)
    return model, tokenizer


def check_architecture(model: Any) -> None:
    """Only decoder-only causal LMs whose embedding and head can be found can take a new vocabulary here."""
    name = type(model).__name__
    if not name.endswith("ForCausalLM") or getattr(model.config, "is_encoder_decoder", False):
        raise InputError(
            f"unsupported architecture {name}: tokenadapt handles decoder-only *ForCausalLM models"
        )
    layout(model)


def _module(model: Any, getter: str) -> Any:
    try:
        return getattr(model, getter)()
    except (AttributeError, NotImplementedError):
        return None


def _weight(module: Any, what: str, name: str) -> Any:
    weight = getattr(module, "weight", None)
    if weight is None or weight.dim() != 2 or not weight.dtype.is_floating_point:
        raise InputError(
            f"unsupported architecture {name}: its {what} ({type(module).__name__}) has no 2-D float weight"
        )
    return weight


def _scalar(value: Any) -> float | None:
    try:
        return float(value)  # a number or a one-element tensor
    except (TypeError, ValueError, RuntimeError):
        return None


def _scale(model: Any, embedding: Any) -> tuple[float, str]:
    """(factor, where it was found) that the model multiplies input rows by."""
    found = _scalar(getattr(embedding, "embed_scale", None))
    if found is not None:
        return found, f"{type(embedding).__name__}.embed_scale"
    decoder = model.base_model
    for attr in DECODER_SCALES:
        found = _scalar(getattr(decoder, attr, None))
        if found is not None:
            return found, f"{type(decoder).__name__}.{attr}"
    config = model.config.get_text_config()
    rule = FORWARD_SCALES.get(getattr(config, "model_type", ""))
    if rule is not None:
        return rule(config), f"models.FORWARD_SCALES[{config.model_type!r}]"
    return 1.0, "none"


def layout(model: Any) -> Layout:
    """The model's input embedding, output head, tying and embedding scale, or an InputError naming the
    piece that is missing."""
    name = type(model).__name__
    embedding = _module(model, "get_input_embeddings")
    if embedding is None:
        raise InputError(f"unsupported architecture {name}: get_input_embeddings() gives no input embedding")
    weight = _weight(embedding, "input embedding", name)
    head = _module(model, "get_output_embeddings")
    if head is None:
        raise InputError(f"unsupported architecture {name}: get_output_embeddings() gives no output head")
    tied = _weight(head, "output head", name) is weight  # identity, not config: what the weights really do
    if not tied and head.weight.shape[0] != weight.shape[0]:
        raise InputError(
            f"unsupported architecture {name}: output head has {head.weight.shape[0]} rows but the input "
            f"embedding {weight.shape[0]}"
        )
    scale, source = _scale(model, embedding)
    return Layout(embedding, None if tied else head, tied, scale, source)
