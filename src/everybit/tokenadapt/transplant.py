"""Putting a new tokenizer into a causal LM: match the vocabularies, estimate the unseen rows, resize, save.

Tokens both vocabularies hold (same bytes, or same added-token text) keep their rows exactly. The old
model's special tokens that the new tokenizer lacks are added to it when something uses them: a role
(bos/eos/pad/unk/...) or the chat template, so the template still works; placeholders nothing refers to
(Gemma 3's 6,242 `<unusedN>`, image markers no template emits) stay behind. Special roles whose text differs
take the old role's row. Every other new token gets a row from the chosen method (methods.py), computed for
the input embeddings and, when the model has an untied output head, separately for the head. Tied models stay
tied. Rows are raw embedding weights: a model that scales them on lookup (Gemma: sqrt(d_model)) keeps its
scale, and every estimate is built from raw rows, so new rows live in the same space as the old ones.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from everybit.common.errors import InputError, UsageError
from everybit.tokenadapt import methods
from everybit.tokenadapt.models import Layout, layout
from everybit.tokenadapt.surface import Surface, shared_ids, surface

ROLES = ("bos", "eos", "pad", "unk")  # roles whose row moves to the new role token when the texts differ
SPECIAL_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")  # tokenizer.<role>_token: always carried


@dataclass
class Report:
    method: str
    old_vocab: int
    new_vocab: int
    padded_vocab: int
    shared: int
    estimated: int
    roles_mapped: dict[str, str] = field(default_factory=dict)
    added_specials: list[str] = field(default_factory=list)
    unused_specials: int = 0  # old special tokens nothing uses, not carried
    embed_scale: float = 1.0
    embed_scale_source: str = "none"
    coefficients: list[float] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    heal_curve: list[dict] | None = None
    calibration: list[dict] | None = None  # calibrated: every (w, T) and OMP share tried, its bits per byte
    donor_space: str | None = None  # omp/calibrated: where the pursuit ran ("external" or the donor's name)
    omp_atoms: int | None = None  # omp/calibrated: size of the shared-token dictionary
    estimated_ids: list[int] = field(default_factory=list, repr=False)  # not saved: long and derivable


def load_new_tokenizer(path: str | Path) -> Any:
    """An HF fast tokenizer from a folder (tokenizer.json + configs) or a bare tokenizer.json."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path)
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise InputError(f"{path}: no tokenizer.json there (a fast HF tokenizer folder is needed)")
        return AutoTokenizer.from_pretrained(str(path))
    if path.is_file():
        try:
            return PreTrainedTokenizerFast(tokenizer_file=str(path))
        except Exception as exc:  # tokenizers raises plain Exception on a bad file
            raise InputError(
                f"{path}: not a tokenizers JSON file ({str(exc).splitlines()[0][:100]})"
            ) from None
    raise InputError(f"{path}: no such file or folder")


def donor_copy(tok: Any) -> Any:
    """A copy of a donor's tokenizer to become the new one (a transplant adds the old specials to it)."""
    import copy

    return copy.deepcopy(tok)


def _template_text(tok: Any) -> str:
    template = getattr(tok, "chat_template", None) or ""
    return "\n".join(template.values()) if isinstance(template, dict) else template  # named templates


def _used_specials(tok: Any) -> tuple[list[str], int]:
    """(special tokens a role or the chat template uses, how many others there are). The template is searched
    for every special's text, longest first, so `<unused10>` in it does not also count `<unused1>`."""
    added = tok.backend_tokenizer.get_added_tokens_decoder().values()
    specials = list(dict.fromkeys([*tok.all_special_tokens, *(t.content for t in added if t.special)]))
    used = {getattr(tok, f"{role}_token", None) for role in SPECIAL_ROLES}
    template = _template_text(tok)
    if template and specials:
        pattern = "|".join(map(re.escape, sorted(specials, key=len, reverse=True)))
        used.update(re.findall(pattern, template))
    kept = [t for t in specials if t in used]
    return kept, len(specials) - len(kept)


def _carry_specials(new_tok: Any, old_tok: Any) -> tuple[list[str], int]:
    """Adds the used old specials the new tokenizer lacks; returns (their texts, how many were unused)."""
    used, unused = _used_specials(old_tok)
    have = set(new_tok.get_vocab())
    missing = [t for t in used if t not in have]
    if missing:
        new_tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    if getattr(new_tok, "chat_template", None) is None and getattr(old_tok, "chat_template", None):
        new_tok.chat_template = old_tok.chat_template
    return missing, unused


def _pieces(new: Surface, old: Surface, old_backend: Any, todo: list[int]) -> list[list[int]]:
    """Old ids spelling each new token: the old tokenizer's encoding of its text, or its bytes one by one
    when the text is not whole UTF-8 (a byte-level fragment of a character)."""
    byte_ids = {key[1]: i for i, key in enumerate(old.keys) if key[0] == "bytes" and len(key[1]) == 1}
    out = []
    for i in todo:
        kind, value = new.keys[i]
        raw = value.encode() if kind == "special" else value
        try:
            text = raw.decode("utf-8")  # type: ignore[union-attr]
            ids = old_backend.encode(text, add_special_tokens=False).ids
        except UnicodeDecodeError:
            ids = [byte_ids[bytes([b])] for b in raw if bytes([b]) in byte_ids]  # type: ignore[union-attr]
        out.append(ids)
    return out


def _role_rows(new_tok: Any, old_tok: Any, mapping: dict[int, int]) -> dict[str, str]:
    """Special roles whose token text differs: the new role token takes the old role token's row."""
    mapped = {}
    for role in ROLES:
        new_t, old_t = getattr(new_tok, f"{role}_token", None), getattr(old_tok, f"{role}_token", None)
        if new_t and old_t:
            new_id, old_id = new_tok.convert_tokens_to_ids(new_t), old_tok.convert_tokens_to_ids(old_t)
            if new_id not in mapping and old_id is not None:
                mapping[new_id] = old_id
                mapped[role] = f"{new_t} <- {old_t}"
    return mapped


def _problem(
    old_rows: np.ndarray,
    pieces: list[list[int]],
    ext: tuple | None,
    opts: methods.Options,
    old_surface: Surface,
) -> methods.Problem:
    keys = old_surface.keys[: len(old_rows)]
    piece_bytes = np.array([len(k[1]) if k[0] == "bytes" else 1 for k in keys])
    fallback = old_surface.fallback  # `<0x65>` next to `e`: same text, a row the model hardly trained
    candidates = np.array([i for i, k in enumerate(keys) if k[0] == "bytes" and i not in fallback])
    ext_new, ext_old = ext if ext else (None, None)
    return methods.Problem(old_rows, pieces, piece_bytes, ext_new, ext_old, candidates, opts)


def _donor_rows(donor: Any) -> tuple[np.ndarray, np.ndarray]:
    """(input rows, output-head rows) of a donor model; a tied donor gives its input rows for both."""
    parts = layout(donor)
    rows = parts.input.weight.detach().float().numpy()
    head = parts.output.weight.detach().float().numpy() if parts.output is not None else rows
    return rows, head


def _donor_spaces(
    donor: tuple[Any, Any, str] | None,
    new_s: Surface,
    mapping: dict[int, int],
    todo: list[int],
    ext: tuple | None,
    candidates: np.ndarray,
) -> dict[str, methods.Donor]:
    """The OMP donor space for each head. With a donor model (model, tokenizer, name): its rows for the new
    tokens (matched by their bytes: the donor's tokenizer is the new one, perhaps with our carried specials
    added) and, as the dictionary, its rows for the tokens shared with the old vocabulary. Without one: the
    external embedder's vectors of the new tokens and of the shared ordinary tokens."""
    if donor is None:
        assert ext is not None
        ordinary = set(candidates.tolist())
        pairs = np.array([(n, o) for n, o in mapping.items() if o in ordinary], np.int64).reshape(-1, 2)
        space = methods.Donor.build(ext[0], ext[1][pairs[:, 1]], pairs[:, 1], "external")
        return {"input": space, "output": space}
    model, tok, name = donor
    index: dict[Any, int] = {}
    for i, key in enumerate(surface(tok.backend_tokenizer).keys):
        index.setdefault(key, i)
    rows, head = _donor_rows(model)
    where = [index.get(new_s.keys[i], -1) for i in todo]
    missing = [new_s.text(i) for i, w in zip(todo, where, strict=True) if not 0 <= w < len(rows)]
    if missing:
        raise InputError(
            f"donor {name}: {len(missing):,} new tokens have no row there (first: {missing[0]!r}); the donor "
            "must use the new tokenizer"
        )
    pairs = [
        (index[new_s.keys[n]], o)
        for n, o in mapping.items()
        if index.get(new_s.keys[n], -1) in range(len(rows))
    ]
    atoms = np.array(pairs, np.int64).reshape(-1, 2)
    spaces = {}
    for head_name, matrix in (("input", rows), ("output", head)):
        spaces[head_name] = methods.Donor.build(matrix[where], matrix[atoms[:, 0]], atoms[:, 1], name)
    if head is rows:
        spaces["output"] = spaces["input"]  # one pursuit serves both heads
    return spaces


def _estimate(
    method: str, problem: methods.Problem, old_surface: Surface
) -> tuple[np.ndarray, list[float] | None]:
    if method == "fitted":
        token_bytes = [k[1] if k[0] == "bytes" else b"" for k in old_surface.keys[: len(problem.old)]]
        rows, coef = methods.fitted_rows(problem, token_bytes)  # type: ignore[arg-type]
        return rows, [float(c) for c in coef]
    return methods.estimate(method, problem), None


def _external(
    embedder: Any, new_s: Surface, old_s: Surface, todo: list[int], pieces: list[list[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """External embeddings of the new tokens, and of the old tokens a method can use: ordinary tokens (global
    neighbours) and the pieces. Rows of old specials nothing spells a new token with stay zero, uncomputed."""
    if embedder is None:
        from everybit.tokenadapt.embedder import Embedder

        embedder = Embedder()
    ext_new = embedder.encode([new_s.text(i) for i in todo], "embedding new tokens")
    needed = sorted({i for i, key in enumerate(old_s.keys) if key[0] == "bytes"}.union(*pieces))
    ext_old = np.zeros((len(old_s.keys), ext_new.shape[1]), np.float32)
    ext_old[needed] = embedder.encode([old_s.text(i) for i in needed], "embedding old tokens")
    return ext_new, ext_old


def transplant(
    model: Any,
    old_tok: Any,
    new_tok: Any,
    method: str = "hybrid",
    opts: methods.Options | None = None,
    embedder: Any = None,
    pad_to: int | None = None,
    calibration_text: str | None = None,
    donor: tuple[Any, Any, str] | None = None,
) -> Report:
    """Replaces model's vocabulary by new_tok's in place (new_tok gains the old special tokens it lacked).
    `calibrated` needs calibration_text (never the text it will be evaluated on). donor: (model, tokenizer,
    name) of a model that already uses the new tokenizer, the space omp fits in (default: the external
    embedder's)."""
    if method not in methods.METHODS:
        raise UsageError(f"--method must be one of {', '.join(methods.METHODS)}, not {method!r}")
    if method == "calibrated" and not (calibration_text and calibration_text.strip()):
        raise UsageError("--method calibrated needs --calibration-text FILES")
    opts = opts or methods.Options()
    clock = {"start": time.perf_counter()}
    parts = layout(model)
    added, unused = _carry_specials(new_tok, old_tok)
    old_s, new_s = surface(old_tok.backend_tokenizer), surface(new_tok.backend_tokenizer)
    old_in = parts.input.weight.detach().float().numpy()
    if len(old_in) < len(old_s.keys):
        raise InputError(
            f"tokenizer has {len(old_s.keys)} tokens but the model only {len(old_in)} rows: "
            "they do not belong together"
        )
    mapping = shared_ids(new_s, old_s)
    roles = _role_rows(new_tok, old_tok, mapping)
    todo = [i for i in range(len(new_s.keys)) if i not in mapping]
    pieces = _pieces(new_s, old_s, old_tok.backend_tokenizer, todo)
    clock["matched"] = time.perf_counter()
    external = method in methods.SEMANTIC or (method in methods.DONOR_SPACE and donor is None)
    ext = _external(embedder, new_s, old_s, todo, pieces) if external and todo else None
    clock["embedded"] = time.perf_counter()
    problem = _problem(old_in, pieces, ext, opts, old_s)
    if method == "omp" and opts.k < 1:
        raise UsageError("--method omp needs --k of at least 1")
    spaces = (  # calibrated with k = 0: the hybrid family alone (OMP too costly for the vocabulary)
        _donor_spaces(donor, new_s, mapping, todo, ext, problem.candidates)
        if method in methods.DONOR_SPACE and todo and opts.k > 0
        else {}
    )
    size = len(new_s.keys) if not pad_to else -(-len(new_s.keys) // pad_to) * pad_to
    heads = [("input", old_in)]
    if parts.output is not None:
        heads.append(("output", parts.output.weight.detach().float().numpy()))
    src = np.array(list(mapping.items()), dtype=np.int64).reshape(-1, 2)
    new_rows: dict[str, np.ndarray] = {}
    candidates: dict[str, list] = {}
    coef = None
    for name, old_rows in heads:
        rows = np.zeros((size, old_rows.shape[1]), np.float32)  # padding rows stay zero
        rows[src[:, 0]] = old_rows[src[:, 1]]
        head = replace(problem, old=old_rows, donor=spaces.get(name))  # neighbour search shared by heads
        if todo and method == "calibrated":
            candidates[name] = methods.hybrid_candidates(head)
            if head.donor is not None:
                candidates[name].append(({"omp": 1.0}, methods.omp_rows(head)))
        elif todo:
            est, c = _estimate(method, head, old_s)
            rows[todo] = est
            coef = coef or c
        new_rows[name] = rows
    clock["estimated"] = time.perf_counter()
    _resize(model, size, parts)
    _set_rows(model, new_rows, parts.tied)
    _update_config(model, new_tok, size)
    tried = (
        _calibrate(model, new_tok, new_rows, candidates, todo, parts.tied, calibration_text)
        if candidates
        else None
    )
    clock["done"] = time.perf_counter()
    stages = ["start", "matched", "embedded", "estimated", "done"]
    seconds = {b: round(clock[b] - clock[a], 3) for a, b in itertools.pairwise(stages)}
    return Report(
        method,
        len(old_s.keys),
        len(new_s.keys),
        size,
        len(mapping),
        len(todo),
        roles_mapped=roles,
        added_specials=added,
        unused_specials=unused,
        embed_scale=parts.scale,
        embed_scale_source=parts.scale_source,
        coefficients=coef,
        seconds=seconds,
        calibration=tried,
        donor_space=spaces["input"].source if spaces else None,
        omp_atoms=len(spaces["input"].atoms) if spaces else None,
        estimated_ids=todo,
    )


def _resize(model: Any, size: int, before: Layout) -> None:
    """resize_token_embeddings, then a check that the embedding module kept its scale and its tying.
    transformers re-ties by the config's flag, so the flag is first set to what the weights do."""
    model.config.get_text_config().tie_word_embeddings = before.tied
    model.resize_token_embeddings(size, mean_resizing=False)
    after = layout(model)
    if (after.tied, after.scale, after.scale_source) != (before.tied, before.scale, before.scale_source):
        raise InputError(
            f"resizing {type(model).__name__}'s embeddings changed them (tied {before.tied} -> {after.tied}, "
            f"scale {before.scale:g} from {before.scale_source} -> {after.scale:g} from {after.scale_source})"
        )


def _set_rows(model: Any, rows: dict[str, np.ndarray], tied: bool) -> None:
    import torch

    dtype = model.get_input_embeddings().weight.dtype
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(torch.from_numpy(rows["input"]).to(dtype))
        if "output" in rows:
            model.get_output_embeddings().weight.copy_(torch.from_numpy(rows["output"]).to(dtype))
    if tied:
        model.tie_weights()


def _calibrate(
    model: Any,
    tok: Any,
    rows: dict[str, np.ndarray],
    candidates: dict[str, list],
    todo: list[int],
    tied: bool,
    text: str | None,
) -> list[dict]:
    """Scores each hybrid member on the calibration text, then blends of the best one with the OMP estimate
    (the last candidate); writes the best into the model."""
    from everybit.common.progress import progress_bar
    from everybit.tokenadapt.evaluate import score

    has_omp = "omp" in candidates["input"][-1][0]
    hybrids = len(candidates["input"]) - has_omp
    blends = methods.CALIBRATION_BLENDS if has_omp else ()
    tried: list[dict] = []

    def trial(params: dict, chosen: dict[str, np.ndarray]) -> None:
        for name in rows:
            rows[name][todo] = chosen[name]
        _set_rows(model, rows, tied)
        tried.append({**params, "bits_per_byte": score(model, tok, text or "").bits_per_byte})
        bar.update(1)

    with progress_bar(hybrids + len(blends), "calibrating", unit="candidate") as bar:
        for k in range(hybrids):
            trial(candidates["input"][k][0], {name: candidates[name][k][1] for name in rows})
        best = min(range(hybrids), key=lambda k: tried[k]["bits_per_byte"])
        for share in blends:
            blend = {
                name: ((1 - share) * candidates[name][best][1] + share * candidates[name][-1][1]).astype(
                    np.float32
                )
                for name in rows
            }
            trial({**candidates["input"][best][0], "omp": share}, blend)
    winner = min(range(len(tried)), key=lambda k: tried[k]["bits_per_byte"])
    share = tried[winner].get("omp", 0.0)
    for name in rows:
        rows[name][todo] = (1 - share) * candidates[name][best][1] + share * candidates[name][-1][1]
    _set_rows(model, rows, tied)
    tried[winner]["chosen"] = True
    return tried


def _update_config(model: Any, tok: Any, size: int) -> None:
    model.config.vocab_size = size
    embedding = model.get_input_embeddings()
    if getattr(embedding, "padding_idx", None) is not None:  # its row gets no gradient when healing
        embedding.padding_idx = tok.pad_token_id
    for role in ("bos", "eos", "pad"):
        token_id = getattr(tok, f"{role}_token_id", None)
        for cfg in (model.config, getattr(model, "generation_config", None)):
            if cfg is not None:
                setattr(cfg, f"{role}_token_id", token_id)


def save(model: Any, tok: Any, out: str | Path, report: Report, overwrite: bool = False) -> Path:
    """save_pretrained (safetensors) + the tokenizer + tokenadapt.json, all or nothing."""
    from everybit.common.atomic import atomic_dir

    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        record = {k: v for k, v in asdict(report).items() if k != "estimated_ids"}
        (tmp / "tokenadapt.json").write_text(json.dumps(record, indent=2) + "\n")
    return Path(out)
