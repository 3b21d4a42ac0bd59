"""Grid stencils, the multigrid hierarchy, classical and learned V-cycles."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch

import learnsolve
from learnsolve.nn import SmootherNet, TorchHierarchy
from learnsolve.ops import GridHierarchy
from learnsolve.problems import NotAGrid, grid_stencil, stencil_to_csr
from learnsolve.problems._stencil import interior

from .conftest import SHARED

GRIDS = [
    lambda: learnsolve.problems.poisson((9, 10)),
    lambda: learnsolve.problems.diffusion((13, 11), contrast=1e3, seed=1),
    lambda: learnsolve.problems.anisotropic(12),
    lambda: learnsolve.problems.diffusion((6, 5, 7), dim=3, seed=2),
    lambda: learnsolve.problems.poisson((5, 6, 4)),
]


def its(A, b, M, rtol=1e-6, maxiter=500):
    res = []
    x, info = learnsolve.krylov.cg(A, b, rtol=rtol, M=M, residuals=res, maxiter=maxiter)
    return len(res) - 1, info, x


def prolongation_matrix(H, l):
    """P of level l as a dense matrix, by prolongating unit vectors."""
    fine, coarse = H.levels[l], H.levels[l + 1]
    T = TorchHierarchy([H])
    P = np.zeros((fine.n, coarse.n))
    for j in range(coarse.n):
        e = np.zeros(coarse.S.shape[1])
        idx = np.arange(coarse.S.shape[1]).reshape(coarse.padded)
        e[interior(idx, H.dim).reshape(-1)[j]] = 1.0
        x = T.prolong(l, torch.as_tensor(e.reshape((1,) + coarse.padded)))
        P[:, j] = interior(x[0].numpy(), H.dim).reshape(-1)
    return P


@pytest.mark.parametrize("make", GRIDS)
def test_grid_stencil_round_trip(make):
    p = make()
    S, shape = grid_stencil(p.A, p.grid_shape)
    assert shape == tuple(p.grid_shape)
    assert abs(stencil_to_csr(S, shape) - p.A).max() < 1e-12


def test_grid_shape_is_inferred_for_squares_and_cubes():
    assert grid_stencil(learnsolve.problems.poisson((8, 8)).A)[1] == (8, 8)
    assert grid_stencil(learnsolve.problems.poisson((5, 5, 5)).A)[1] == (5, 5, 5)


def test_not_a_grid_matrix_is_a_clear_error():
    p = learnsolve.problems.poisson((6, 8))
    with pytest.raises(NotAGrid, match="pass `shape="):
        grid_stencil(p.A)  # 48 unknowns: neither a square nor a cube
    with pytest.raises(NotAGrid, match="not neighbours on a 8×6 grid"):
        grid_stencil(p.A, (8, 6))
    with pytest.raises(NotAGrid, match="does not have 48 cells"):
        grid_stencil(p.A, (7, 7))


@pytest.mark.parametrize("make", GRIDS)
def test_galerkin_stencils_equal_pt_a_p(make):
    p = make()
    H = GridHierarchy(*grid_stencil(p.A, p.grid_shape), coarsest=4)
    assert len(H.levels) >= 2
    A = p.A.toarray()
    for l in range(len(H.levels) - 1):
        P = prolongation_matrix(H, l)
        assert np.array_equal(H.prolongation(l).toarray(), P)  # the sparse P the diagnostics use
        lvl = H.levels[l + 1]
        Ac = stencil_to_csr(lvl.S.reshape((-1,) + lvl.padded), lvl.shape).toarray()
        assert np.array_equal(H.matrix(l + 1).toarray(), Ac)
        assert np.abs(P.T @ A @ P - Ac).max() < 1e-10 * np.abs(Ac).max()
        A = Ac


def test_black_box_interpolation_is_bilinear_for_poisson():
    H = GridHierarchy(*grid_stencil(learnsolve.problems.poisson((15, 15)).A), coarsest=4)
    P = prolongation_matrix(H, 0).reshape(15, 15, 7, 7)
    col = P[:, :, 3, 3]  # coarse cell (3, 3) sits on fine cell (7, 7)
    expect = np.zeros((15, 15))
    expect[6:9, 6:9] = np.outer([0.5, 1, 0.5], [0.5, 1, 0.5])
    assert np.allclose(col, expect)


@pytest.mark.parametrize("make", [GRIDS[1], GRIDS[3]])
@pytest.mark.parametrize("nu", [1, 2])
def test_numba_vcycle_equals_torch_reference_and_is_symmetric(make, nu):
    p = make()
    H = GridHierarchy(*grid_stencil(p.A, p.grid_shape), coarsest=8)
    T = TorchHierarchy([H])
    torch.manual_seed(0)
    net = SmootherNet(H.dim).double()
    torch.nn.init.normal_(net.mlp[-1].weight, std=0.05)
    with torch.no_grad():
        K = T.smoothers(net)
        ref = T.unpad(T.vcycle(T.pad(torch.as_tensor(p.b)[None]), K, nu))[0].numpy()
    Kn = [k[0].reshape(k.shape[1], -1).numpy() for k in K]
    out = H.vcycle(p.b, Kn, nu)
    assert np.abs(out - ref).max() < 1e-12 * np.abs(ref).max()
    u, v = np.random.default_rng(1).standard_normal((2, p.n))
    assert abs(v @ H.vcycle(u, Kn, nu) - u @ H.vcycle(v, Kn, nu)) < 1e-10 * abs(v @ H.vcycle(u, Kn, nu))


@pytest.mark.parametrize("shape", [(64, 64), (50, 70), (16, 16, 16)])
def test_gmg_in_scipy_cg(shape):
    p = learnsolve.problems.poisson(shape)
    M = learnsolve.precond.gmg(p.A, shape)
    assert M.is_spd and M.info["rho"] < 0.6 and M.info["levels"] >= 3
    x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
    n, info, _ = its(p.A, p.b, M)
    assert info == 0 and n <= 12


def test_divergent_smoother_falls_back_to_amg_with_warning():
    p = learnsolve.problems.poisson((32, 32))
    with pytest.warns(RuntimeWarning, match="falling back to PyAMG smoothed aggregation"):
        M = learnsolve.precond.gmg(p.A, omega=3.0)
    assert M.name == "amg-sa" and "ρ(I − M A)" in M.info["fallback"]
    n, info, x = its(p.A, p.b, M)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-6


def test_pretrained_vcycle_2d_iterations_do_not_grow():
    model = learnsolve.pretrained("vcycle-2d")
    assert model.meta["method"] == "vcycle" and model.meta["dim"] == 2
    counts = {}
    for n in (64, 128, 256):
        for fam, p in (("poisson", learnsolve.problems.poisson((n, n), seed=3)),
                       ("lognormal", learnsolve.problems.diffusion(n, variance=2.0, seed=3))):
            M = model.aspreconditioner(p.A)
            k, info, x = its(p.A, p.b, M)
            assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-6
            counts[fam, n] = k
    for fam in ("poisson", "lognormal"):
        assert counts[fam, 256] <= 7 and counts[fam, 256] <= counts[fam, 64] + 1, counts


def test_pretrained_vcycle_beats_jacobi_smoothing_per_sweep():
    p = learnsolve.problems.diffusion(128, variance=2.0, seed=4)
    learned, _, _ = its(p.A, p.b, learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A))
    jacobi, _, _ = its(p.A, p.b, learnsolve.precond.gmg(p.A, nu=1))
    assert learned < jacobi


def test_pretrained_vcycle_3d_converges():
    p = learnsolve.problems.diffusion(24, dim=3, variance=2.0, seed=5)
    M = learnsolve.pretrained("vcycle-3d").aspreconditioner(p.A)
    x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
    assert its(p.A, p.b, M)[0] <= 8


def test_vcycle_model_for_other_dimension_or_non_grid_matrix_is_refused():
    with pytest.raises(ValueError, match=r"for 2D grids .* use learnsolve.pretrained\('vcycle-3d'\)"):
        learnsolve.pretrained("vcycle-2d").aspreconditioner(learnsolve.problems.poisson((6, 6, 6)).A)
    p = learnsolve.problems.load_matrix(sorted(__import__("glob").glob(f"{SHARED}/*.mtx"))[0]) \
        if __import__("os").path.isdir(SHARED) else learnsolve.problems.pyamg_example("airfoil")
    with pytest.raises(NotAGrid, match="use a preconditioner for general matrices|pass `shape="):
        learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A)


def test_bench_skips_grid_methods_on_general_matrices():
    from learnsolve import bench

    grid = bench.make_problem("poisson:32")
    general = learnsolve.problems.pyamg_example("airfoil")
    rows = bench.run([grid, general], ["jacobi", "gmg-jacobi", "vcycle-2d"], repeats=1,
                     progress=False)
    names = [(r.problem, r.method) for r in rows]
    assert (grid.name, "vcycle-2d") in names and (grid.name, "gmg-jacobi") in names
    assert (general.name, "jacobi") in names and len(rows) == 4
    assert all(r.info == 0 for r in rows)


def test_fit_vcycle_writes_loadable_weights_and_resumes(tmp_path):
    from learnsolve.train import VCycleConfig, fit_vcycle

    out = str(tmp_path / "vc.pt")
    cfg = VCycleConfig(epochs=1, steps_per_epoch=2, batch=2, sizes=(16,), val_size=32)
    hist = fit_vcycle(cfg, out, progress=False)
    assert [h["epoch"] for h in hist] == [-1, 0]
    cfg.epochs = 2
    hist = fit_vcycle(cfg, out, resume=True, progress=False)
    assert [h["epoch"] for h in hist] == [-1, 0, 1]
    model = learnsolve.pretrained(path=out)
    assert model.meta["config"]["epochs"] == 2 and model.meta["method"] == "vcycle"
    p = learnsolve.problems.poisson((32, 32))
    assert its(p.A, p.b, model.aspreconditioner(p.A))[1] == 0


@pytest.mark.parametrize("name", ["vcycle-2d", "gmg-jacobi"])
def test_float32_cycle_by_name_keeps_the_float64_iteration_count(name):
    p = learnsolve.problems.diffusion(96, contrast=1e4, seed=3, covariance="gaussian")
    M64 = learnsolve.precond.build(name, p.A)
    M32 = learnsolve.precond.build(f"{name}:float32", p.A)
    assert M32.info["dtype"] == "float32" and M64.info["dtype"] == "float64"
    n64, info64, _ = its(p.A, p.b, M64, rtol=1e-8)
    n32, info32, x = its(p.A, p.b, M32, rtol=1e-8)
    assert info64 == info32 == 0 and abs(n32 - n64) <= 1
    assert learnsolve.relative_residual(p.A, x, p.b) < 1e-8


@pytest.mark.parametrize("name", ["ic0:float32", "vcycle-2d:float16", "ic0:noclusters",
                                  "vcycle-2d:float32:nocluster", "dcdm-2d:noclusters"])
def test_name_options_only_for_grid_cycles(name):
    p = learnsolve.problems.poisson((16, 16))
    with pytest.raises(ValueError, match="only the grid\\s+cycles take options.*noclusters"):
        learnsolve.precond.build(name, p.A)
