"""Grid stencils, the grid hierarchy (host numba kernels against the torch levels and SciPy), one cycle."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve import multigrid as mg
from learnsolve.nn import SmootherNet
from learnsolve.ops import stencil as kernels
from learnsolve.ops import to_device

from ..helpers import iterations

GRIDS = [
    lambda: learnsolve.problems.poisson((9, 10)),
    lambda: learnsolve.problems.diffusion((13, 11), contrast=1e3, seed=1),
    lambda: learnsolve.problems.anisotropic(12),
    lambda: learnsolve.problems.diffusion((6, 5, 7), dim=3, seed=2),
    lambda: learnsolve.problems.poisson((5, 6, 4)),
]


def dense_prolongation(H, l):
    """``P`` of level ``l`` as a dense matrix, by interpolating unit vectors with the torch levels."""
    T = mg.stack([H])
    coarse = H.levels[l + 1].A
    P = np.zeros((H.levels[l].A.n, coarse.n))
    for j in range(coarse.n):
        e = np.zeros(coarse.n)
        e[j] = 1.0
        x = T.levels[l].P @ torch.as_tensor(coarse.pad(e).reshape((1,) + coarse.padded))
        P[:, j] = T.levels[l].A.unpad(x)[0].numpy()
    return P


@pytest.mark.parametrize("make", GRIDS)
def test_grid_stencil_round_trip_on_host_and_torch(make):
    p = make()
    S, shape = mg.grid_stencil(p.A, p.grid_shape)
    assert shape == tuple(p.grid_shape)
    assert abs(mg.stencil_to_csr(S, shape) - p.A).max() < 1e-12
    St, _ = mg.grid_stencil(to_device(p.A, "torch"), p.grid_shape)
    np.testing.assert_array_equal(St.numpy(), S)


def test_grid_shape_is_inferred_for_squares_and_cubes():
    assert mg.grid_stencil(learnsolve.problems.poisson((8, 8)).A)[1] == (8, 8)
    assert mg.grid_stencil(learnsolve.problems.poisson((5, 5, 5)).A)[1] == (5, 5, 5)


def test_not_a_grid_matrix_is_a_clear_error():
    p = learnsolve.problems.poisson((6, 8))
    with pytest.raises(mg.NotAGrid, match="pass `shape="):
        mg.grid_stencil(p.A)  # 48 unknowns: neither a square nor a cube
    for A in (p.A, to_device(p.A, "torch")):
        with pytest.raises(mg.NotAGrid, match="not neighbours on a 8×6 grid"):
            mg.grid_stencil(A, (8, 6))
    with pytest.raises(mg.NotAGrid, match="does not have 48 cells"):
        mg.grid_stencil(p.A, (7, 7))


@pytest.mark.parametrize("make", GRIDS)
def test_galerkin_stencils_equal_pt_a_p(make):
    p = make()
    H = mg.grid_hierarchy(p.A, p.grid_shape, coarsest=4)
    assert len(H) >= 2
    A = p.A.toarray()
    for l in range(len(H) - 1):
        P = dense_prolongation(H, l)
        assert np.array_equal(H.levels[l].P.tocsr().toarray(), P)  # the sparse P the diagnostics use
        Ac = H.levels[l + 1].A.tocsr().toarray()
        assert np.abs(P.T @ A @ P - Ac).max() < 1e-10 * np.abs(Ac).max()
        A = Ac


def test_black_box_interpolation_is_bilinear_for_poisson():
    H = mg.grid_hierarchy(learnsolve.problems.poisson((15, 15)).A, coarsest=4)
    P = dense_prolongation(H, 0).reshape(15, 15, 7, 7)
    col = P[:, :, 3, 3]  # coarse cell (3, 3) sits on fine cell (7, 7)
    expect = np.zeros((15, 15))
    expect[6:9, 6:9] = np.outer([0.5, 1, 0.5], [0.5, 1, 0.5])
    assert np.allclose(col, expect)


@pytest.mark.parametrize("make", [
    GRIDS[1], GRIDS[3],
    lambda: learnsolve.problems.diffusion((37, 50), contrast=1e4, seed=1),  # odd and even sides
    lambda: learnsolve.problems.diffusion((10, 12, 9), dim=3, variance=2.0, seed=2),
])
def test_torch_setup_equals_the_host_kernels(make):
    """Stencils, black-box interpolation, Galerkin operators and the coarsest inverse built with
    torch operations (the device path) equal the numba kernels' to round-off."""
    p = make()
    H = mg.grid_hierarchy(p.A, p.grid_shape)
    T = mg.grid_hierarchy(to_device(p.A, "torch"), p.grid_shape)
    assert [lvl.A.grid for lvl in T.levels] == [lvl.A.grid for lvl in H.levels]
    for h, t in zip(H.levels, T.levels):
        S = h.A.S
        np.testing.assert_allclose(t.A.S[0].numpy().reshape(S.shape), S, rtol=1e-12,
                                   atol=1e-12 * np.abs(S).max())
        if h.P is not None:
            np.testing.assert_allclose(t.P.Pc[0].numpy().reshape(h.P.Pc.shape), h.P.Pc, rtol=1e-10,
                                       atol=1e-12)
    Ac = H.levels[-1].A.tocsr().toarray()
    np.testing.assert_allclose(T.levels[-1].coarse_solver.inverse[0].numpy() @ Ac,
                               np.eye(Ac.shape[0]), atol=1e-9)


def random_smoothers(H, seed=0):
    """A learned-like smoother per level: the untrained network with a perturbed last layer."""
    torch.manual_seed(seed)
    net = SmootherNet(H.levels[0].A.dim).double()
    torch.nn.init.normal_(net.mlp[-1].weight, std=0.05)
    T = mg.stack([H])
    with torch.no_grad():
        return [net.smoother(lvl.A.S) for lvl in T.levels[:-1]], T


@pytest.mark.parametrize("make", [GRIDS[1], GRIDS[3]])
@pytest.mark.parametrize("sweeps", [1, 2])
def test_host_cycle_equals_the_torch_cycle_and_is_symmetric(make, sweeps):
    p = make()
    H = mg.grid_hierarchy(p.A, p.grid_shape, coarsest=8)
    K, T = random_smoothers(H)
    T.with_stencils(K, sweeps=sweeps)
    with torch.no_grad():
        ref = T.apply(torch.as_tensor(p.b)).numpy()
    Kh = [np.ascontiguousarray(k[0].reshape(k.shape[1], -1).numpy().T) for k in K]  # cell-major
    H.with_stencils(Kh, sweeps=sweeps)
    out = H.apply(p.b)
    assert np.abs(out - ref).max() < 1e-12 * np.abs(ref).max()
    u, v = np.random.default_rng(1).standard_normal((2, p.n))
    assert abs(v @ H.apply(u) - u @ H.apply(v)) < 1e-10 * abs(v @ H.apply(u))
    # the transposed stencils made by the kernel give the same cycle as Kᵀ applied on the fly
    KT = [np.zeros_like(k) for k in Kh]
    for lvl, k, kt in zip(H.levels, Kh, KT):
        kernels.transpose_stencil(k, lvl.A.delta, mg.mirror(lvl.A.dim), kt, *lvl.A.bounds)
    assert np.array_equal(H.with_stencils(Kh, KT, sweeps=sweeps).apply(p.b), out)


def test_stencil_kernels_against_the_sparse_matrix():
    """``residual``, ``matvec`` (set and add), ``add_rmatvec``, ``restrict`` and ``prolong_add``
    against SciPy products with the level's CSR matrices."""
    p = learnsolve.problems.diffusion((11, 9, 7), dim=3, contrast=1e2, seed=3)
    H = mg.grid_hierarchy(p.A, p.grid_shape, coarsest=8)
    A0, P0 = H.levels[0].A, H.levels[0].P
    rng = np.random.default_rng(2)
    x, b = rng.standard_normal((2, p.n))
    A = p.A
    xp, bp = A0.pad(x).copy(), A0.pad(b).copy()
    np.testing.assert_allclose(A0.unpad(A0.residual(bp, xp)), b - A @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A0.unpad(A0 @ xp), A @ x, rtol=1e-12, atol=1e-12)
    K = rng.standard_normal(A0.S.shape) * (A0.S != 0)  # a random stencil on A's pattern
    Kc = sp.csr_array(mg.stencil_to_csr(K.reshape(A0.stencil().shape), A0.grid))
    K = np.ascontiguousarray(K.T)  # the cycle's kernels take cell-major stencils
    y = np.zeros_like(xp)
    kernels.matvec(K, A0.delta, xp, y, *A0.bounds, False)
    np.testing.assert_allclose(A0.unpad(y), Kc @ x, rtol=1e-12, atol=1e-12)
    kernels.matvec(K, A0.delta, bp, y, *A0.bounds, True)
    np.testing.assert_allclose(A0.unpad(y), Kc @ x + Kc @ b, rtol=1e-12, atol=1e-12)
    y = np.zeros_like(xp)
    kernels.matvec(K, A0.delta, xp, y, *A0.bounds, False)
    kernels.add_rmatvec(K, A0.delta, mg.mirror(3), xp, y, *A0.bounds)
    np.testing.assert_allclose(A0.unpad(y), Kc @ x + Kc.T @ x, rtol=1e-12, atol=1e-12)
    Pm = P0.tocsr()
    np.testing.assert_allclose(H.levels[1].A.unpad(P0.T @ xp), Pm.T @ x, rtol=1e-12, atol=1e-12)
    e = rng.standard_normal(H.levels[1].A.n)
    np.testing.assert_allclose(A0.unpad(P0 @ H.levels[1].A.pad(e)), Pm @ e, rtol=1e-12, atol=1e-12)


def test_one_cycle_for_grid_and_sparse_levels():
    """The same :func:`vcycle` runs on levels of SciPy sparse matrices: the grid hierarchy's
    matrices, interpolations and smoothers as CSR give the grid cycle's output."""
    p = learnsolve.problems.diffusion(40, variance=2.0, seed=1)
    H = mg.grid_hierarchy(p.A).with_jacobi(0.65, sweeps=2)
    levels = []
    for lvl in H.levels:
        A = lvl.A.tocsr()
        new = mg.Level(A)
        if lvl.P is not None:
            P = lvl.P.tocsr()
            new.P, new.R = P, P.T.tocsr()
            K = sp.diags_array(0.65 / A.diagonal()).tocsr()
            new.presmoother = new.postsmoother = mg.SparseSmoother(K, 2)
        else:
            lu = sp.linalg.splu(sp.csc_matrix(A))
            new.coarse_solver = lu.solve
        levels.append(new)
    S = mg.Hierarchy(levels)
    assert S.layout is None and H.layout is H.levels[0].A
    np.testing.assert_allclose(S.apply(p.b), H.apply(p.b), rtol=1e-11, atol=1e-13)
    sparse_jacobi = mg.Hierarchy([mg.Level(lvl.A, lvl.P, lvl.R, coarse_solver=lvl.coarse_solver)
                                  for lvl in levels]).with_jacobi(0.65, sweeps=2)
    np.testing.assert_allclose(sparse_jacobi.apply(p.b), S.apply(p.b), rtol=1e-13)
    assert S.operator_complexity == pytest.approx(
        sum(lvl.A.nnz for lvl in levels) / levels[0].A.nnz)


def test_float32_hierarchy_and_buffers():
    """``astype(float32)`` stores stencils and interpolation in float32 (the coarsest factor stays
    float64); a cycle from a zero guess allocates nothing after the first."""
    p = learnsolve.problems.diffusion(48, variance=1.0, seed=2)
    H = mg.grid_hierarchy(p.A)
    H32 = H.astype(np.float32).with_jacobi(0.65)
    H.with_jacobi(0.65)
    assert H32.dtype == np.float32 and H32.levels[0].A.S.dtype == np.float32
    assert H32.levels[0].P.Pc.dtype == np.float32
    y64, y32 = H.apply(p.b), H32.apply(p.b)
    assert y32.dtype == np.float32 and np.abs(y32 - y64).max() < 1e-5 * np.abs(y64).max()
    first = H.levels[0].presmoother._x
    H.apply(p.b)
    assert H.levels[0].presmoother._x is first


def test_check_stencil_on_host_and_torch():
    p = learnsolve.problems.poisson((6, 5))
    S, shape = mg.grid_stencil(p.A, (6, 5))
    for T in (S, torch.as_tensor(S)):
        assert float(mg.check_stencil(T, shape, "f").min()) == 4.0
    N = p.A.tolil()
    N[3, 4] = -2.0
    for A in (N.tocsr(), to_device(N.tocsr(), "torch")):
        with pytest.raises(ValueError, match="f: `A` is not symmetric"):
            mg.check_stencil(mg.grid_stencil(A, (6, 5))[0], (6, 5), "f")
    Z = p.A.tolil()
    Z[0, 0] = 0.0
    with pytest.raises(ValueError, match="non-positive diagonal"):
        mg.check_stencil(mg.grid_stencil(Z.tocsr(), (6, 5))[0], (6, 5), "f")


def test_grid_hierarchy_takes_stencils_and_says_what_is_missing():
    S, shape = mg.grid_stencil(learnsolve.problems.poisson((8, 8)).A)
    assert [lvl.A.grid for lvl in mg.grid_hierarchy(S, shape).levels] == [(8, 8)]
    with pytest.raises(ValueError, match="stencils need their grid `shape`"):
        mg.grid_hierarchy(S)


@pytest.mark.parametrize("build", ["smoothed_aggregation_solver", "ruge_stuben_solver"])
def test_algebraic_levels_run_the_same_cycle_as_pyamg(build):
    """A PyAMG hierarchy's levels in a :class:`Hierarchy` with damped Jacobi give PyAMG's own
    V-cycle with the same smoothers and a sparse-LU coarsest solve (to round-off)."""
    import pyamg

    p = learnsolve.problems.diffusion(40, contrast=1e2, seed=3)
    jacobi = ("jacobi", {"omega": 2 / 3, "iterations": 2, "withrho": False})  # ω as given
    ml = getattr(pyamg, build)(sp.csr_matrix(p.A), presmoother=jacobi, postsmoother=jacobi,
                               coarse_solver="splu", max_coarse=20)
    H = mg.algebraic_hierarchy(ml, omega=2 / 3, sweeps=2)
    assert len(H) == len(ml.levels) >= 3 and H.layout is None
    ref = ml.aspreconditioner(cycle="V") @ p.b
    np.testing.assert_allclose(H.apply(p.b), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    M = sp.linalg.LinearOperator(p.A.shape, matvec=H.apply, dtype=np.float64)
    assert iterations(p.A, p.b, M)[0] <= 20


@pytest.mark.parametrize("shape", [(6, 6), (4, 4, 4), (8, 8), (5, 3, 4), (1, 9)])
def test_grid_shape_of_agrees_with_the_stencil_scatter(shape):
    """The quick neighbour check accepts exactly what ``grid_stencil`` accepts."""
    problems, grid_stencil, grid_shape_of, NotAGrid = (learnsolve.problems, mg.grid_stencil,
                                                       mg.grid_shape_of, mg.NotAGrid)
    rng = np.random.default_rng(len(shape) * 10 + shape[0])
    base = problems.poisson(shape).A
    n = base.shape[0]
    for trial in range(30):
        A = sp.lil_array(base)
        if trial % 2:
            i, j = rng.integers(n, size=2)
            A[i, j] = A[j, i] = -0.1
        A = sp.csr_array(A)
        try:
            expected = grid_stencil(A, shape)[1]
        except NotAGrid:
            expected = None
        try:
            got = grid_shape_of(A, shape)
        except NotAGrid:
            got = None
        assert got == expected
    # inferred: 4096 = 64² = 16³; the 3D Poisson matrix is a cube stencil, not a square one
    assert grid_shape_of(problems.poisson((16, 16, 16)).A) == (16, 16, 16)
    assert grid_shape_of(problems.poisson((64, 64)).A) == (64, 64)
    with pytest.raises(NotAGrid, match="grid_shape_of: `A` couples cells that are not neighbours"):
        grid_shape_of(problems.fem_diffusion(16).A)


def test_large_grids_stop_coarsening_at_a_sparse_lu_solved_grid():
    p = learnsolve.problems.diffusion(256, contrast=1e4, seed=0)
    H = mg.grid_hierarchy(p.A, (256, 256))
    assert mg.coarsest_cells((256, 256)) == 256 and H.levels[-1].A.grid == (16, 16)
    lu = H.levels[-1].coarse_solver
    assert type(lu).__name__ == "SparseCoarseSolver"
    dense = mg.grid_hierarchy(p.A, (256, 256), coarsest=64).levels  # down to 8×8, dense Cholesky
    assert dense[-1].A.grid == (8, 8) and type(dense[-1].coarse_solver).__name__ == \
        "DenseCoarseSolver"
    C = H.levels[-1].A
    rng = np.random.default_rng(0)
    b = C.pad(rng.standard_normal(C.n)).copy()
    x = C.unpad(lu(b))
    ref = sp.linalg.spsolve(C.tocsr().tocsc(), C.unpad(b))
    assert np.abs(x - ref).max() <= 1e-10 * np.abs(ref).max()
    x32 = C.unpad(lu.astype(np.float32)(b.astype(np.float32)))
    assert x32.dtype == np.float32 and np.abs(x32 - ref).max() <= 1e-5 * np.abs(ref).max()
