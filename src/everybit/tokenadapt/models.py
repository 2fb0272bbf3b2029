"""Loading a causal LM and its tokenizer for tokenadapt (the loading itself lives in common.hfmodels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from everybit.common import hfmodels
from everybit.common.errors import InputError
from everybit.common.hfmodels import DTYPES, smollm2_gguf

__all__ = ["DTYPES", "check_architecture", "is_tied", "load", "smollm2_gguf", "transformers_module"]


def transformers_module() -> Any:
    """transformers, imported with its logging and progress bars following our -q and TTY rules."""
    return hfmodels.transformers_module("tokenadapt")


def load(src: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, a .gguf file (dequantized) or a hub id (cache or network)."""
    model, tokenizer = hfmodels.load(src, dtype, tool="tokenadapt")
    check_architecture(model)
    return model, tokenizer


def check_architecture(model: Any) -> None:
    """Only decoder-only causal LMs with an embedding matrix can take a new vocabulary here."""
    name = type(model).__name__
    if not name.endswith("ForCausalLM") or getattr(model.config, "is_encoder_decoder", False):
        raise InputError(
            f"unsupported architecture {name}: tokenadapt handles decoder-only *ForCausalLM models"
        )
    if model.get_input_embeddings() is None:
        raise InputError(f"unsupported architecture {name}: no input embedding matrix")


def is_tied(model: Any) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight
