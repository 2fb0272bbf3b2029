"""Initial embeddings for the tokens a model has never seen.

Every method gets the same `Problem`: the old embedding matrix, each new token's pieces under the old
tokenizer and (for the semantic methods) external embeddings of the token strings; it returns one row per
new token.

- ``random``: N(mean, std) per dimension of the old rows; ``mean``: the mean old row;
- ``subtoken-mean`` (ReTok): the plain mean of the pieces' rows;
- ``local`` (TokenAdapt): pieces weighted by (softmax of external similarity to the whole token + byte-length
  share) / 2, sharpened by a temperature softmax;
- ``global`` (TokenAdapt): the top-k old tokens nearest in the external space, softmax(similarity / T), above
  a similarity threshold;
- ``hybrid`` (TokenAdapt): (1 - w) local + w global (local alone when no neighbour passes the threshold);
- ``omp`` (mergekit tokensurgeon's, our implementation in omp.py): in a donor space where the new tokens and
  the shared tokens both have vectors (a model that already uses the new tokenizer, or else the external
  embedder's space), each new token is approximated by k shared tokens by Orthogonal Matching Pursuit, and the
  same coefficients combine the shared tokens' rows of the base model;
- ``calibrated`` (ours): the hybrid family over a grid of global weights w and temperatures T, each member
  written into the model and scored by the model itself on calibration text (bits per byte); the best is kept,
  then blended with the OMP estimate, (1 - b) hybrid + b omp, b chosen the same way. Hybrid's fixed w = 0.3,
  T = 0.6 and OMP itself (b = 1) are members, so the choice can only match or beat both on that text;
- ``fitted`` (ours, experimental): a least-squares combination of those estimates plus the first piece,
  the last piece and a ridge map from the external space, with coefficients fitted on the *old* vocabulary,
  where the truth is known: each old token is split into two old tokens, every estimate is computed for it
  as if it were new (its own row and its own neighbour excluded), and the coefficients minimise the squared
  error to its real row. It wins in embedding space but not in bits per byte (docs/tokenadapt.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from everybit.tokenadapt.embedder import nearest

METHODS = ("random", "mean", "subtoken-mean", "local", "global", "hybrid", "fitted", "omp", "calibrated")
SEMANTIC = ("local", "global", "hybrid", "fitted", "calibrated")  # the methods that need external embeddings
DONOR_SPACE = ("omp", "calibrated")  # the methods that fit in a donor space (external when no donor)
CALIBRATION_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 1.0)  # 0.3 with T 0.6 is TokenAdapt's hybrid
CALIBRATION_TEMPERATURES = (0.3, 0.6)
CALIBRATION_BLENDS = (0.25, 0.5, 0.75, 1.0)  # shares of the OMP estimate tried against the best hybrid
RIDGE_BLOCK = 16_384  # rows per step of the fitted method's ridge regression


@dataclass
class Options:
    global_weight: float = 0.3
    temperature: float = 0.6
    top_k: int = 3
    threshold: float = 0.0
    hnsw: bool = False
    seed: int = 0
    fit_samples: int = 20_000  # old tokens the fitted method learns from
    k: int = 64  # omp: atoms per new token (mergekit's default)
    device: str = "cpu"  # omp: where the matching pursuit runs


@dataclass
class Donor:
    """A space where the new tokens and a dictionary of shared tokens both have vectors. targets: (n_new, D),
    one row per estimated token; atoms: (n_atoms, D), distinct; atom_ids: the old ids of the shared tokens and
    groups: the atom each of them maps to. Shared tokens with identical vectors (the uncased external
    embedder gives `The`, ` the` and `the` one vector) are one atom whose base row is their mean: OMP on a
    dictionary with repeated atoms divides by a zero residual and returns coefficients of 1e8. fits caches
    the pursuit by k: it depends on the space alone, so a tied donor serves both heads."""

    targets: np.ndarray
    atoms: np.ndarray
    atom_ids: np.ndarray
    groups: np.ndarray
    source: str = "external"  # "external" or the donor model's name, for the report
    fits: dict[int, tuple] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, targets: np.ndarray, vectors: np.ndarray, ids: np.ndarray, source: str) -> Donor:
        """From the shared tokens' vectors (one per old id in ids), merging identical ones."""
        atoms, groups = np.unique(vectors, axis=0, return_inverse=True)
        return cls(targets, atoms, ids, groups.reshape(-1), source)

    def base_rows(self, old: np.ndarray) -> np.ndarray:
        """Each atom's row in the base model: the mean of its shared tokens' rows."""
        sums = np.zeros((len(self.atoms), old.shape[1]), np.float64)
        np.add.at(sums, self.groups, old[self.atom_ids])
        return (sums / np.bincount(self.groups, minlength=len(self.atoms))[:, None]).astype(np.float32)


@dataclass
class Problem:
    """old: (V_old, d) embedding rows; pieces: old ids of each new token's text; piece_bytes: their byte
    lengths; ext_new/ext_old: unit external embeddings of the new tokens and of every old token (None for
    methods that do not use them); candidates: old ids a global neighbour may be; searched: the neighbour
    searches done so far, by (k, hnsw). Copies made with dataclasses.replace for another head or temperature
    share it, so a 262k-token vocabulary is searched once (1.4 ms per new token on 2 cores)."""

    old: np.ndarray
    pieces: list[list[int]]
    piece_bytes: np.ndarray  # byte length of every old token
    ext_new: np.ndarray | None = None
    ext_old: np.ndarray | None = None
    candidates: np.ndarray | None = None
    opts: Options = field(default_factory=Options)
    donor: Donor | None = None
    searched: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _piece_matrix(p: Problem) -> list[np.ndarray]:
    return [np.asarray(ids, dtype=np.int64) for ids in p.pieces]


def random_rows(p: Problem) -> np.ndarray:
    rng = np.random.default_rng(p.opts.seed)
    mean, std = p.old.mean(0), p.old.std(0)
    return (mean + std * rng.standard_normal((len(p.pieces), p.old.shape[1]))).astype(np.float32)


def mean_rows(p: Problem) -> np.ndarray:
    return np.tile(p.old.mean(0), (len(p.pieces), 1)).astype(np.float32)


def subtoken_mean(p: Problem) -> np.ndarray:
    fallback = p.old.mean(0)
    return np.stack([p.old[ids].mean(0) if len(ids) else fallback for ids in _piece_matrix(p)])


def local_weights(sims: np.ndarray, lengths: np.ndarray, temperature: float) -> np.ndarray:
    """TokenAdapt's piece weights: (softmax(similarity) + length share) / 2, then softmax(. / T)."""
    mixed = (_softmax(sims) + lengths / lengths.sum()) / 2
    return _softmax(mixed / temperature)


def local_rows(p: Problem) -> np.ndarray:
    assert p.ext_new is not None and p.ext_old is not None
    out = subtoken_mean(p)
    for i, ids in enumerate(_piece_matrix(p)):
        if len(ids) > 1:
            w = local_weights(
                p.ext_old[ids] @ p.ext_new[i], p.piece_bytes[ids].astype(np.float64), p.opts.temperature
            )
            out[i] = w @ p.old[ids]
    return out


def _search(p: Problem, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, positions in candidates) of the k nearest candidates of every new token."""
    assert p.ext_new is not None and p.ext_old is not None and p.candidates is not None
    key = (k, p.opts.hnsw)
    if key not in p.searched:
        p.searched[key] = nearest(p.ext_new, p.ext_old[p.candidates], k, p.opts.hnsw)
    return p.searched[key]


def global_rows(p: Problem, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, found): the neighbour estimate and whether any neighbour passed the threshold. `exclude[i]`
    is an old id that must not count as row i's neighbour (itself, when fitting on the old vocabulary)."""
    assert p.ext_new is not None and p.ext_old is not None and p.candidates is not None
    k = p.opts.top_k + (exclude is not None)
    sims, idx = _search(p, k)
    ids = p.candidates[np.maximum(idx, 0)]
    valid = (idx >= 0) & (sims >= p.opts.threshold)
    if exclude is not None:
        valid &= ids != exclude[:, None]
        order = np.argsort(~valid, axis=1, kind="stable")[:, : p.opts.top_k]  # keep the first k valid ones
        sims, ids, valid = (np.take_along_axis(a, order, 1) for a in (sims, ids, valid))
    logits = np.where(valid, sims / p.opts.temperature, -np.inf)
    found = valid.any(1)
    logits[~found] = 0.0
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    rows = np.zeros((len(ids), p.old.shape[1]), np.float32)
    for j in range(ids.shape[1]):  # k passes over (n, d) beat one (n, k, d) temporary
        rows += w[:, j, None].astype(np.float32) * p.old[ids[:, j]]
    return rows, found


def global_or_mean(p: Problem) -> np.ndarray:
    """The global estimate; the piece mean where no neighbour passes the threshold."""
    glob, found = global_rows(p)
    return np.where(found[:, None], glob, subtoken_mean(p))


def hybrid_rows(p: Problem) -> np.ndarray:
    local = local_rows(p)
    glob, found = global_rows(p)
    w = p.opts.global_weight
    return np.where(found[:, None], (1 - w) * local + w * glob, local).astype(np.float32)


# ---------------------------------------------------------------- fitted (ours)


def _features(p: Problem, glob: np.ndarray, found: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    """(n, F, d): the estimates the fitted method combines."""
    local = local_rows(p)
    mean = subtoken_mean(p)
    fallback = p.old.mean(0)
    first = np.stack([p.old[ids[0]] if ids else fallback for ids in p.pieces])
    last = np.stack([p.old[ids[-1]] if ids else fallback for ids in p.pieces])
    glob = np.where(found[:, None], glob, local)
    return np.stack([local, mean, first, last, glob, mapped], axis=1).astype(np.float32)


def _ridge(x: np.ndarray, y: np.ndarray, rows: np.ndarray, lam: float = 1e-2) -> np.ndarray:
    """W minimising |[x 1] W - y|^2 + lam |W|^2 over the given rows of x and y (the bias column is not
    penalised much). Accumulated a block at a time: for Gemma 3's 256k rows the float64 copies at once were
    2 GB on top of the model."""
    gram = np.zeros((x.shape[1] + 1, x.shape[1] + 1))
    cross = np.zeros((x.shape[1] + 1, y.shape[1]))
    for start in range(0, len(rows), RIDGE_BLOCK):
        part = rows[start : start + RIDGE_BLOCK]
        xb = np.hstack([x[part], np.ones((len(part), 1), x.dtype)]).astype(np.float64)
        gram += xb.T @ xb
        cross += xb.T @ y[part].astype(np.float64)
    return np.linalg.solve(gram + lam * len(rows) * np.eye(len(gram)), cross)


def _apply(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (np.hstack([x, np.ones((len(x), 1), x.dtype)]) @ w).astype(np.float32)


def two_piece_splits(token_bytes: list[bytes], vocab: dict[bytes, int], ids: np.ndarray) -> tuple[list, list]:
    """For old tokens `ids`, the most balanced split into two old tokens: (kept ids, [[left, right], ...])."""
    kept, pieces = [], []
    for t in ids:
        b = token_bytes[t]
        best = None
        for k in range(1, len(b)):
            left, right = vocab.get(b[:k]), vocab.get(b[k:])
            if left is not None and right is not None and (best is None or abs(2 * k - len(b)) < best[0]):
                best = (abs(2 * k - len(b)), [left, right])
        if best:
            kept.append(int(t))
            pieces.append(best[1])
    return kept, pieces


def fit_coefficients(p: Problem, token_bytes: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients over the features, ridge map): fitted on old tokens treated as new."""
    assert p.ext_old is not None and p.candidates is not None
    rng = np.random.default_rng(p.opts.seed)
    allowed = set(p.candidates.tolist())
    vocab = {b: i for i, b in enumerate(token_bytes) if b and i in allowed}
    multi = np.array([i for i in p.candidates if len(token_bytes[i]) > 1])
    sample = rng.choice(multi, size=min(p.opts.fit_samples, len(multi)), replace=False)
    kept, pieces = two_piece_splits(token_bytes, vocab, sample)
    kept_a = np.array(kept)
    # the ridge map, cross-fitted: each half is predicted by a map fitted without it
    cand = p.candidates
    half = rng.random(len(cand)) < 0.5
    maps = [
        _ridge(p.ext_old, p.old, cand[~half]),
        _ridge(p.ext_old, p.old, cand[half]),
    ]
    in_half = np.zeros(len(p.old), dtype=bool)
    in_half[cand[half]] = True
    ext = p.ext_old[kept_a]
    # each token gets the map fitted on the half it is not in
    mapped = np.where(in_half[kept_a, None], _apply(ext, maps[0]), _apply(ext, maps[1]))
    sub = Problem(p.old, pieces, p.piece_bytes, p.ext_old[kept_a], p.ext_old, cand, p.opts)
    glob, found = global_rows(sub, exclude=kept_a)
    feats = _features(sub, glob, found, mapped).astype(np.float64)
    target = p.old[kept_a].astype(np.float64)
    flat = feats.transpose(1, 0, 2).reshape(feats.shape[1], -1)  # (F, n*d): BLAS instead of einsum loops
    gram = flat @ flat.T
    rhs = flat @ target.ravel()
    coef = np.linalg.solve(gram + 1e-6 * np.trace(gram) * np.eye(len(gram)), rhs)
    return coef, _ridge(p.ext_old, p.old, cand)


def fitted_rows(p: Problem, token_bytes: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, coefficients)."""
    assert p.ext_new is not None
    coef, ridge = fit_coefficients(p, token_bytes)
    glob, found = global_rows(p)
    feats = _features(p, glob, found, _apply(p.ext_new, ridge))
    return np.tensordot(coef.astype(np.float32), feats, axes=([0], [1])), coef


def hybrid_candidates(p: Problem) -> list[tuple[dict[str, float], np.ndarray]]:
    """The hybrid family over a grid of global weights and temperatures: ({"w", "T"}, rows) pairs, for
    `calibrated` to choose from by the model's own likelihood of calibration text."""
    out = []
    for temperature in CALIBRATION_TEMPERATURES:
        q = replace(p, opts=replace(p.opts, temperature=temperature))
        local = local_rows(q)
        glob, found = global_rows(q)
        for w in CALIBRATION_WEIGHTS:
            rows = np.where(found[:, None], (1 - w) * local + w * glob, local).astype(np.float32)
            out.append(({"w": w, "T": temperature}, rows))
    return out


def omp_rows(p: Problem) -> np.ndarray:
    """Base rows of each new token's k-atom OMP combination of shared tokens, fitted in the donor space."""
    from everybit.common.progress import progress_bar
    from everybit.tokenadapt.omp import combine, omp

    donor = p.donor
    assert donor is not None
    if p.opts.k not in donor.fits:
        with progress_bar(len(donor.targets), "matching pursuit", unit="tok") as bar:
            donor.fits[p.opts.k] = omp(donor.targets, donor.atoms, p.opts.k, p.opts.device, bar.update)
    idx, coef = donor.fits[p.opts.k]
    return combine(idx, coef, donor.base_rows(p.old)).numpy()


def estimate(method: str, p: Problem, token_bytes: list[bytes] | None = None) -> np.ndarray:
    """The rows of one method for the problem's new tokens."""
    if method == "fitted":
        assert token_bytes is not None
        return fitted_rows(p, token_bytes)[0]
    return {
        "random": random_rows,
        "mean": mean_rows,
        "subtoken-mean": subtoken_mean,
        "local": local_rows,
        "global": global_or_mean,
        "hybrid": hybrid_rows,
        "omp": omp_rows,
    }[method](p).astype(np.float32)
