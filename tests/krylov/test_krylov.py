"""SciPy's checklist for every preconditioner and solver, and agreement with SciPy."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve import krylov, precond

from ..helpers import exact_inverse

PRECONDS = ["identity", "jacobi", "ic0", "mic0", "ssor", "amg-sa", "amg-rs"]
SOLVERS = {"cg": krylov.cg, "fcg": krylov.fcg, "fcg-pr": lambda *a, **k: krylov.fcg(
    *a, variant="pr", **k), "dcdm": krylov.dcdm}


def _relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("name", PRECONDS)
def test_converges_to_tolerance(small_spd, solver, name):
    p = small_spd
    M = precond.build(name, p.A)
    x, info = SOLVERS[solver](p.A, p.b, rtol=1e-8, M=M)
    assert info == 0
    assert _relres(p.A, x, p.b) < 1e-8


@pytest.mark.parametrize("name", PRECONDS)
def test_scipy_cg_accepts_every_preconditioner(small_spd, name):
    p = small_spd
    x, info = spla.cg(p.A, p.b, rtol=1e-8, M=precond.build(name, p.A))
    assert info == 0 and _relres(p.A, x, p.b) < 1e-8


@pytest.mark.parametrize("name", PRECONDS)
def test_iterates_match_scipy(small_spd, name):
    p = small_spd
    M = precond.build(name, p.A)
    ours, theirs = [], []
    x1, i1 = krylov.cg(p.A, p.b, rtol=1e-10, M=M, callback=lambda x: ours.append(x.copy()))
    x2, i2 = spla.cg(p.A, p.b, rtol=1e-10, M=M, callback=lambda x: theirs.append(x.copy()))
    assert i1 == i2 == 0
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_identity_preconditioner_is_unpreconditioned(small_spd, solver):
    p = small_spd
    xa, ia = SOLVERS[solver](p.A, p.b, rtol=1e-8, M=precond.identity(p.A))
    xb, ib = SOLVERS[solver](p.A, p.b, rtol=1e-8)
    assert ia == ib == 0
    np.testing.assert_allclose(xa, xb, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_exact_inverse_converges_fast(small_spd, solver):
    p = small_spd
    res = []
    x, info = SOLVERS[solver](p.A, p.b, rtol=1e-10, M=exact_inverse(p.A), residuals=res)
    assert info == 0 and len(res) - 1 <= 3


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("name", PRECONDS)
def test_maxiter_one(small_spd, solver, name):
    p = small_spd
    calls = []
    x, info = SOLVERS[solver](p.A, p.b, rtol=1e-12, maxiter=1, M=precond.build(name, p.A),
                              callback=lambda xk: calls.append(1))
    assert len(calls) == 1 and info == 1


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_zero_rhs(small_spd, solver):
    p = small_spd
    x, info = SOLVERS[solver](p.A, np.zeros(p.n), M=precond.ic0(p.A))
    assert info == 0 and not np.any(x)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_x0_not_modified_and_used(small_spd, solver):
    p = small_spd
    x0 = np.random.default_rng(0).standard_normal(p.n)
    keep = x0.copy()
    x, info = SOLVERS[solver](p.A, p.b, x0, rtol=1e-8, M=precond.jacobi(p.A))
    assert info == 0 and np.array_equal(x0, keep) and _relres(p.A, x, p.b) < 1e-8
    res = []
    xs = spla.spsolve(sp.csc_matrix(p.A), p.b)
    x, info = SOLVERS[solver](p.A, p.b, xs, rtol=1e-8, residuals=res)
    assert info == 0 and len(res) == 1  # already solved: no iteration


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", PRECONDS)
def test_float32_and_float64(small_spd, dtype, name):
    A = small_spd.A.astype(dtype)
    b = small_spd.b.astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-8
    M = precond.build(name, A)
    x, info = krylov.cg(A, b, rtol=rtol, M=M)
    assert x.dtype == dtype and info == 0
    assert _relres(A.astype(np.float64), x.astype(np.float64), b.astype(np.float64)) < 2 * rtol


@pytest.mark.parametrize("scale", [1e-6, 1e6])
@pytest.mark.parametrize("rtol,atol", [(1e-8, 0.0), (0.0, 1e-6), (1e-6, 1e-6)])
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_badly_scaled_preconditioner_stops_correctly(small_spd, scale, rtol, atol, solver):
    p = small_spd
    P = precond.ic0(p.A)
    M = spla.LinearOperator(p.A.shape, matvec=lambda r: scale * P.matvec(r), dtype=np.float64)
    x, info = SOLVERS[solver](p.A, p.b, rtol=rtol, atol=atol, M=M)
    assert info == 0
    assert np.linalg.norm(p.b - p.A @ x) <= max(atol, rtol * np.linalg.norm(p.b))


def test_true_residual_checked_before_success():
    """Recurrence drift cannot produce info == 0 with a true residual above tolerance."""
    p = learnsolve.problems.diffusion(32, contrast=1e6, seed=1)
    for name in ["jacobi", "ic0"]:
        x, info = krylov.cg(p.A, p.b, rtol=1e-11, M=precond.build(name, p.A))
        if info == 0:
            assert _relres(p.A, x, p.b) < 1e-11


def test_nonlinear_preconditioner_warns_in_cg(small_spd):
    p = small_spd
    P = precond.Preconditioner(lambda r: r / np.linalg.norm(r), p.A.shape, np.float64,
                               name="net", is_linear=False)
    with pytest.warns(RuntimeWarning, match="fcg.*dcdm"):
        krylov.cg(p.A, p.b, M=P, maxiter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, info = krylov.fcg(p.A, p.b, M=P, rtol=1e-8)
    assert info == 0 and _relres(p.A, x, p.b) < 1e-8


def test_fcg_handles_varying_preconditioner():
    """A preconditioner that changes per call: flexible CG converges, in far fewer
    iterations than unpreconditioned CG."""
    p = learnsolve.problems.diffusion(32, variance=2.0, seed=0)
    P = precond.ic0(p.A)
    rng = np.random.default_rng(0)

    def noisy(r):
        return P.matvec(r) * (1.0 + 0.3 * rng.random(r.size))

    plain, flexible = [], []
    krylov.cg(p.A, p.b, rtol=1e-8, residuals=plain)
    x, info = krylov.fcg(p.A, p.b, rtol=1e-8, M=noisy, m=4, residuals=flexible)
    assert info == 0 and _relres(p.A, x, p.b) < 1e-8
    assert len(flexible) < len(plain) / 2


def test_dcdm_normalizes_and_orthogonalizes():
    p = learnsolve.problems.poisson((24, 24))
    seen = []

    def direction(r):
        seen.append(np.linalg.norm(r))
        return r.copy()

    res_d, res_cg = [], []
    x, info = krylov.dcdm(p.A, p.b, rtol=1e-8, M=direction, k=2, residuals=res_d)
    krylov.cg(p.A, p.b, rtol=1e-8, residuals=res_cg)
    assert info == 0 and np.allclose(seen, 1.0)
    # identity directions + 2-term A-orthogonalization reproduce CG up to rounding
    assert abs(len(res_d) - len(res_cg)) <= 2


def test_breakdown_reports_negative_info():
    A = sp.diags_array(np.r_[np.ones(10), -np.ones(10)], format="csr")  # indefinite
    b = np.ones(20)
    for solver in SOLVERS.values():
        x, info = solver(A, b, rtol=1e-8)
        assert info == -1


def test_indefinite_preconditioner_never_reports_false_success():
    p = learnsolve.problems.poisson((12, 12))
    signs = np.where(np.arange(p.n) % 3 == 0, -1.0, 1.0)
    M = spla.LinearOperator(p.A.shape, matvec=lambda r: signs * r, dtype=np.float64)
    for solver in SOLVERS.values():
        x, info = solver(p.A, p.b, rtol=1e-8, M=M, maxiter=500)
        if info == 0:
            assert _relres(p.A, x, p.b) < 1e-8


def test_torch_tensors_pass_through():
    torch = pytest.importorskip("torch")
    p = learnsolve.problems.poisson((12, 12))
    A = torch.sparse_csr_tensor(torch.from_numpy(p.A.indptr.astype(np.int64)),
                                torch.from_numpy(p.A.indices.astype(np.int64)),
                                torch.from_numpy(p.A.data), size=p.A.shape)
    b = torch.from_numpy(p.b)
    for solver in (krylov.cg, krylov.fcg, krylov.dcdm):
        x, info = solver(A, b, rtol=1e-8)
        assert isinstance(x, torch.Tensor) and info == 0
        assert _relres(p.A, x.numpy(), p.b) < 1e-8


def test_bad_inputs_name_function_argument_and_fix(small_spd):
    p = small_spd
    with pytest.raises(ValueError, match="'learnsolve.krylov.cg' called with invalid `atol`"):
        krylov.cg(p.A, p.b, atol=-1)
    with pytest.raises(ValueError, match="cg.*`b` has shape"):
        krylov.cg(p.A, p.b[:-1])
    with pytest.raises(ValueError, match="square"):
        krylov.cg(sp.random_array((5, 4), density=0.5, random_state=0), np.ones(5))
    bad = p.b.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        krylov.fcg(p.A, bad)
    A = p.A.copy()
    A.data[0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        krylov.cg(A, p.b)
    with pytest.raises(ValueError, match="different shapes"):
        krylov.cg(p.A, p.b, M=precond.identity(p.n + 1))
    with pytest.raises(ValueError, match="x0"):
        krylov.dcdm(p.A, p.b, x0=np.zeros(3))


@pytest.mark.parametrize("solver", [krylov.cg, krylov.fcg, krylov.dcdm])
def test_any_array_api_namespace(solver):
    """The loops use only the array API standard (what CuPy and torch share): with
    ``array_api_strict`` arrays, an operator and a preconditioner written in that namespace,
    each solver returns such an array and agrees with its NumPy run."""
    xp = pytest.importorskip("array_api_strict")
    p = learnsolve.problems.diffusion(10, variance=1.0, seed=7)
    Ad = xp.asarray(p.A.toarray())
    inv_d = xp.asarray(1.0 / p.A.diagonal())

    class Op:
        shape, dtype = p.A.shape, np.float64

        def matvec(self, v):
            return xp.matmul(Ad, v)

    class Jacobi(Op):
        def matvec(self, v):
            return inv_d * v

    x, info = solver(Op(), xp.asarray(p.b), rtol=1e-10, M=Jacobi())
    assert info == 0 and type(x).__module__.startswith("array_api_strict")
    x_np, info_np = solver(p.A, p.b, rtol=1e-10, M=precond.jacobi(p.A))
    assert info_np == 0
    np.testing.assert_allclose(np.asarray(x), x_np, rtol=1e-8, atol=1e-12)
    assert learnsolve.relative_residual(p.A, np.asarray(x), p.b) <= 1e-10


@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_complex_hermitian_systems(solver):
    """A Hermitian positive definite system, complex ``b``: every solver converges, and a real
    preconditioner acts on the real and imaginary parts (it is linear over the reals)."""
    rng = np.random.default_rng(0)
    n = 40
    B = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    A = sp.csr_array(B @ B.conj().T + n * np.eye(n))
    b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    M = precond.jacobi(sp.csr_array(sp.diags_array(A.diagonal().real)))
    for kw in ({}, {"M": M}, {"x0": "Mb", "M": M}):
        x, info = SOLVERS[solver](A, b, rtol=1e-10, maxiter=500, **kw)
        assert np.iscomplexobj(x) and info == 0
        assert np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b)
    with pytest.raises(ValueError, match="`x0` must be an array or 'Mb'"):
        SOLVERS[solver](A, b, x0="Ax")
