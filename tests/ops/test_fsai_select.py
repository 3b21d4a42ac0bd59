"""Adaptive FSAI patterns (ops._fsai_select), ``fsai(A, 'adaptive')`` and the learned pattern."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import ops
from learnsolve.ops import _reference as ref
from learnsolve.ops import candidates, selection_mask

from ..helpers import iterations


def kept_columns(P):
    L = sp.csr_array(sp.tril(P, k=-1, format="csr"))
    return [sorted(int(j) for j in L.indices[L.indptr[i]:L.indptr[i + 1]]) for i in range(L.shape[0])]


def schur(A, i, cols):
    A = A.toarray() if sp.issparse(A) else A
    if not cols:
        return A[i, i]
    v = A[cols, i]
    return A[i, i] - v @ np.linalg.solve(A[np.ix_(cols, cols)], v)


@pytest.mark.parametrize("method", ["greedy", "exhaustive"])
def test_fsai_pattern_matches_dense_reference(method):
    A = sp.csr_array(learnsolve.problems.diffusion(7, contrast=1e3, seed=4).A)
    C, budget = candidates(A)
    got = kept_columns(ops.fsai_pattern(A, method))
    want = ref.fsai_select_ref(A, C, budget, method)
    Ad = A.toarray()
    for i, (g, w) in enumerate(zip(got, want)):  # ties may pick other columns: compare s_i
        assert len(g) == len(w) == min(budget[i], np.diff(C.indptr)[i])
        assert schur(Ad, i, g) == pytest.approx(schur(Ad, i, w), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("shape, most", [((6, 6), (6, 12)), ((7, 8, 7), (12, 31))])
def test_candidates_are_tril_a3_with_a2_budgets(shape, most):
    A = learnsolve.problems.poisson(shape).A
    C, budget = candidates(A)
    S = (sp.csr_array(A) != 0).astype(float)
    want = sp.tril(S @ S @ S, k=-1)
    assert (abs(C - (want != 0)) != 0).nnz == 0 and C.has_sorted_indices
    np.testing.assert_array_equal(budget, np.diff(sp.tril(S @ S, k=-1, format="csr").indptr))
    assert (budget.max(), np.diff(C.indptr).max()) == most  # interior rows: 5- and 7-point


def test_exhaustive_pattern_is_kaporin_optimal_per_row():
    """Every row's FSAI diagonal on the exhaustive pattern is at least A²'s: A²'s pattern is one
    of the subsets tried, and g_ii = s_i^(-1/2)."""
    A = sp.csr_array(learnsolve.problems.diffusion(12, contrast=1e4, seed=1).A)
    G_a2 = ops.fsai_factor(A, "A2")
    G_ex = ops.fsai_factor(A, ops.fsai_pattern(A, "exhaustive"))
    G_gr = ops.fsai_factor(A, ops.fsai_pattern(A, "greedy"))
    assert G_ex.nnz == G_a2.nnz == G_gr.nnz
    assert np.all(G_ex.diagonal() >= G_a2.diagonal() * (1 - 1e-12))
    assert np.all(G_ex.diagonal() >= G_gr.diagonal() * (1 - 1e-12))
    assert np.sum(np.log(G_ex.diagonal())) > np.sum(np.log(G_a2.diagonal())) + 1e-3
    np.testing.assert_allclose((G_ex @ A @ G_ex.T).diagonal(), 1.0, rtol=1e-10)


def test_fsai_factor_on_a_given_pattern_matches_dense_reference():
    A = sp.csr_array(learnsolve.problems.diffusion(8, variance=2.0, seed=2).A)
    P = ops.fsai_pattern(A)
    np.testing.assert_allclose(ops.fsai_factor(A, P).toarray(), ref.fsai_ref(A, P), rtol=1e-10,
                               atol=1e-14)
    with pytest.raises(ValueError, match="fsai_factor.*shape"):
        ops.fsai_factor(A, sp.eye_array(3, format="csr"))
    with pytest.raises(ValueError, match="fsai_pattern.*method"):
        ops.fsai_pattern(A, "best")


def test_top_per_row_against_a_loop():
    A = learnsolve.problems.poisson((5, 4)).A
    C, budget = candidates(A)
    scores = np.random.default_rng(0).standard_normal(C.nnz)
    got = kept_columns(ops.top_per_row(C, scores, budget))
    for i in range(C.shape[0]):
        s0, s1 = C.indptr[i], C.indptr[i + 1]
        best = np.argsort(-scores[s0:s1])[:budget[i]]
        assert got[i] == sorted(int(j) for j in C.indices[s0:s1][best])
    assert ops.top_per_row(C, scores, budget).diagonal().min() == 1.0
    with pytest.raises(ValueError, match="top_per_row.*finite"):
        ops.top_per_row(C, np.full(C.nnz, np.nan), budget)


def test_adaptive_fsai_converges_in_fewer_iterations_than_a2_at_the_same_cost():
    p = learnsolve.problems.diffusion(64, contrast=1e4, seed=0)
    P_a2 = learnsolve.precond.fsai(p.A)
    P_ad = learnsolve.precond.build("fsai-adaptive", p.A)
    assert P_ad.name == "fsai-adaptive" and P_ad.info["nnz_G"] == P_a2.info["nnz_G"]
    its_a2 = iterations(p.A, p.b, P_a2, rtol=1e-8)[0]
    its_ad = iterations(p.A, p.b, P_ad, rtol=1e-8)[0]
    assert its_ad <= 0.9 * its_a2


def test_selection_mask_labels_the_exhaustive_pattern():
    A = sp.csr_array(learnsolve.problems.diffusion(9, contrast=1e2, seed=3).A)
    C, budget = candidates(A)
    mask = selection_mask(A)
    assert mask.shape == (C.nnz,)
    rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    np.testing.assert_array_equal(np.bincount(rows, weights=mask, minlength=C.shape[0]),
                                  np.minimum(budget, np.diff(C.indptr)))
    assert kept_columns(ops.top_per_row(C, mask.astype(float), budget)) == \
        kept_columns(ops.fsai_pattern(A, "exhaustive"))


