"""Study configs: YAML files parsed into small dataclasses, with one-line errors that name the file and line.

Everything that can be checked without the model is checked here (unknown keys, unknown component names,
types, duplicate keys); what needs the model (layer range, single-token targets, equal prompt lengths) is
checked by ``resolve_layers`` and the studies once the model is loaded. No torch import: ``--help`` and
config errors stay fast.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from everybit.common.errors import InputError, MissingDependencyError

STUDIES = ("transplant", "patch", "neurons", "ablate")
COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head", "neuron")
METHODS = ("exact", "attribution")
CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str


@dataclass(frozen=True)
class Pair:
    name: str
    clean: str
    corrupt: str


@dataclass
class StudyConfig:
    """Keys every study accepts."""

    study: str = ""
    path: str = "<config>"  # where it came from, for messages
    title: str = ""
    description: str = ""
    model: str | None = None
    layers: str | tuple[int, ...] = "all"  # "all" or explicit layer numbers (negative counts from the end)
    method: str = "exact"
    top_k: int = 20
    memory_budget_mb: int = 1024
    batch_size: int | None = None


@dataclass
class TransplantConfig(StudyConfig):
    sources: list[Prompt] = field(default_factory=list)
    baseline: str = ""
    targets: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=lambda: ["resid_post", "attn_out", "mlp_out", "head"])
    positions: str = "last"  # "last" or "aligned" (every position; source and baseline must match in length)


@dataclass
class PatchConfig(StudyConfig):
    pairs: list[Pair] = field(default_factory=list)
    target: str = ""
    foil: str = ""
    components: list[str] = field(default_factory=lambda: ["resid_pre", "head"])
    directions: list[str] = field(default_factory=lambda: ["sufficiency", "necessity"])


@dataclass
class NeuronsConfig(StudyConfig):
    prompts: list[Prompt] = field(default_factory=list)
    control_prompts: list[Prompt] = field(default_factory=list)
    threshold: float = 1.0
    aggregate: str = "max"  # per prompt: "max" over positions, "mean" over positions, or the "last" position
    top_prompts: int = 3


@dataclass
class AblateConfig(StudyConfig):
    prompt: str = ""
    target: str | None = None  # None: the model's own top-1 token on the prompt
    mode: str = "zero"
    mean_prompts: list[Prompt] = field(default_factory=list)
    positions: str = "all"  # ablate at "all" positions or only the "last"
    threshold: float = 0.1


CLASSES: dict[str, type[StudyConfig]] = {
    "transplant": TransplantConfig,
    "patch": PatchConfig,
    "neurons": NeuronsConfig,
    "ablate": AblateConfig,
}
PATCH_COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head")
TRANSPLANT_COMPONENTS = ("resid_pre", "resid_post", "attn_out", "mlp_out", "head")
CHOICES = {
    "method": METHODS,
    "positions:transplant": ("last", "aligned"),
    "positions:ablate": ("all", "last"),
    "aggregate": ("max", "mean", "last"),
    "mode": ("zero", "mean"),
}


class _Map(dict):
    """A YAML mapping that remembers the line of each key, for messages like 'study.yaml:7: ...'."""

    lines: dict[Any, int]


def _loader(path: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError("probe configs need PyYAML: pip install 'everybit[ml]'") from None

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any) -> _Map:
        loader.flatten_mapping(node)
        out = _Map()
        out.lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in out:
                raise InputError(f"{path}:{line}: key {key!r} appears twice")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = line
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


class _Where:
    """Builds 'file:line: what' messages."""

    def __init__(self, path: str, data: _Map) -> None:
        self.path, self.data = path, data

    def line(self, key: str | None = None, within: Any = None) -> str:
        m = within if within is not None else self.data
        lines = getattr(m, "lines", {})
        n = lines.get(key) if key is not None else None
        return f"{self.path}:{n}" if n else self.path

    def error(self, key: str | None, message: str, within: Any = None) -> InputError:
        return InputError(f"{self.line(key, within)}: {message}")


def _suggest(word: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


def _text(w: _Where, key: str, value: Any, within: Any = None, *, allow_empty: bool = False) -> str:
    if isinstance(value, bool):
        raise w.error(key, f"{key}: expected text, got the boolean {value} (quote it, e.g. ' yes')", within)
    if not isinstance(value, str):
        raise w.error(key, f"{key}: expected text, got {type(value).__name__} {value!r}", within)
    if not value and not allow_empty:
        raise w.error(key, f"{key}: must not be empty", within)
    return value


def _int(w: _Where, key: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise w.error(key, f"{key}: expected a whole number, got {value!r}")
    if value < lo:
        raise w.error(key, f"{key}: must be at least {lo}, not {value}")
    return value


def _float(w: _Where, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise w.error(key, f"{key}: expected a number, got {value!r}")
    return float(value)


def _choice(w: _Where, key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = _text(w, key, value)
    if text not in choices:
        raise w.error(key, f"{key}: unknown value {text!r}{_suggest(text, choices)}")
    return text


def _prompts(w: _Where, key: str, value: Any, *, allow_empty: bool = False) -> list[Prompt]:
    """A list of prompts: plain strings, or {name, text} mappings; or a mapping name -> text."""
    if isinstance(value, dict):
        items = [{"name": k, "text": v} for k, v in value.items()]
    elif isinstance(value, list):
        items = value
    else:
        raise w.error(key, f"{key}: expected a list of prompts")
    if not items and not allow_empty:
        raise w.error(key, f"{key}: needs at least one prompt")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            extra = sorted(set(item) - {"name", "text"})
            if extra:
                raise w.error(key, f"{key}[{i}]: unknown key {extra[0]!r} (known: name, text)")
            text = _text(w, "text", item.get("text"), item)
            name = str(item.get("name") or f"{key}{i}")
        else:
            text = _text(w, f"{key}[{i}]", item)
            name = f"{key.rstrip('s')}{i}"
        out.append(Prompt(name, text))
    return out


def _pairs(w: _Where, value: Any) -> list[Pair]:
    if not isinstance(value, list) or not value:
        raise w.error("pairs", "pairs: expected a list of {clean: ..., corrupt: ...} entries")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise w.error("pairs", f"pairs[{i}]: expected a mapping with clean and corrupt")
        extra = sorted(set(item) - {"name", "clean", "corrupt"})
        if extra:
            raise w.error(
                extra[0], f"pairs[{i}]: unknown key {extra[0]!r} (known: name, clean, corrupt)", item
            )
        for k in ("clean", "corrupt"):
            if k not in item:
                raise w.error("pairs", f"pairs[{i}]: missing {k!r}")
        out.append(
            Pair(
                str(item.get("name") or f"pair{i}"),
                _text(w, "clean", item["clean"], item),
                _text(w, "corrupt", item["corrupt"], item),
            )
        )
    return out


def _layers(w: _Where, value: Any) -> str | tuple[int, ...]:
    """'all', one layer, a list of layers, or a range text like '10-20' (inclusive)."""
    if value == "all":
        return "all"
    if isinstance(value, bool):
        raise w.error("layers", f"layers: expected 'all', a layer number or a list, got {value!r}")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        lo, sep, hi = value.partition("-")
        try:
            if sep and lo.strip():
                return tuple(range(int(lo), int(hi) + 1))
            return (int(value),)
        except ValueError:
            pass
        raise w.error(
            "layers", f"layers: expected 'all', a number, a list or a range like '8-12', not {value!r}"
        )
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    raise w.error(
        "layers", f"layers: expected 'all', a layer number or a non-empty list of numbers, got {value!r}"
    )


def _components(w: _Where, value: Any, allowed: tuple[str, ...]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise w.error("components", "components: expected a non-empty list of component names")
    for c in items:
        if c not in COMPONENTS:
            raise w.error("components", f"unknown component {c!r}{_suggest(str(c), COMPONENTS)}")
        if c not in allowed:
            raise w.error(
                "components", f"component {c!r} is not used by this study (use: {', '.join(allowed)})"
            )
    return list(dict.fromkeys(items))


def _texts(w: _Where, key: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise w.error(key, f"{key}: expected a list of tokens like [' yes', ' no']")
    return [_text(w, key, v) for v in items]


def parse(data: Any, path: str = "<config>", study: str | None = None) -> StudyConfig:
    """A config from already-loaded YAML data; ``study`` (the CLI verb) must agree with its ``study:`` key."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of keys (study:, model:, ...) at the top")
    if not isinstance(data, _Map):
        data = _Map(data)
        data.lines = {}
    w = _Where(path, data)
    named = data.get("study")
    if named is not None and named not in STUDIES:
        raise w.error("study", f"unknown study {named!r}{_suggest(str(named), STUDIES)}")
    if study is not None and named is not None and named != study:
        raise w.error(
            "study", f"this is a {named} config, not a {study} config (run 'everybit probe {named}')"
        )
    kind = study or named
    if kind is None:
        raise InputError(f"{path}: missing 'study:' (one of {', '.join(STUDIES)})")
    cls = CLASSES[kind]
    known = [f.name for f in fields(cls) if f.name != "path"]
    for key in data:
        if key not in known:
            raise w.error(key, f"unknown key {key!r} in a {kind} config{_suggest(str(key), known)}")
    cfg = cls(study=kind, path=path)
    _common(w, data, cfg)
    {"transplant": _transplant, "patch": _patch, "neurons": _neurons, "ablate": _ablate}[kind](w, data, cfg)
    return cfg


def _require(w: _Where, data: dict, key: str, kind: str) -> Any:
    if key not in data:
        raise InputError(f"{w.path}: a {kind} config needs '{key}:'")
    return data[key]


def _common(w: _Where, data: dict, cfg: StudyConfig) -> None:
    if "title" in data:
        cfg.title = _text(w, "title", data["title"])
    if "description" in data:
        cfg.description = _text(w, "description", data["description"], allow_empty=True)
    if data.get("model") is not None:
        cfg.model = _text(w, "model", data["model"])
    if "layers" in data:
        cfg.layers = _layers(w, data["layers"])
    if "method" in data:
        cfg.method = _choice(w, "method", data["method"], METHODS)
    if "top_k" in data:
        cfg.top_k = _int(w, "top_k", data["top_k"], 1)
    if "memory_budget_mb" in data:
        cfg.memory_budget_mb = _int(w, "memory_budget_mb", data["memory_budget_mb"], 16)
    if data.get("batch_size") is not None:
        cfg.batch_size = _int(w, "batch_size", data["batch_size"], 1)


def _transplant(w: _Where, data: dict, cfg: TransplantConfig) -> None:
    cfg.sources = _prompts(w, "sources", _require(w, data, "sources", "transplant"))
    cfg.baseline = _text(w, "baseline", _require(w, data, "baseline", "transplant"))
    cfg.targets = _texts(w, "targets", _require(w, data, "targets", "transplant"))
    if "components" in data:
        cfg.components = _components(w, data["components"], TRANSPLANT_COMPONENTS)
    if "positions" in data:
        cfg.positions = _choice(w, "positions", data["positions"], CHOICES["positions:transplant"])


def _patch(w: _Where, data: dict, cfg: PatchConfig) -> None:
    cfg.pairs = _pairs(w, _require(w, data, "pairs", "patch"))
    cfg.target = _text(w, "target", _require(w, data, "target", "patch"))
    cfg.foil = _text(w, "foil", _require(w, data, "foil", "patch"))
    if cfg.foil == cfg.target:
        raise w.error("foil", "foil: must differ from target (the logit difference would be 0)")
    if "components" in data:
        cfg.components = _components(w, data["components"], PATCH_COMPONENTS)
    if "directions" in data:
        dirs = data["directions"]
        items = [dirs] if isinstance(dirs, str) else dirs
        if not isinstance(items, list) or not items:
            raise w.error("directions", "directions: expected a list: [sufficiency, necessity]")
        cfg.directions = [_choice(w, "directions", d, ("sufficiency", "necessity")) for d in items]


def _neurons(w: _Where, data: dict, cfg: NeuronsConfig) -> None:
    cfg.prompts = _prompts(w, "prompts", _require(w, data, "prompts", "neurons"))
    if data.get("control_prompts") is not None:
        cfg.control_prompts = _prompts(w, "control_prompts", data["control_prompts"], allow_empty=True)
    if "threshold" in data:
        cfg.threshold = _float(w, "threshold", data["threshold"])
    if "aggregate" in data:
        cfg.aggregate = _choice(w, "aggregate", data["aggregate"], CHOICES["aggregate"])
    if "top_prompts" in data:
        cfg.top_prompts = _int(w, "top_prompts", data["top_prompts"], 1)


def _ablate(w: _Where, data: dict, cfg: AblateConfig) -> None:
    cfg.prompt = _text(w, "prompt", _require(w, data, "prompt", "ablate"))
    if data.get("target") is not None:
        cfg.target = _text(w, "target", data["target"])
    if "mode" in data:
        cfg.mode = _choice(w, "mode", data["mode"], CHOICES["mode"])
    if data.get("mean_prompts") is not None:
        cfg.mean_prompts = _prompts(w, "mean_prompts", data["mean_prompts"], allow_empty=True)
        if cfg.mean_prompts and cfg.mode != "mean":
            raise w.error("mean_prompts", "mean_prompts: only used with mode: mean")
    if "positions" in data:
        cfg.positions = _choice(w, "positions", data["positions"], CHOICES["positions:ablate"])
    if "threshold" in data:
        cfg.threshold = _float(w, "threshold", data["threshold"])
        if not 0 < cfg.threshold < 1:
            raise w.error(
                "threshold", f"threshold: a probability change between 0 and 1, not {cfg.threshold}"
            )


def shipped() -> dict[str, Path]:
    """The ready configs that come with everybit: name (file stem) -> path."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def find_config(name: str | Path) -> Path:
    """A config file, or the name of a shipped one (``patch_ampm`` or ``patch_ampm.yaml``)."""
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent == Path(".") and stem in shipped():
        return shipped()[stem]
    if path.exists():
        raise InputError(f"{path}: not a file")
    names = ", ".join(shipped())
    raise InputError(f"{path}: no such file (shipped configs: {names})")


def load(source: str | Path, study: str | None = None) -> StudyConfig:
    """Read and check a YAML config (a path or a shipped config's name)."""
    path = find_config(source)
    text = path.read_text(encoding="utf-8")
    return loads(text, str(path), study)


def loads(text: str, path: str = "<config>", study: str | None = None) -> StudyConfig:
    """Parse YAML text; errors name ``path`` and the line."""
    loader = _loader(path)
    import yaml

    try:
        data = yaml.load(text, Loader=loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: not valid YAML ({problem})") from None
    return parse(data, path, study)


def resolve_layers(spec: str | tuple[int, ...], n_layers: int, path: str = "<config>") -> list[int]:
    """Layer numbers for a model with ``n_layers`` layers; negative numbers count from the end."""
    if spec == "all":
        return list(range(n_layers))
    out = []
    for layer in spec:
        real = layer + n_layers if layer < 0 else layer
        if not 0 <= real < n_layers:
            raise InputError(
                f"{path}: layer {layer} out of range: the model has {n_layers} layers (0-{n_layers - 1})"
            )
        out.append(real)
    return list(dict.fromkeys(out))


load_config = load  # the name everybit.probe exports
