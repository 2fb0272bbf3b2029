"""Orthogonal Matching Pursuit: exact answers on sparse problems, and agreement with mergekit's own."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from everybit.tokenadapt import methods  # noqa: E402
from everybit.tokenadapt.omp import combine, omp  # noqa: E402


def test_recovers_an_exact_sparse_combination():
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((200, 32)).astype(np.float32)
    truth = [(3, 17, 150), (5, 6, 7)]
    weights = np.array([[2.0, -1.0, 0.5], [1.0, 1.0, -3.0]], np.float32)
    targets = np.stack([w @ atoms[list(ids)] for ids, w in zip(truth, weights, strict=True)])
    idx, coef = omp(targets, atoms, k=8)
    for row, (ids, w) in enumerate(zip(truth, weights, strict=True)):
        found: dict[int, float] = {}
        for i, c in zip(idx[row].tolist(), coef[row].tolist(), strict=True):
            found[i] = found.get(i, 0.0) + c  # slots after the fit repeat the first atom at zero
        for i, c in zip(ids, w, strict=True):
            assert found[i] == pytest.approx(c, abs=1e-4)
        assert np.allclose(coef[row, 3:], 0)  # fitted after 3 atoms: the rest are zero
    np.testing.assert_allclose(combine(idx, coef, atoms).numpy(), targets, atol=1e-4)


def test_residual_is_orthogonal_to_every_picked_atom():
    rng = np.random.default_rng(1)
    atoms = torch.tensor(rng.standard_normal((300, 24)), dtype=torch.float32)
    targets = torch.tensor(rng.standard_normal((40, 24)), dtype=torch.float32)
    idx, coef = omp(targets, atoms, k=10)
    residual = targets - combine(idx, coef, atoms)
    assert len(set(idx[0].tolist())) == 10
    inner = torch.einsum("bd,bkd->bk", residual, atoms[idx])
    assert inner.abs().max() < 1e-4 * targets.norm(dim=1).max()


def test_k_above_the_dictionary_and_empty_inputs():
    atoms = np.eye(4, dtype=np.float32)
    idx, coef = omp(np.ones((2, 4), np.float32), atoms, k=10)
    assert idx.shape == (2, 4)
    np.testing.assert_allclose(combine(idx, coef, atoms).numpy(), 1.0, atol=1e-6)
    idx, coef = omp(np.zeros((0, 4), np.float32), atoms, k=3)
    assert idx.shape == (0, 3)


def test_batches_do_not_change_the_answer(monkeypatch):
    from everybit.tokenadapt import omp as omp_module

    rng = np.random.default_rng(2)
    atoms, targets = rng.standard_normal((100, 16)), rng.standard_normal((50, 16))
    whole = omp(targets, atoms, k=6)
    monkeypatch.setattr(omp_module, "MEMORY", 1)  # one target per batch
    assert omp_module.batch_size(100, 16, 6) == 1
    parts = omp(targets, atoms, k=6)
    assert torch.equal(whole[0], parts[0])
    torch.testing.assert_close(whole[1], parts[1])


def test_agrees_with_mergekits_omp():
    """mergekit-tokensurgeon's batch_omp on the same inputs: the same atoms, coefficients within 1e-4 (both
    run in float32; they orthogonalise in a different order)."""
    mergekit_omp = pytest.importorskip("mergekit.tokensurgeon.omp")
    gen = torch.Generator().manual_seed(3)
    for n_targets, n_atoms, dim, k in [(64, 500, 48, 16), (32, 2000, 96, 64)]:
        atoms = torch.randn(n_atoms, dim, generator=gen)
        targets = torch.randn(n_targets, dim, generator=gen)
        theirs = mergekit_omp.batch_omp(targets, atoms, k)
        ours = omp(targets, atoms, k)
        assert torch.equal(theirs[0], ours[0])
        torch.testing.assert_close(ours[1], theirs[1], atol=1e-4, rtol=1e-4)


def test_repeated_atoms_are_merged_and_take_their_tokens_mean_row():
    """The uncased external space gives several shared tokens one vector: one atom, base row = their mean,
    and no exploding coefficients."""
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((6, 8)).astype(np.float32)
    vectors[4] = vectors[1]  # tokens 1 and 4 look the same in the donor space
    ids = np.array([10, 11, 12, 13, 14, 15])
    old = rng.standard_normal((20, 5)).astype(np.float32)
    target = (vectors[1] + 0.5 * vectors[2])[None]
    donor = methods.Donor.build(target, vectors, ids, "test")
    assert len(donor.atoms) == 5
    p = methods.Problem(old, [[1]], np.ones(20), opts=methods.Options(k=3), donor=donor)
    row = methods.omp_rows(p)[0]
    expected = (old[11] + old[14]) / 2 + 0.5 * old[12]
    np.testing.assert_allclose(row, expected, atol=1e-4)


def test_transplant_with_a_donor_copies_a_token_the_donor_places_on_a_shared_one(smol_tok, target_tok):
    """A donor whose row for a new token equals its row for a shared token: OMP puts the whole weight on that
    atom, so the new token gets exactly the base model's row of the shared token."""
    from everybit.tokenadapt.surface import shared_ids, surface
    from everybit.tokenadapt.transplant import load_new_tokenizer, transplant
    from tests.tokenadapt.conftest import tiny_llama

    new = load_new_tokenizer(target_tok)
    donor_tok = load_new_tokenizer(target_tok)
    donor = tiny_llama(donor_tok, seed=5)
    mapping = shared_ids(surface(new.backend_tokenizer), surface(smol_tok.backend_tokenizer))
    todo = [i for i in range(len(new)) if i not in mapping]
    shared_new, shared_old = next(iter(mapping.items()))
    with torch.no_grad():
        donor.model.embed_tokens.weight[todo[-1]] = donor.model.embed_tokens.weight[shared_new]
    base = tiny_llama(smol_tok)
    old_row = base.model.embed_tokens.weight[shared_old].detach().clone()
    report = transplant(base, smol_tok, new, "omp", methods.Options(k=4), donor=(donor, donor_tok, "donor"))
    assert report.donor_space == "donor" and todo[-1] in report.estimated_ids
    torch.testing.assert_close(
        base.model.embed_tokens.weight[todo[-1]].detach(), old_row, atol=1e-5, rtol=1e-5
    )


def test_a_donor_with_another_vocabulary_is_refused(smol_tok, target_tok):
    from everybit.common.errors import InputError
    from everybit.tokenadapt.transplant import load_new_tokenizer, transplant
    from tests.tokenadapt.conftest import tiny_llama

    new = load_new_tokenizer(target_tok)
    donor = (tiny_llama(smol_tok), smol_tok, "smol")  # does not use the new tokenizer
    with pytest.raises(InputError, match=r"donor smol: .* new tokens have no row there"):
        transplant(tiny_llama(smol_tok), smol_tok, new, "omp", donor=donor)
