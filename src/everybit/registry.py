"""The tools of everybit: names and one-line descriptions, known without importing any tool.

Listing tools must stay cheap (no torch at ``everybit --help``), so the descriptions live here and a
tool counts as *built* once its ``cli`` module exists.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tool:
    name: str
    summary: str
    module: str  # the module holding ``configure(parser)``; ``demo`` lives in ``<package>.demo``

    @property
    def package(self) -> str:
        return self.module.rsplit(".", 1)[0]

    def is_built(self) -> bool:
        """Whether the tool's CLI module exists, found without importing the tool (its package may
        import heavy libraries, and --help must stay fast)."""
        *parents, package, leaf = self.module.split(".")
        try:
            root = importlib.util.find_spec(".".join(parents)) if parents else None
        except ModuleNotFoundError:
            return False
        locations = root.submodule_search_locations if root else sys.path
        return any((Path(loc) / package / f"{leaf}.py").is_file() for loc in locations or [])


def _tool(name: str, summary: str) -> Tool:
    return Tool(name, summary, f"everybit.{name}.cli")


TOOLS: list[Tool] = [
    _tool("ulz", "ULZ: fast byte-aligned LZ77 codec with tiny per-call latency, framed files"),
    _tool("bpez", "byte-pair-encoding pre-pass + deflate, smaller than gzip -9 at gzip-like speed"),
    _tool("imli", "journaling, deduplicating archiver in the ZPAQ format (zpaq 7.15 interoperable)"),
    _tool("fontpack", "bitmap-font sheet compressor: grid detection, pack+RLE and context coding"),
    _tool("imgkan", "image codec whose file is a quantized Kolmogorov-Arnold coordinate network"),
    _tool("supertok", "supertokenizer: BPE over random-length chunks so tokens span words"),
    _tool("tokenadapt", "transplant a new tokenizer into a causal LM (hybrid embedding init)"),
    _tool("probe", "causal-intervention studies on HF causal LMs: patching, transplant, ablation"),
]


def find(name: str) -> Tool | None:
    return next((t for t in TOOLS if t.name == name), None)
