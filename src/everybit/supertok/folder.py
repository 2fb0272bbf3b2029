"""A trained tokenizer as an HF folder: tokenizer.json (for `tokenizers`), tokenizer_config.json and
special_tokens_map.json (for `transformers.AutoTokenizer`), and supertok.json (how it was trained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from everybit.common.atomic import atomic_dir

RECORD = "supertok.json"


def hf_config(specials: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,  # it would change the text: decode must give back the input
        "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,  # transformers' "no limit"
    }
    config.update({f"{role}_token": token for role, token in specials.items()})
    return config


def save(
    tok: Tokenizer, out: str | Path, specials: dict[str, str], record: dict[str, Any], overwrite: bool = False
) -> Path:
    """Writes the folder atomically (all files or none); returns its path."""
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        tok.save(str(tmp / "tokenizer.json"))
        files = {
            "tokenizer_config.json": hf_config(specials),
            "special_tokens_map.json": {f"{role}_token": token for role, token in specials.items()},
            RECORD: record,
        }
        for name, data in files.items():
            (tmp / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return out
