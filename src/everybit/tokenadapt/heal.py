"""Optional healing: a few optimizer steps on the new embedding rows only, with a recovery curve.

Every weight is frozen except the embedding matrix (and an untied output head), and gradients of rows that
were copied from the old model are zeroed, so only the estimated rows move. The curve records the training
loss of each step and the bits per byte of a held-out tenth of the healing text every `eval_every` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from everybit.common.progress import progress_bar
from everybit.tokenadapt.evaluate import score
from everybit.tokenadapt.models import layout

SEQ_LEN = 256


@dataclass
class Point:
    step: int
    train_loss: float | None
    val_bits_per_byte: float | None


def _batches(tok: Any, text: str, batch: int, seq_len: int) -> list[Any]:
    import torch

    ids = tok(text, add_special_tokens=False)["input_ids"]
    n = len(ids) // seq_len
    if n == 0:
        raise ValueError(f"healing text too short: {len(ids)} tokens, need at least {seq_len}")
    rows = torch.tensor(ids[: n * seq_len]).view(n, seq_len)
    return [rows[i : i + batch] for i in range(0, n, batch)]


def heal(
    model: Any,
    tok: Any,
    new_ids: Sequence[int],
    text: str,
    steps: int,
    lr: float = 1e-3,
    batch: int = 8,
    eval_every: int = 10,
) -> list[Point]:
    """Trains the rows new_ids for `steps` steps on text (90%), evaluating on the other 10%."""
    import torch

    cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1 or int(len(text) * 0.9)
    train_text, val_text = text[:cut], text[cut:]
    batches = _batches(tok, train_text, batch, SEQ_LEN)
    parts = layout(model)
    params = [parts.input.weight] + ([parts.output.weight] if parts.output is not None else [])
    for p in model.parameters():
        p.requires_grad_(False)
    mask = torch.zeros(params[0].shape[0], 1, dtype=params[0].dtype)
    mask[list(new_ids)] = 1
    hooks = []
    for p in params:
        p.requires_grad_(True)
        hooks.append(p.register_hook(lambda g: g * mask))
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    curve = [Point(0, None, score(model, tok, val_text).bits_per_byte if val_text.strip() else None)]
    model.train()
    with progress_bar(steps, "healing", unit="step") as bar:
        for step in range(1, steps + 1):
            ids = batches[(step - 1) % len(batches)]
            loss = model(input_ids=ids, labels=ids).loss
            optim.zero_grad()
            loss.backward()
            optim.step()
            val = None
            if (step % eval_every == 0 or step == steps) and val_text.strip():
                model.eval()
                val = score(model, tok, val_text).bits_per_byte
                model.train()
            curve.append(Point(step, float(loss.detach()), val))
            bar.update(1)
    model.eval()
    for h in hooks:
        h.remove()
    for p in params:
        p.requires_grad_(False)
    return curve
