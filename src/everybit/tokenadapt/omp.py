"""Orthogonal Matching Pursuit over a dictionary of shared tokens, batched in torch.

The transplant use (Goddard & Neto 2025): in a *donor* space where both the new tokens and the tokens the two
vocabularies share have vectors, each new token's vector is approximated by k shared tokens; the same k
coefficients then combine those shared tokens' rows of the base model. OMP picks, k times, the atom most
correlated (in absolute value) with what is left of the target, then refits all coefficients by least squares
on the picked atoms, so the residual is always orthogonal to every picked atom.

Implementation: one orthonormal basis per target grows a vector at a time (classical Gram-Schmidt) and the
residual is updated with the new basis vector alone; coefficients come from the triangular factor at the end.
The cost is k products of (targets x dim) by (dim x atoms), one per step: the correlation search. Targets
go through in batches sized so that their (batch x atoms) correlation matrix stays under ``MEMORY`` bytes.
Atoms are used as given, not normalised, as mergekit does. One difference: a target fitted exactly before k
atoms (in the external space a new token ` Hello` often has the very vector of a shared `Hello`) stops
there, where mergekit goes on picking atoms for a zero residual; their coefficients are noise around zero,
ours are zero (the first atom repeated). In the benchmark's external space that is 60% of the targets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MEMORY = 256 << 20  # bytes for one batch's correlation matrix and basis
EPS = 1e-8  # floor for a new basis vector's norm: an atom already in the span adds nothing
DONE = 1e-5  # a target whose residual is below this share of its norm is fitted: later atoms would get zero


def batch_size(n_atoms: int, dim: int, k: int) -> int:
    per_target = 4 * (n_atoms + dim * (k + 2) + k * k)
    return max(1, MEMORY // per_target)


def omp(
    targets: Any,
    atoms: Any,
    k: int,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> tuple[Any, Any]:
    """(indices (B, k) into atoms, coefficients (B, k)) with targets ~ coefficients @ atoms[indices].
    targets: (B, D), atoms: (N, D), numpy or torch; k is cut to N. Computed in float32 on `device`;
    `progress(n)` is called as each batch of n targets finishes."""
    import torch

    t_all = torch.as_tensor(targets, dtype=torch.float32)
    a = torch.as_tensor(atoms, dtype=torch.float32).to(device)
    k = min(k, a.shape[0])
    idx_out = torch.zeros((t_all.shape[0], k), dtype=torch.long)
    coef_out = torch.zeros((t_all.shape[0], k), dtype=torch.float32)
    if k == 0 or t_all.shape[0] == 0:
        return idx_out, coef_out
    step = batch_size(a.shape[0], a.shape[1], k)
    with torch.inference_mode():
        for start in range(0, t_all.shape[0], step):
            x = t_all[start : start + step].to(device)
            idx, coef = _omp_batch(x, a, k)
            idx_out[start : start + len(x)] = idx.cpu()
            coef_out[start : start + len(x)] = coef.cpu()
            if progress:
                progress(len(x))
    return idx_out, coef_out


def _omp_batch(x: Any, a: Any, k: int) -> tuple[Any, Any]:
    import torch

    b, d = x.shape
    picks = torch.zeros((b, k), dtype=torch.long, device=x.device)
    coefs = torch.zeros((b, k), dtype=x.dtype, device=x.device)
    rows = torch.arange(b, device=x.device)  # the batch rows still being fitted
    q = torch.zeros((b, k, d), dtype=x.dtype, device=x.device)  # orthonormal basis, one row per pick
    r = torch.zeros((b, k, k), dtype=x.dtype, device=x.device)  # picked atoms = r^T q (upper triangular r)
    picked = torch.zeros((b, k), dtype=torch.long, device=x.device)
    residual, target, floor = x.clone(), x, DONE * x.norm(dim=1)

    def finish(sel: Any, t: int) -> None:
        """Coefficients of the selected rows from their first t picks; the other slots repeat the first
        pick with a zero coefficient."""
        if t:
            qx = torch.einsum("btd,bd->bt", q[sel, :t], target[sel])
            coefs[rows[sel], :t] = torch.linalg.solve_triangular(r[sel, :t, :t], qx[..., None], upper=True)[
                ..., 0
            ]
            picks[rows[sel]] = torch.cat([picked[sel, :t], picked[sel, :1].expand(-1, k - t)], 1)

    for t in range(k):
        done = residual.norm(dim=1) <= floor
        if done.sum() * 8 >= len(rows):  # drop fitted rows once they are an eighth of the batch
            finish(done, t)
            keep = ~done
            rows, q, r, picked = rows[keep], q[keep], r[keep], picked[keep]
            residual, target, floor = residual[keep], target[keep], floor[keep]
            if len(rows) == 0:
                return picks, coefs
        corr = (residual @ a.T).abs_()
        if t:
            corr.scatter_(1, picked[:, :t], -1.0)  # an atom is picked once (|corr| >= 0 elsewhere)
        picked[:, t] = corr.argmax(1)
        del corr
        v = a[picked[:, t]]
        if t:  # one classical Gram-Schmidt pass: enough in float32 for k in the hundreds (mergekit's too)
            proj = torch.einsum("btd,bd->bt", q[:, :t], v)
            r[:, :t, t] = proj
            v = v - torch.einsum("bt,btd->bd", proj, q[:, :t])
        norm = v.norm(dim=1).clamp_min(EPS)
        r[:, t, t] = norm
        q[:, t] = v / norm[:, None]
        residual -= q[:, t] * (residual * q[:, t]).sum(1, keepdim=True)
    finish(torch.ones(len(rows), dtype=torch.bool, device=x.device), k)
    return picks, coefs


def combine(indices: Any, coefficients: Any, rows: Any) -> Any:
    """sum_j coefficients[:, j] * rows[indices[:, j]]: the base model's rows for the fitted combinations."""
    import torch

    rows_t = torch.as_tensor(rows, dtype=torch.float32)
    out = torch.zeros((indices.shape[0], rows_t.shape[1]), dtype=torch.float32)
    for j in range(indices.shape[1]):  # k passes over (B, d) beat one (B, k, d) temporary
        out += coefficients[:, j, None] * rows_t[indices[:, j]]
    return out
