"""Grid V-cycles as preconditioners: gmg (Jacobi) and the learned cycle, checks and fallbacks."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import torch

import learnsolve
from learnsolve import multigrid as mg

from ..helpers import SHARED, iterations


@pytest.mark.parametrize("shape", [(64, 64), (50, 70), (16, 16, 16)])
def test_gmg_in_scipy_cg(shape):
    p = learnsolve.problems.poisson(shape)
    M = learnsolve.precond.gmg(p.A, shape)
    assert M.is_spd and M.info["rho"] < 0.6 and M.info["levels"] >= 3
    x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
    assert iterations(p.A, p.b, M)[0] <= 12


@pytest.mark.parametrize("name", ["gmg-jacobi", "vcycle-2d"])
def test_setup_times_name_every_stage_and_add_up_to_the_setup(name):
    p = learnsolve.problems.diffusion(96, contrast=1e4, seed=1)
    M = learnsolve.precond.build(name, p.A)
    st = M.info["setup_times"]
    assert {"stencil", "checks", "hierarchy", "smoothers", "check", "clusters"} <= set(st)
    assert all(v >= 0 for v in st.values())
    assert sum(st.values()) <= 1e3 * M.setup_time + 1.0  # milliseconds, rounded to 0.1


def test_guard_gives_jacobi_to_coarse_levels_whose_smoother_diverges():
    p = learnsolve.problems.diffusion(64, contrast=1e4, seed=3)
    model = learnsolve.pretrained("vcycle-2d")
    H = mg.grid_hierarchy(p.A, p.grid_shape)
    K, KT = model.smoothers(H)
    K[1], KT[1] = 6.0 * K[1], 6.0 * KT[1]  # level 1's smoother now overshoots: ‖I − K A‖_A > 1
    H.with_stencils(K, KT)
    e = np.random.default_rng(0).standard_normal(p.n)
    assert not mg.contraction(lambda v: p.A @ v, H.apply, e, steps=8) < 1
    assert learnsolve.precond.guard_smoothers(H, 0.65) == [1]
    assert H.levels[1].presmoother.K.shape[1] == 1  # damped Jacobi, centre only
    assert H.levels[2].presmoother.K.shape[1] == 9  # the learned smoothers that contract stay
    assert mg.contraction(lambda v: p.A @ v, H.apply, e, steps=8) < 0.95  # convergent again
    # the learned cycle reports what it guarded; on a smooth field nothing is
    M = model.aspreconditioner(learnsolve.problems.diffusion(64, variance=2.0, seed=3).A)
    assert M.info["guarded_levels"] == [] and "guard" in M.info["setup_times"]


def test_the_guard_runs_only_across_coefficient_jumps(monkeypatch):
    """The guard's power steps run where ``A`` has weak couplings (coefficient jumps), the only
    fields where a learned level smoother was seen not to contract; elsewhere they are skipped."""
    from learnsolve.precond import _vcycle

    calls = []
    real = _vcycle.guard_smoothers
    monkeypatch.setattr(_vcycle, "guard_smoothers", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = learnsolve.pretrained("vcycle-2d")
    for p in (learnsolve.problems.poisson((64, 64)), learnsolve.problems.diffusion(64, variance=3.0)):
        assert model.aspreconditioner(p.A).info["guarded_levels"] == []
    assert calls == []
    rough = learnsolve.problems.diffusion(64, contrast=1e4, seed=3)
    assert model.aspreconditioner(rough.A).info["guarded_levels"] and calls == [1]
    T = learnsolve.ops.to_device(rough.A, "torch")  # the device cycle decides the same way
    assert model.aspreconditioner(T).info["guarded_levels"] and calls == [1, 1]


@pytest.mark.parametrize("p", [learnsolve.problems.diffusion(40, contrast=1e4, seed=2),
                               learnsolve.problems.diffusion(40, variance=2.0, seed=2),
                               learnsolve.problems.diffusion(10, dim=3, contrast=1e2, seed=2),
                               learnsolve.problems.poisson((9, 7))], ids=["jumps", "smooth", "3d", "poisson"])
def test_weak_couplings_count_the_csr_entries_across_jumps(p):
    A = p.A.tocoo()
    d = p.A.diagonal()
    off = (A.row != A.col) & (A.data != 0)
    want = int(np.count_nonzero(np.abs(A.data[off]) <= 0.05 * np.sqrt(d[A.row[off]] * d[A.col[off]])))
    S, shape = mg.grid_stencil(p.A, p.grid_shape)
    assert mg.weak_couplings(S, shape) == want
    St, _ = mg.grid_stencil(learnsolve.ops.to_device(p.A, "torch"), p.grid_shape)
    assert mg.weak_couplings(St, shape) == want


@pytest.mark.slow
def test_rough_3d_field_keeps_the_learned_cycle():
    """On rough 3D contrast-1e4 fields the learned smoothers of the second and third levels
    diverge (‖I − K A‖ up to 4); guarded, the cycle converges without the SA fallback."""
    p = learnsolve.problems.diffusion(48, dim=3, contrast=1e4, seed=0)
    M = learnsolve.pretrained("vcycle-3d").aspreconditioner(p.A)
    assert M.name == "vcycle-3d" and M.info["guarded_levels"] and M.info["rho"] < 0.8
    assert iterations(p.A, p.b, M)[0] <= 16


def test_divergent_smoother_falls_back_to_amg_with_warning():
    p = learnsolve.problems.poisson((32, 32))
    with pytest.warns(RuntimeWarning, match="falling back to PyAMG smoothed aggregation"):
        M = learnsolve.precond.gmg(p.A, omega=3.0)
    assert M.name == "amg-sa" and "ρ(I − M A)" in M.info["fallback"]
    iterations(p.A, p.b, M)


@pytest.mark.parametrize("name,p", [
    ("vcycle-2d", learnsolve.problems.diffusion(70, contrast=1e4, seed=2)),
    ("vcycle-3d", learnsolve.problems.diffusion((9, 12, 10), dim=3, variance=2.0, seed=1)),
])
def test_host_smoothers_are_the_networks_forward(name, p):
    """The host path (numba inputs and scaling around the network's MLP, ``Kᵀ`` written in the
    same pass) gives the network's own torch forward on every level, to the bit."""
    model = learnsolve.pretrained(name)
    H = mg.grid_hierarchy(p.A, p.grid_shape)
    K, KT = model.smoothers(H)
    assert len(K) == len(H) - 1
    for lvl, k, kt in zip(H.levels, K, KT):
        S = torch.from_numpy(lvl.A.stencil().astype(np.float32))[None]
        m = S.shape[1]
        with torch.no_grad():
            full = model.model.smoother(S)[0].reshape(m, -1).numpy().T  # cell-major (N, m)
        # the shipped models keep K on A's pattern: the offsets of lvl.A.active, zero elsewhere
        live = lvl.A.active if model.model.pattern else np.arange(m)
        assert not full[:, np.setdiff1d(np.arange(m), live)].any()
        ref = np.ascontiguousarray(full[:, live])
        assert k.dtype == np.float32 and np.array_equal(k, ref)
        ref_t = np.zeros_like(ref)
        learnsolve.ops.stencil.transpose_stencil(ref, lvl.A.delta[live], lvl.A.mirror_of(live),
                                                 ref_t, *lvl.A.bounds)
        assert np.array_equal(kt, ref_t)
    dim = len(p.grid_shape)
    assert K[0].shape[1] == 2 * dim + 1 and K[1].shape[1] == 3 ** dim  # 5/7 points, then 9/27


def test_pretrained_vcycle_2d_iterations_do_not_grow():
    model = learnsolve.pretrained("vcycle-2d")
    assert model.meta["method"] == "vcycle" and model.meta["dim"] == 2
    counts = {}
    for n in (64, 128, 256):
        for fam, p in (("poisson", learnsolve.problems.poisson((n, n), seed=3)),
                       ("lognormal", learnsolve.problems.diffusion(n, variance=2.0, seed=3))):
            counts[fam, n] = iterations(p.A, p.b, model.aspreconditioner(p.A))[0]
    for fam in ("poisson", "lognormal"):
        assert counts[fam, 256] <= 7 and counts[fam, 256] <= counts[fam, 64] + 1, counts


def test_pretrained_vcycle_beats_jacobi_smoothing_per_sweep():
    p = learnsolve.problems.diffusion(128, variance=2.0, seed=4)
    learned = iterations(p.A, p.b, learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A))[0]
    assert learned < iterations(p.A, p.b, learnsolve.precond.gmg(p.A, nu=1))[0]


def test_pretrained_vcycle_3d_converges():
    p = learnsolve.problems.diffusion(24, dim=3, variance=2.0, seed=5)
    M = learnsolve.pretrained("vcycle-3d").aspreconditioner(p.A)
    x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
    assert iterations(p.A, p.b, M)[0] <= 8


def test_vcycle_model_for_other_dimension_or_non_grid_matrix_is_refused():
    with pytest.raises(ValueError, match=r"for 2D grids .* use learnsolve.pretrained\('vcycle-3d'\)"):
        learnsolve.pretrained("vcycle-2d").aspreconditioner(learnsolve.problems.poisson((6, 6, 6)).A)
    import glob
    import os

    p = learnsolve.problems.load_matrix(sorted(glob.glob(f"{SHARED}/*.mtx"))[0]) \
        if os.path.isdir(SHARED) else learnsolve.problems.pyamg_example("airfoil")
    with pytest.raises(mg.NotAGrid, match="use a preconditioner for general matrices|pass `shape="):
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


@pytest.mark.parametrize("name", ["vcycle-2d", "gmg-jacobi"])
def test_float32_cycle_by_name_keeps_the_float64_iteration_count(name):
    p = learnsolve.problems.diffusion(96, contrast=1e4, seed=3, covariance="gaussian")
    M64 = learnsolve.precond.build(name, p.A)
    M32 = learnsolve.precond.build(f"{name}:float32", p.A)
    assert M32.info["dtype"] == "float32" and M64.info["dtype"] == "float64"
    assert M32.hierarchy.dtype == np.float32 and M64.hierarchy.dtype == np.float64
    n64 = iterations(p.A, p.b, M64, rtol=1e-8)[0]
    n32 = iterations(p.A, p.b, M32, rtol=1e-8)[0]
    assert abs(n32 - n64) <= 1


@pytest.mark.parametrize("name", ["ic0:float32", "vcycle-2d:float16", "ic0:noclusters",
                                  "vcycle-2d:float32:nocluster", "dcdm-2d:noclusters",
                                  "vcycle-2d:rs", "amg-learned:float32"])
def test_name_options_only_for_cycles(name):
    p = learnsolve.problems.poisson((16, 16))
    with pytest.raises(ValueError, match="only the cycles\\s+take options.*noclusters"):
        learnsolve.precond.build(name, p.A)


def test_bad_cycle_arguments_name_the_function():
    p = learnsolve.problems.poisson((16, 16))
    with pytest.raises(ValueError, match=r"precond.gmg: `dtype` must be float32 or float64"):
        learnsolve.precond.gmg(p.A, dtype=np.float16)
    with pytest.raises(ValueError, match=r"`graph=True` .* needs a\s+cupyx or torch CUDA matrix"):
        learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A, graph=True)
    with pytest.raises(ValueError, match=r"gmg: `A` is not symmetric \(max \|A - A\^T\| = 4"):
        N = p.A.tolil()
        N[0, 1] = 3.0
        learnsolve.precond.gmg(N.tocsr())
