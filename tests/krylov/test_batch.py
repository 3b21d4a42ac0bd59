"""Many right-hand sides: batch_cg gives every column cg's iterates, with products on blocks."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import krylov, precond


@pytest.fixture(scope="module")
def fem():
    return learnsolve.problems.fem_diffusion(48, contrast=1e4, seed=3)


@pytest.mark.parametrize("name", ["jacobi", "amg-chebyshev", "amg-learned", "callable"])
def test_every_column_follows_cg(fem, name):
    M = (precond.build("ic0", fem.A).matvec if name == "callable" else precond.build(name, fem.A))
    B = np.random.default_rng(0).standard_normal((fem.n, 5))
    B[:, 3] *= 1e-3  # columns of different scales converge at different iterations
    res, calls = [], []
    X, info = krylov.batch_cg(fem.A, B, rtol=1e-8, M=M, residuals=res, block=3,
                              callback=lambda X: calls.append(1))
    assert info == 0 and len(res) == 5 and len(calls) > 0
    for j in range(5):
        ref = []
        x, i = krylov.cg(fem.A, B[:, j], rtol=1e-8, M=M, residuals=ref)
        # rounding differs in the last bits (fused sums), so long unpreconditioned solves may
        # differ by an iteration; the histories agree where rounding has not built up
        assert i == 0 and abs(len(res[j]) - len(ref)) <= 1 + len(ref) // 100
        k = min(len(ref), 25)
        assert np.allclose(res[j][:k], ref[:k], rtol=1e-6), (j, res[j][:k], ref[:k])
        assert np.linalg.norm(X[:, j] - x) <= 1e-6 * np.linalg.norm(x)
        assert learnsolve.relative_residual(fem.A, X[:, j], B[:, j]) < 1e-8


def test_no_preconditioner():
    p = learnsolve.problems.poisson((24, 24))
    B = np.random.default_rng(4).standard_normal((p.n, 3))
    res = []
    X, info = krylov.batch_cg(p.A, B, rtol=1e-8, residuals=res)
    for j in range(3):
        ref = []
        krylov.cg(p.A, B[:, j], rtol=1e-8, residuals=ref)
        assert info == 0 and abs(len(res[j]) - len(ref)) <= 1
        assert learnsolve.relative_residual(p.A, X[:, j], B[:, j]) < 1e-8


def test_block_preconditioner_equals_its_columns(fem):
    B = np.random.default_rng(1).standard_normal((fem.n, 4))
    for name in ("amg-chebyshev", "amg-learned"):
        M = precond.build(name, fem.A)
        assert M.accepts_blocks
        Z = M.matmat(B)
        cols = np.column_stack([M @ B[:, j] for j in range(4)])
        assert np.abs(Z - cols).max() <= 1e-12 * np.abs(cols).max()
    J = precond.jacobi(fem.A)  # no block path: SciPy's column loop, same numbers
    assert not J.accepts_blocks and np.allclose(J.matmat(B), B / fem.A.diagonal()[:, None])


def test_start_vectors_iteration_limit_and_breakdown(fem):
    rng = np.random.default_rng(2)
    B = rng.standard_normal((fem.n, 3))
    M = precond.build("amg-chebyshev", fem.A)
    X, _ = krylov.batch_cg(fem.A, B, rtol=1e-10, M=M)
    res = []
    X2, info = krylov.batch_cg(fem.A, B, X, rtol=1e-8, M=M, residuals=res)
    assert info == 0 and all(len(r) == 1 for r in res)  # started converged
    X3, info = krylov.batch_cg(fem.A, B, rtol=1e-12, M=M, maxiter=2)
    assert info == 2
    indefinite = (fem.A - sp.diags_array(0.9 * fem.A.diagonal())).tocsr()
    X4, info = krylov.batch_cg(indefinite, B, rtol=1e-12, maxiter=500)
    ref = [krylov.cg(indefinite, B[:, j], rtol=1e-12, maxiter=500)[1] for j in range(3)]
    assert info != 0 and info == (-1 if all(r == -1 for r in ref) else max(ref))
    # a breakdown on the first direction of some columns only: those stop (info -1), the rest go on
    D = sp.diags_array([1.0, -1.0, 2.0]).tocsr()
    X5, info = krylov.batch_cg(D, np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]), rtol=1e-12)
    assert info == -1 and np.allclose(X5[:, 0], [1.0, 0.0, 0.5])


def test_bad_input_is_named(fem):
    B = np.ones((fem.n, 2))
    with pytest.raises(ValueError, match=r"`B` must be a NumPy, CuPy or torch array of shape"):
        krylov.batch_cg(fem.A, np.ones(fem.n))
    bad = B.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="`B` contains NaN or Inf"):
        krylov.batch_cg(fem.A, bad)
    with pytest.raises(ValueError, match="`X0` has shape"):
        krylov.batch_cg(fem.A, B, np.zeros((fem.n, 3)))
    with pytest.raises(ValueError, match="`block` must be a positive integer"):
        krylov.batch_cg(fem.A, B, block=0)
    with pytest.raises(ValueError, match="`rtol`"):
        krylov.batch_cg(fem.A, B, rtol=-1)
    with pytest.raises(ValueError, match="different shapes"):
        krylov.batch_cg(fem.A, B, M=sp.eye_array(3))
    with pytest.raises(ValueError, match="must be a square matrix"):
        krylov.batch_cg(fem.A[:10], B)


def test_torch_blocks_stay_on_their_device_with_the_numpy_iterates():
    torch = pytest.importorskip("torch")
    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(32, variance=1.0, seed=1)
    T = to_device(p.A, "torch")
    B = np.random.default_rng(0).standard_normal((p.n, 5))
    B[:, 2] = 0.0  # a zero column stops at once
    for name in ("vcycle-2d", "jacobi"):
        Md = precond.build(name, T, grid_shape=p.grid_shape)
        Mh = precond.build(name, p.A, grid_shape=p.grid_shape)
        rd, rh = [], []
        Xd, info = krylov.batch_cg(T, torch.from_numpy(B), rtol=1e-8, M=Md, residuals=rd)
        Xh, _ = krylov.batch_cg(p.A, B, rtol=1e-8, M=Mh, residuals=rh)
        assert info == 0 and isinstance(Xd, torch.Tensor)
        assert [len(r) for r in rd] == [len(r) for r in rh] and len(rd[2]) == 1
        np.testing.assert_allclose(Xd.numpy(), Xh, rtol=1e-9, atol=1e-12)
    X0 = torch.from_numpy(Xh)  # started converged
    res = []
    _, info = krylov.batch_cg(T, torch.from_numpy(B), X0, rtol=1e-6, M=Md, residuals=res)
    assert info == 0 and all(len(r) == 1 for r in res)
    _, info = krylov.batch_cg(T, torch.from_numpy(B), rtol=1e-12, maxiter=2)
    assert info == 2
    X, info = krylov.batch_cg(T, torch.zeros((p.n, 0), dtype=torch.float64))
    assert info == 0 and tuple(X.shape) == (p.n, 0)
    with pytest.raises(ValueError, match="`B` contains NaN"):
        krylov.batch_cg(T, torch.full((p.n, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`X0` has shape"):
        krylov.batch_cg(T, torch.from_numpy(B), torch.zeros(p.n, 2, dtype=torch.float64))
