"""Loading a causal LM for probing: a local HF folder, a .gguf file or a hub id, any dtype and device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from everybit.common import hfmodels
from everybit.common.errors import InputError
from everybit.probe.adapters import Adapter, adapter_for


@dataclass(repr=False)
class LoadedModel:
    """An HF causal LM in eval mode, its tokenizer and its discovered adapter."""

    model: Any
    tokenizer: Any
    adapter: Adapter
    name: str

    def __repr__(self) -> str:  # one line, never the module tree or the vocabulary
        a = self.adapter
        dtype = str(self.dtype).removeprefix("torch.")
        return (
            f"LoadedModel({self.name}: {a.family}, {a.n_layers} layers, d_model {a.d_model}, "
            f"{a.n_heads} heads x {a.head_dim}, d_mlp {a.d_mlp}, vocab {a.vocab_size}, "
            f"{dtype} on {self.device})"
        )

    @property
    def device(self) -> Any:
        """Where inputs go: the device of the input embeddings (the first one under device_map)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> Any:
        return self.model.get_input_embeddings().weight.dtype

    def _tok(self) -> Any:
        if self.tokenizer is None:
            raise InputError(f"{self.name}: no tokenizer loaded: pass token ids instead of text")
        return self.tokenizer

    def encode(self, text: str, *, add_special_tokens: bool | None = None) -> list[int]:
        """Token ids of `text`. None follows the tokenizer's default (Llama-3 and Gemma add BOS, SmolLM2 and
        GPT-2 add nothing); True / False force it."""
        tok = self._tok()
        if add_special_tokens is None:
            return list(tok(text)["input_ids"])
        return list(tok(text, add_special_tokens=add_special_tokens)["input_ids"])

    def token_id(self, text: str) -> int:
        """The id of `text` as one token (targets such as ' yes'); InputError when it is not one token."""
        ids = self.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            pieces = [self.decode([i]) for i in ids]
            raise InputError(
                f"{text!r} is {len(ids)} tokens {pieces} for {self.name}: targets must be single tokens"
            )
        return ids[0]

    def decode(self, ids: Any) -> str:
        return self._tok().decode(ids)


def load_model(
    source: str | Path, *, dtype: str = "float32", device: str = "cpu", device_map: str | None = None
) -> LoadedModel:
    """A model to probe from a local HF folder, a .gguf file (dequantized to dtype) or a hub id.

    device_map="auto" lets accelerate spread the layers over every visible GPU (and CPU); otherwise the
    whole model goes to `device`. A model whose structure cannot be mapped raises EverybitError naming
    the missing piece before any work is done.
    """
    model, tok = hfmodels.load(source, dtype, device=device, device_map=device_map, tool="probe")
    adapter = adapter_for(model)
    name = Path(source).name if Path(source).exists() else str(source)
    return LoadedModel(model=model, tokenizer=tok, adapter=adapter, name=name)


def wrap_model(model: Any, tokenizer: Any = None, *, name: str = "model") -> LoadedModel:
    """A LoadedModel around a model already in memory (tests, notebooks); puts it in eval mode."""
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, adapter=adapter_for(model), name=name)
