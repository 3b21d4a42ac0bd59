"""Recycling (deflated) CG: CG's iterates when the space is empty, fewer iterations with it."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import krylov, precond


@pytest.fixture(scope="module")
def rough():
    return learnsolve.problems.diffusion(64, contrast=1e4, seed=1)


@pytest.mark.parametrize("name", ["identity", "jacobi", "ic0", "amg-sa"])
def test_empty_space_gives_the_iterates_of_cg(rough, name):
    M = precond.build(name, rough.A)
    ref_res, ref_x = [], []
    x_cg, info_cg = krylov.cg(rough.A, rough.b, rtol=1e-8, M=M, residuals=ref_res,
                              callback=lambda x: ref_x.append(x.copy()))
    for space in (None, krylov.RecycleSpace(6), krylov.RecycleSpace(0)):
        res, xs = [], []
        x, info = krylov.rcg(rough.A, rough.b, rtol=1e-8, M=M, residuals=res, recycle=space,
                             callback=lambda x, xs=xs: xs.append(x.copy()))
        assert info == info_cg == 0 and np.array_equal(x, x_cg) and res == ref_res
        assert all(np.array_equal(a, c) for a, c in zip(xs, ref_x)) and len(xs) == len(ref_x)


@pytest.mark.parametrize("kind", ["ritz", "harmonic"])
def test_recycling_saves_iterations_over_a_sequence_of_right_hand_sides(rough, kind):
    M = precond.ic0(rough.A)
    space = krylov.RecycleSpace(10, kind=kind)
    rng = np.random.default_rng(0)
    plain = recycled = 0
    for i in range(6):
        b = rng.standard_normal(rough.n)
        r1, r2 = [], []
        krylov.cg(rough.A, b, rtol=1e-8, M=M, residuals=r1)
        x, info = krylov.rcg(rough.A, b, rtol=1e-8, M=M, residuals=r2, recycle=space)
        assert info == 0 and learnsolve.relative_residual(rough.A, x, b) < 1e-8
        if i > 0:
            plain, recycled = plain + len(r1), recycled + len(r2)
    assert space.size == 10 and np.all(space.theta > 0) and np.all(np.diff(space.theta) >= 0)
    assert np.allclose(space.W.T @ (rough.A @ space.W), np.eye(10), atol=1e-8)  # A-orthonormal
    assert recycled < (0.9 if kind == "harmonic" else 0.8) * plain, (recycled, plain)


def test_a_changing_matrix_recomputes_a_w_and_still_converges(rough):
    space = krylov.RecycleSpace(8)
    rng = np.random.default_rng(1)
    for step in range(4):  # the matrix drifts: A + step·1e-4·D
        A = (rough.A + sp.diags_array(1e-4 * step * rough.A.diagonal())).tocsr()
        b = rng.standard_normal(rough.n)
        ref = []
        krylov.cg(A, b, rtol=1e-8, M=precond.ic0(A), residuals=ref)
        res = []
        x, info = krylov.rcg(A, b, rtol=1e-8, M=precond.ic0(A), residuals=res, recycle=space)
        assert info == 0 and learnsolve.relative_residual(A, x, b) < 1e-8
        assert np.allclose(space.AW, A @ space.W)  # A W belongs to the current matrix
        if step > 0:
            assert len(res) < len(ref)


def test_bad_input_is_refused_and_the_space_stays_usable(rough):
    space = krylov.RecycleSpace(6)
    M = precond.ic0(rough.A)
    krylov.rcg(rough.A, rough.b, rtol=1e-8, M=M, recycle=space)
    small = learnsolve.problems.poisson((8, 8))
    with pytest.raises(ValueError, match=r"rcg': the recycle space holds vectors of length 4096 "
                                         r"but `A` is 64×64; pass a new RecycleSpace"):
        krylov.rcg(small.A, small.b, recycle=space)
    bad = rough.b.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="`b` contains NaN or Inf"):
        krylov.rcg(rough.A, bad, recycle=space)
    # an indefinite matrix mid-sequence: never info == 0 with a wrong x
    indefinite = (rough.A - sp.diags_array(np.full(rough.n, 2.0 * rough.A.diagonal().max()))).tocsr()
    x, info = krylov.rcg(indefinite, rough.b, rtol=1e-8, maxiter=200, recycle=space)
    assert info != 0 or learnsolve.relative_residual(indefinite, x, rough.b) < 1e-8
    # and the next SPD system still solves, with the space
    space.clear()
    krylov.rcg(rough.A, rough.b, rtol=1e-8, M=M, recycle=space)
    x, info = krylov.rcg(rough.A, rough.b[::-1].copy(), rtol=1e-8, M=M, recycle=space)
    assert info == 0 and space.size == 6
    with pytest.raises(ValueError, match="`k` must be a non-negative integer"):
        krylov.RecycleSpace(-1)
    with pytest.raises(ValueError, match="`kind` must be 'ritz' or 'harmonic'"):
        krylov.RecycleSpace(4, kind="exact")


def test_torch_arrays_are_refused_with_the_alternative():
    torch = pytest.importorskip("torch")
    p = learnsolve.problems.poisson((8, 8))
    with pytest.raises(TypeError, match="NumPy arrays only .* use learnsolve.krylov.cg"):
        krylov.rcg(p.A, torch.as_tensor(p.b))


def test_folds_cap_what_a_solve_collects(rough):
    M = precond.ic0(rough.A)
    none, one = krylov.RecycleSpace(6, folds=0), krylov.RecycleSpace(6, collect=12, folds=1)
    for space in (none, one):
        krylov.rcg(rough.A, rough.b, rtol=1e-8, M=M, recycle=space)
    assert none.size == 0 and one.size == 6  # one fold of the first 12 directions
    ref, res = [], []
    krylov.cg(rough.A, rough.b[::-1].copy(), rtol=1e-8, M=M, residuals=ref)
    krylov.rcg(rough.A, rough.b[::-1].copy(), rtol=1e-8, M=M, residuals=res, recycle=none)
    assert res == ref
