"""Healing: a short training run, budgeted in steps or CPU-minutes, for a causal LM that was just given a new
tokenizer (its new embedding rows estimated, never trained), with a recovery curve.

What trains (``train``, TRAIN_MODES):

- ``rows``: only the estimated rows of the input embedding and of an untied output head; the gradients of the
  rows copied from the old model are zeroed, so those rows and every other weight stay bit-identical;
- ``rows+norms``: the rows, plus the weight (and bias) of every normalisation layer;
- ``lora``: the rows, plus rank-LORA_RANK adapters on every nn.Linear but the output head (forward hooks, no
  new modules); the adapters are merged into the Linear weights when training ends, also on an interruption
  or an error (the model is then what training had reached), so the model stays a plain HF model with the
  same state_dict keys;
- ``all``: every parameter; the new rows at the rows' learning rate, everything else (the copied rows
  included) at the body's.

AdamW (betas 0.9/0.99, no weight decay, so the masked rows cannot drift), LEARNING_RATES per mode and group;
``lr`` sets the rows' rate and scales the mode's other rates with it. The rate warms up linearly over
WARMUP_STEPS steps, then follows a cosine to FINAL_LR of its peak at the end of the budget (the larger of the
step and the CPU fractions spent).

Training windows are seq_len tokens at seeded random offsets of the tokenized text, each preceded by the
tokenizer's bos (else eos) token like evaluate.py's samples. Each Point of the curve records the training
CPU seconds (time.process_time(), all threads, of the training steps alone: evaluation is not counted), the
training wall seconds, tokens and text bytes seen, the mean training loss since the previous point, and bits
per byte (evaluate.score) on each validation text. Points come at step 0, after the steps nearest to the
CPU-minute marks of ``eval_at`` (default EVAL_MARKS up to the budget) or, with only ``steps`` given, every
tenth of the steps, and at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from everybit.common.errors import InputError
from everybit.common.progress import progress_bar
from everybit.tokenadapt.evaluate import _prefix_id, score
from everybit.tokenadapt.models import layout

TRAIN_MODES = ("rows", "rows+norms", "lora", "all")
DEFAULT_MODE = "rows+norms"  # the lowest held-out bits per byte per CPU-minute (docs/tokenadapt.md)
# Peak learning rates per mode and parameter group ("rows": the estimated rows; "body": every other weight).
LEARNING_RATES: dict[str, dict[str, float]] = {
    "rows": {"rows": 3e-3},
    "rows+norms": {"rows": 3e-3, "norms": 1e-2},
    "lora": {"rows": 3e-3, "lora": 1e-3},
    "all": {"rows": 3e-3, "body": 3e-5},
}
LORA_RANK = 8
LORA_ALPHA = 16.0  # adapters add (alpha / rank) * B A x
WARMUP_STEPS = 2  # Adam's first update moves every element with a gradient by lr: halve it
FINAL_LR = 0.1  # the cosine ends at this fraction of the peak
EVAL_MARKS = (0, 0.5, 1, 2, 4, 8, 15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 960, 1440)  # CPU-minutes
HOLD_OUT = 0.1  # share of the training text held out when no validation text is given
CHUNK_CHARS = 1 << 20  # the training text is tokenized in pieces of about this size, cut after newlines
SEQ_LEN = 256


@dataclass
class Point:
    step: int
    tokens: int  # tokens predicted in training so far
    train_bytes: int  # UTF-8 bytes of text those tokens spell
    cpu_seconds: float  # process CPU seconds (all threads) spent in training steps, evaluation excluded
    wall_seconds: float  # wall seconds of the same
    train_loss: float | None  # mean training loss (nats per token) since the previous point
    val_bits_per_byte: float | None  # all validation texts together (byte-weighted)
    val_bpb: dict[str, float]  # bits per byte per validation text


def split_held_out(text: str, share: float = HOLD_OUT) -> tuple[str, str]:
    """(train, held-out): the last `share` of text, cut just after a newline where there is one."""
    at = int(len(text) * (1 - share))
    cut = text.rfind("\n", 0, at) + 1 or at
    return text[:cut], text[cut:]


def _chunks(text: str, size: int) -> Iterable[str]:
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            nl = text.rfind("\n", start, end)
            end = nl + 1 if nl > start else end
        yield text[start:end]
        start = end


def _char_bytes(text: str) -> np.ndarray:
    """UTF-8 length of each character of text."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return 1 + (cp >= 0x80).astype(np.uint8) + (cp >= 0x800) + (cp >= 0x10000)


def tokenize(tok: Any, text: str, chunk_chars: int = CHUNK_CHARS) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, UTF-8 bytes each token covers) of text, tokenized in newline-cut chunks so that memory
    stays bounded for texts of tens of MB. A token covers the bytes from the previous token's end to its own
    (offsets of a fast tokenizer); without offsets a chunk's bytes are spread evenly over its tokens."""
    backend = getattr(tok, "backend_tokenizer", None)
    ids_parts, byte_parts = [], []
    for chunk in _chunks(text, chunk_chars):
        if backend is not None:
            enc = backend.encode(chunk, add_special_tokens=False)
            ids = np.asarray(enc.ids, dtype=np.int64)
            ends = np.maximum.accumulate(np.asarray([e for _, e in enc.offsets], dtype=np.int64))
            cum = np.concatenate([[0], np.cumsum(_char_bytes(chunk), dtype=np.int64)])
            nbytes = np.diff(cum[ends], prepend=0) if len(ids) else np.zeros(0, np.int64)
        else:
            ids = np.asarray(tok(chunk, add_special_tokens=False)["input_ids"], dtype=np.int64)
            edges = np.round(np.linspace(0, len(chunk.encode()), len(ids) + 1)).astype(np.int64)
            nbytes = np.diff(edges)
        ids_parts.append(ids.astype(np.int32))
        byte_parts.append(nbytes.astype(np.uint32))
    if not ids_parts:
        return np.zeros(0, np.int32), np.zeros(0, np.uint32)
    return np.concatenate(ids_parts), np.concatenate(byte_parts)


def _lora_hook(a: Any, b: Any, scale: float) -> Any:
    def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        return output + (inputs[0] @ a.T) @ b.T * scale

    return hook


def _norm_params(model: Any) -> list[Any]:
    import torch.nn as nn

    kinds = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
    found: dict[int, Any] = {}
    for module in model.modules():
        if isinstance(module, kinds) or "norm" in type(module).__name__.lower():
            found.update((id(p), p) for p in module.parameters(recurse=False))
    return list(found.values())


class _Trainer:
    """The trainable parameters and the optimizer of one mode; close() leaves a plain model behind."""

    def __init__(self, model: Any, new_ids: Sequence[int], mode: str, lr: float | None, gen: Any) -> None:
        import torch

        self.model = model
        self.hooks: list[Any] = []
        self.adapters: list[tuple[Any, Any, Any]] = []  # (linear, A, B)
        self.masks: list[tuple[Any, Any]] = []  # (weight, 0/1 column): zero the copied rows' gradients
        self.boosts: list[tuple[Any, Any, float]] = []  # (weight, rows, factor): a larger lr for those rows
        rates = LEARNING_RATES[mode]
        lrs = {k: v * (lr / rates["rows"] if lr is not None else 1.0) for k, v in rates.items()}
        parts = layout(model)
        rows = [parts.input.weight] + ([parts.output.weight] if parts.output is not None else [])
        for p in model.parameters():
            p.requires_grad_(False)
        new = torch.as_tensor(sorted(set(new_ids)), dtype=torch.long, device=rows[0].device)
        if mode == "all":
            groups = [{"params": list(model.parameters()), "lr": lrs["body"]}]
            self.boosts = [(w, new, lrs["rows"] / lrs["body"]) for w in rows]
        else:
            mask = torch.zeros(rows[0].shape[0], 1, dtype=rows[0].dtype, device=rows[0].device)
            mask[new] = 1
            self.masks = [(w, mask) for w in rows]
            groups = [{"params": rows, "lr": lrs["rows"]}]
            if mode == "rows+norms":
                groups.append({"params": _norm_params(model), "lr": lrs["norms"]})
            elif mode == "lora":
                groups.append({"params": self._add_lora(gen), "lr": lrs["lora"]})
        for group in groups:
            group["peak"] = group["lr"]
            for p in group["params"]:
                p.requires_grad_(True)
        self.optim = torch.optim.AdamW(groups, betas=(0.9, 0.99), weight_decay=0.0)

    def _add_lora(self, gen: Any) -> list[Any]:
        import torch

        head = self.model.get_output_embeddings()
        params = []
        for module in self.model.modules():
            if not isinstance(module, torch.nn.Linear) or module is head:
                continue
            w = module.weight
            a = torch.randn(LORA_RANK, w.shape[1], generator=gen).div_(math.sqrt(w.shape[1]))
            a = a.to(w.device, w.dtype).requires_grad_(True)
            b = torch.zeros(w.shape[0], LORA_RANK, dtype=w.dtype, device=w.device, requires_grad=True)
            self.adapters.append((module, a, b))
            self.hooks.append(module.register_forward_hook(_lora_hook(a, b, LORA_ALPHA / LORA_RANK)))
            params += [a, b]
        return params

    def set_lr(self, factor: float) -> None:
        for group in self.optim.param_groups:
            group["lr"] = group["peak"] * factor

    def step(self, loss: Any) -> None:
        import torch

        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        for w, mask in self.masks:
            if w.grad is not None:
                w.grad.mul_(mask)
        before = [w.detach()[rows] for w, rows, _ in self.boosts]  # advanced indexing copies
        self.optim.step()
        with torch.no_grad():
            for (w, rows, factor), old in zip(self.boosts, before, strict=True):
                w[rows] = old + (w[rows] - old) * factor  # exact: Adam's step is linear in lr

    def close(self) -> None:
        """Remove the hooks, merge the adapters, freeze everything, eval mode; safe to call twice."""
        import torch

        for hook in self.hooks:
            hook.remove()
        self.hooks = []
        with torch.no_grad():
            for module, a, b in self.adapters:
                delta = (b.detach().float() @ a.detach().float()) * (LORA_ALPHA / LORA_RANK)
                module.weight += delta.to(module.weight.dtype)
        self.adapters = []
        self.optim.state.clear()
        for p in self.model.parameters():
            p.requires_grad_(False)
            p.grad = None
        self.model.eval()


def _validate(
    steps: int | None, cpu_minutes: float | None, train: str, batch: int, seq_len: int, lr: float | None
) -> None:
    if steps is None and cpu_minutes is None:
        raise ValueError("healing needs a budget: steps, cpu_minutes or both")
    if steps is not None and steps < 1:
        raise ValueError(f"healing steps must be at least 1, not {steps}")
    if cpu_minutes is not None and not cpu_minutes > 0:
        raise ValueError(f"healing cpu_minutes must be positive, not {cpu_minutes}")
    if train not in TRAIN_MODES:
        raise ValueError(f"unknown healing mode {train!r}: choose one of {', '.join(TRAIN_MODES)}")
    if batch < 1 or seq_len < 1:
        raise ValueError(f"healing batch and seq_len must be at least 1, not {batch} and {seq_len}")
    if lr is not None and not lr > 0:
        raise ValueError(f"healing lr must be positive, not {lr}")


def heal(
    model: Any,
    tok: Any,
    new_ids: Sequence[int],
    train_text: str,
    steps: int | None = None,
    *,
    val_texts: Mapping[str, str] | None = None,
    cpu_minutes: float | None = None,
    train: str = DEFAULT_MODE,
    lr: float | None = None,
    batch: int = 8,
    seq_len: int = SEQ_LEN,
    eval_at: Sequence[float] | None = None,
    seed: int = 0,
) -> list[Point]:
    """Trains `model` (mode `train`) on train_text until `steps` steps or `cpu_minutes` of training CPU time,
    whichever comes first, and returns the curve. Without val_texts the last tenth of train_text is held out
    as {"held-out": ...}. A CPU budget is not overrun: training stops before a step that would (by the mean
    step so far) end past it, but the first step is always taken. The model is left in eval mode, every
    parameter frozen, no hook or adapter left (LoRA merged), also when interrupted."""
    import torch

    _validate(steps, cpu_minutes, train, batch, seq_len, lr)
    if val_texts is None:
        train_text, held = split_held_out(train_text)
        val_texts = {"held-out": held}
    vals = {name: text for name, text in val_texts.items() if text.strip()}
    ids, nbytes = tokenize(tok, train_text)
    if len(ids) < seq_len:
        raise InputError(
            f"healing text too short: {len(ids):,} tokens to train on, need at least seq_len={seq_len:,} "
            "(give more text or a smaller seq_len)"
        )
    first = _prefix_id(tok)
    budget_s = cpu_minutes * 60 if cpu_minutes is not None else None
    if budget_s is None and eval_at is None:
        every, marks = max(1, steps // 10), []  # type: ignore[operator]
    else:
        every = 0
        chosen = EVAL_MARKS if eval_at is None else eval_at
        marks = sorted(m * 60 for m in chosen if m > 0 and (budget_s is None or m * 60 < budget_s))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    starts = len(ids) - seq_len + 1

    def evaluate(step: int, tokens: int, seen: int, cpu: float, wall: float, loss: float | None) -> Point:
        model.eval()
        scores = {name: score(model, tok, text) for name, text in vals.items()}
        model.train()
        total = sum(s.bytes for s in scores.values())
        overall = sum(s.bits_per_byte * s.bytes for s in scores.values()) / total if total else None
        val = {name: s.bits_per_byte for name, s in scores.items()}
        return Point(step, tokens, seen, cpu, wall, loss, overall, val)

    trainer = _Trainer(model, new_ids, train, lr, gen)
    try:
        curve = [evaluate(0, 0, 0, 0.0, 0.0, None)]
        step = tokens = seen = 0
        cpu = wall = loss_sum = 0.0
        loss_n = 0
        model.train()
        total, unit = (steps, "step") if budget_s is None else (budget_s, "s")
        with progress_bar(total, "healing", unit=unit) as bar:
            while steps is None or step < steps:
                if budget_s is not None and step > 0 and cpu + cpu / step > budget_s:
                    break
                c0, w0 = time.process_time(), time.perf_counter()
                offsets = torch.randint(0, starts, (batch,), generator=gen)
                window = np.stack([ids[o : o + seq_len] for o in offsets.tolist()])
                window = torch.from_numpy(window).long()
                x = torch.cat([torch.full((batch, 1), first, dtype=torch.long), window], 1).to(device)
                progress = max(step / steps if steps else 0.0, cpu / budget_s if budget_s else 0.0)
                cosine = FINAL_LR + (1 - FINAL_LR) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
                trainer.set_lr(min(1.0, (step + 1) / WARMUP_STEPS) * cosine)
                loss = model(input_ids=x, labels=x, use_cache=False).loss
                trainer.step(loss)
                loss_sum += float(loss.detach())
                loss_n += 1
                seen += int(sum(int(nbytes[o : o + seq_len].sum()) for o in offsets.tolist()))
                tokens += batch * seq_len
                step += 1
                dc = time.process_time() - c0
                cpu += dc
                wall += time.perf_counter() - w0
                bar.update(1 if budget_s is None else dc)
                due = every > 0 and step % every == 0
                while marks and cpu + cpu / step / 2 >= marks[0]:  # the step that ends nearest the mark
                    marks.pop(0)
                    due = True
                if due:
                    curve.append(evaluate(step, tokens, seen, cpu, wall, loss_sum / loss_n))
                    loss_sum, loss_n = 0.0, 0
        if curve[-1].step != step:
            curve.append(evaluate(step, tokens, seen, cpu, wall, loss_sum / max(loss_n, 1)))
    finally:
        trainer.close()
    return curve
