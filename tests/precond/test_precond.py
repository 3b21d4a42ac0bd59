import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve import precond

from ..helpers import SHARED, iterations

PRECONDS = ["identity", "jacobi", "ic0", "ic1", "ic2", "mic0", "ssor", "fsai", "amg-sa", "amg-rs"]


@pytest.mark.parametrize("name", PRECONDS)
def test_preconditioner_is_symmetric_positive_definite(name):
    A = learnsolve.problems.diffusion(8, variance=1.0, seed=0).A
    P = precond.build(name, A)
    assert isinstance(P, spla.LinearOperator) and isinstance(P, precond.Preconditioner)
    assert P.is_linear and P.is_spd and P.setup_time >= 0 and P.dtype == np.float64
    Mi = P @ np.eye(A.shape[0])
    np.testing.assert_allclose(Mi, Mi.T, atol=1e-10 * np.abs(Mi).max())
    assert np.linalg.eigvalsh((Mi + Mi.T) / 2).min() > 0


def test_factored_preconditioners_apply_their_factor():
    A = learnsolve.problems.diffusion(12, variance=1.0, seed=1).A
    r = np.random.default_rng(0).standard_normal(A.shape[0])
    L = learnsolve.ops.ichol0(A)
    z = precond.ic0(A) @ r
    np.testing.assert_allclose(L @ (L.T @ z), r, rtol=1e-10, atol=1e-12)
    # SSOR: M = w/(2-w) (D/w + L) (D/w)^{-1} (D/w + L)^T
    w = 1.3
    d = A.diagonal()
    E = sp.tril(A, -1) + sp.diags_array(d / w)
    M = w / (2 - w) * (E @ sp.diags_array(w / d) @ E.T)
    np.testing.assert_allclose(M @ (precond.ssor(A, w) @ r), r, rtol=1e-9, atol=1e-10)


def test_ic0_shifts_on_breakdown_with_warning():
    # SPD but not an M-matrix: IC(0) meets a negative pivot
    A = sp.csr_array(np.array([[3.0, -2.0, 0.0, 2.0], [-2.0, 3.0, -2.0, 0.0],
                               [0.0, -2.0, 3.0, -2.0], [2.0, 0.0, -2.0, 3.0]]))
    assert np.linalg.eigvalsh(A.toarray()).min() > 0
    with pytest.warns(RuntimeWarning, match="ic0: factorization broke down"):
        P = precond.ic0(A)
    assert P.info["shift"] > 0
    b = np.arange(1.0, 5.0)
    x, info = learnsolve.krylov.cg(A, b, rtol=1e-10, M=P)
    assert info == 0 and np.linalg.norm(b - A @ x) < 1e-9 * np.linalg.norm(b)


def test_mic0_beats_ic0_on_lognormal_diffusion():
    p = learnsolve.problems.diffusion(64, variance=2.0, seed=0)
    its = {}
    for name in ("ic0", "mic0"):
        res = []
        x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=precond.build(name, p.A),
                                       residuals=res)
        assert info == 0
        its[name] = len(res) - 1
    assert its["mic0"] < 0.75 * its["ic0"]


def test_must_show_scipy_cg_on_contrast_1e4():
    """SciPy cg with ic0/mic0 converges on diffusion(256, contrast=1e4, seed=0)."""
    p = learnsolve.problems.diffusion(256, contrast=1e4, seed=0)
    for P in (precond.ic0(p.A), precond.mic0(p.A)):
        x, info = spla.cg(p.A, p.b, M=P, rtol=1e-8)
        assert info == 0
        assert np.linalg.norm(p.b - p.A @ x) < 1.01e-8 * np.linalg.norm(p.b)


def test_must_show_scipy_cg_on_shared_matrices():
    import os

    if not os.path.isdir(SHARED):
        pytest.skip("../shared/matrices not present")
    files = sorted(f for f in os.listdir(SHARED) if f.endswith(".mtx"))
    for f in files:
        p = learnsolve.problems.load_matrix(os.path.join(SHARED, f))
        for build in (precond.ic0, precond.mic0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a shift is allowed
                P = build(p.A)
            x, info = spla.cg(p.A, p.b, M=P, rtol=1e-8)
            assert info == 0, (f, build.__name__)
            assert np.linalg.norm(p.b - p.A @ x) < 1.01e-8 * np.linalg.norm(p.b)


def test_bad_inputs():
    A = learnsolve.problems.poisson((6, 6)).A
    with pytest.raises(ValueError, match=r"learnsolve.precond.ic0: `A` must be square"):
        precond.ic0(sp.random_array((4, 5), density=0.5, random_state=0))
    N = A.tolil()
    N[0, 1] = 3.0
    with pytest.raises(ValueError, match=r"ic0: `A` must be symmetric.*symmetrize"):
        precond.ic0(N.tocsr())
    with pytest.raises(ValueError, match=r"mic0: `A` must be symmetric"):
        precond.mic0(N.tocsr())
    B = A.copy()
    B.data[2] = np.nan
    with pytest.raises(ValueError, match=r"jacobi: `A` contains NaN or Inf"):
        precond.jacobi(B)
    with pytest.raises(ValueError, match=r"ssor: `omega` must be in \(0, 2\)"):
        precond.ssor(A, 2.5)
    with pytest.raises(ValueError, match=r"mic0: `omega` must be in \[0, 1\]"):
        precond.mic0(A, 1.5)
    with pytest.raises(ValueError, match=r"jacobi: `A` must have a positive diagonal"):
        precond.jacobi(-A)
    with pytest.raises(ValueError, match=r"amg: unknown `kind`"):
        precond.amg(A, kind="xx")
    with pytest.raises(ValueError, match=r"unknown preconditioner 'nope'"):
        precond.build("nope", A)


def test_fill_preconditioners_beat_their_level0_versions():
    p = learnsolve.problems.diffusion(48, contrast=1e4, seed=3)

    def its(M):
        return iterations(p.A, p.b, M, rtol=1e-8)[0]

    n_ic0, n_ic1, n_ic2 = its(precond.ic0(p.A)), its(precond.ick(p.A, 1)), its(precond.ick(p.A, 2))
    n_fa, n_fa2 = its(precond.fsai(p.A, pattern="A")), its(precond.fsai(p.A))
    assert n_ic2 < n_ic1 < 0.75 * n_ic0
    assert n_fa2 < 0.8 * n_fa and n_fa2 < 1.5 * n_ic0


def test_index_arrays_out_of_range_raise_instead_of_crashing():
    """SciPy's constructor accepts index arrays it never bounds-checks; SciPy's own ``A - A.T``
    then reads out of bounds.  Every builder checks the arrays first."""
    rng = np.random.default_rng(0)
    indptr = np.array([0, 3, 4, 17, 20, 22])
    A = sp.csr_matrix((np.ones(22), rng.integers(-5, 10, 22), indptr), shape=(5, 5))
    for build in (precond.ic0, precond.jacobi, precond.amg, precond.fsai, precond.gmg,
                  learnsolve.pretrained("gnn-ic1-correct").aspreconditioner):
        with pytest.raises(ValueError, match=r"`A` has inconsistent sparse index arrays .*indptr|"
                                             r"`A` has inconsistent sparse index arrays .*indices"):
            build(A)
