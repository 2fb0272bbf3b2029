"""The estimators on synthetic problems whose answers are known."""

import numpy as np
import pytest

from everybit.tokenadapt import methods
from everybit.tokenadapt.methods import Options, Problem


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    old = rng.standard_normal((50, 8)).astype(np.float32)
    ext_old = unit(rng.standard_normal((50, 16))).astype(np.float32)
    pieces = [[1, 2], [3], [4, 5, 6], []]
    ext_new = unit(ext_old[[1, 3, 4, 0]] + 0.1 * rng.standard_normal((4, 16))).astype(np.float32)
    return Problem(old, pieces, np.full(50, 2), ext_new, ext_old, np.arange(50), Options(top_k=2))


def test_simple_methods(problem):
    np.testing.assert_allclose(methods.subtoken_mean(problem)[0], problem.old[[1, 2]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(methods.subtoken_mean(problem)[3], problem.old.mean(0), rtol=1e-6)  # no pieces
    assert np.allclose(methods.mean_rows(problem), problem.old.mean(0))
    rnd = methods.random_rows(problem)
    assert rnd.shape == (4, 8) and np.isfinite(rnd).all()
    assert np.array_equal(rnd, methods.random_rows(problem))  # seeded


def test_local_weights_follow_the_formula():
    w = methods.local_weights(np.array([0.9, 0.1]), np.array([3.0, 1.0]), temperature=0.5)
    sem = np.exp([0.9, 0.1]) / np.exp([0.9, 0.1]).sum()
    mixed = (sem + np.array([0.75, 0.25])) / 2
    expected = np.exp(mixed / 0.5) / np.exp(mixed / 0.5).sum()
    np.testing.assert_allclose(w, expected)


def test_global_neighbours_threshold_and_exclusion(problem):
    rows, found = methods.global_rows(problem)
    assert found.all()
    problem.opts.threshold = 2.0  # cosine never reaches it
    _, found = methods.global_rows(problem)
    assert not found.any()
    problem.opts.threshold, problem.opts.top_k = 0.0, 1
    rows, _ = methods.global_rows(problem)
    np.testing.assert_allclose(rows[1], problem.old[3], rtol=1e-5)  # nearest to token 3's embedding is 3
    rows, _ = methods.global_rows(problem, exclude=np.array([1, 3, 4, 0]))
    assert not np.allclose(rows[1], problem.old[3])


def test_hybrid_mixes_local_and_global(problem):
    local, (glob, _) = methods.local_rows(problem), methods.global_rows(problem)
    np.testing.assert_allclose(methods.hybrid_rows(problem), 0.7 * local + 0.3 * glob, rtol=1e-5, atol=1e-6)


def test_fitted_learns_the_models_composition_rule():
    """When an old token's row is 1.5 x (sum of its two halves' rows), the fit finds that rule and beats
    the plain average on unseen tokens."""
    rng = np.random.default_rng(1)
    letters = [bytes([c]) for c in b"abcdefghij"]
    words = letters + [a + b for a in letters for b in letters]
    old = np.zeros((len(words), 12), np.float32)
    old[:10] = rng.standard_normal((10, 12))
    index = {w: i for i, w in enumerate(words)}
    for w in words[10:]:
        old[index[w]] = 1.5 * (old[index[w[:1]]] + old[index[w[1:]]])
    ext_old = unit(rng.standard_normal((len(words), 16))).astype(np.float32)
    new_pieces = [[index[b"a"], index[b"bc"]], [index[b"de"], index[b"f"]]]
    truth = np.stack([1.5 * (old[p[0]] + old[p[1]]) for p in new_pieces])
    ext_new = unit(rng.standard_normal((2, 16))).astype(np.float32)
    p = Problem(
        old,
        new_pieces,
        np.array([len(w) for w in words]),
        ext_new,
        ext_old,
        np.arange(len(words)),
        Options(fit_samples=200),
    )
    rows, coef = methods.fitted_rows(p, words)
    err_fit = np.linalg.norm(rows - truth)
    err_mean = np.linalg.norm(methods.subtoken_mean(p) - truth)
    assert err_fit < 0.3 * err_mean, (err_fit, err_mean, coef)
