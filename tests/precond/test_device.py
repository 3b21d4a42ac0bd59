"""Preconditioners built from device matrices (torch sparse CSR tensors, cupyx) apply on their device.

The torch tests run on the CPU everywhere; the ``needs_gpu`` ones on a GPU machine.
"""

import warnings

import numpy as np
import pytest

import learnsolve
from learnsolve import _backend
from learnsolve.ops import to_device
from learnsolve.precond import DevicePreconditioner

from ..helpers import iterations

torch = pytest.importorskip("torch")
needs_gpu = pytest.mark.skipif(not _backend.HAS_CUPY,
                               reason="no CUDA device: CuPy is not installed or sees no GPU "
                                      "(the GPU tests run on a GPU machine)")

ON_TORCH = ["identity", "jacobi", "fsai", "fsai-adaptive", "gmg-jacobi", "vcycle-2d", "gnn-fsai-a2",
            "gnn-fsai-select", "dcdm-2d", "gnn-fsai", "amg-learned", "amg-chebyshev", "amg-chebyshev:rs",
            "auto"]


@pytest.fixture(scope="module")
def problem():
    p = learnsolve.problems.diffusion(40, variance=2.0, seed=3)
    return p, to_device(p.A, "torch")


def _cg(A, b, M):
    # dcdm-2d is declared nonlinear; cg warns about it
    its, info, x = iterations(A, b, M, rtol=1e-8, maxiter=3000, quiet=True)
    return x, info, its


@pytest.mark.parametrize("name", ON_TORCH)
def test_torch_preconditioner_matches_host_and_converges(problem, name):
    p, T = problem
    P = learnsolve.precond.build(name, T, grid_shape=p.grid_shape)
    H = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    assert isinstance(P, DevicePreconditioner) and P.info["backend"] == "torch"
    r = np.random.default_rng(0).standard_normal(p.n)
    z = P @ torch.from_numpy(r)
    assert isinstance(z, torch.Tensor)
    np.testing.assert_allclose(z.numpy(), H @ r, rtol=1e-9, atol=1e-12 * np.abs(H @ r).max())
    x, info, its = _cg(T, torch.from_numpy(p.b), P)
    assert isinstance(x, torch.Tensor)
    _, _, its_h = _cg(p.A, p.b, H)
    assert abs(its - its_h) <= max(1, its_h // 50)


def test_torch_vcycle_3d_matches_host():
    p = learnsolve.problems.diffusion(12, dim=3, variance=1.0, seed=2)
    P = learnsolve.pretrained("vcycle-3d").aspreconditioner(to_device(p.A, "torch"))
    H = learnsolve.pretrained("vcycle-3d").aspreconditioner(p.A)
    r = np.random.default_rng(1).standard_normal(p.n)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), H @ r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,match", [("ic0", "triangular solves"), ("mic0", "triangular solves"),
                                        ("gnn-ic1-correct", "triangular solves")])
def test_unsupported_on_torch_says_why_and_what_works(problem, name, match):
    _, T = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            learnsolve.precond.build(name, T)


@pytest.mark.parametrize("kind", ["sa", "rs"])
def test_pyamg_hierarchy_cycles_on_the_device(kind):
    """PyAMG's levels built on the host, moved once, cycled with device products and the
    local-Chebyshev smoother: the host cycle of the same levels, within a few iterations of
    PyAMG's own Gauss–Seidel cycle."""
    import pyamg

    from learnsolve.multigrid import algebraic_hierarchy
    from learnsolve.precond._amg_smoother import chebyshev_smoother

    p = learnsolve.problems.fem_diffusion(48, contrast=1e4, seed=1)
    T = to_device(p.A, "torch")
    # SA's default Jacobi prolongation smoothing estimates a spectral radius from a random
    # vector; the Gershgorin ('local') weighting makes both builds the same
    kw = {"smooth": ("jacobi", {"weighting": "local"})} if kind == "sa" else {}
    P = learnsolve.precond.amg(T, kind=kind, **kw)
    assert isinstance(P, DevicePreconditioner) and P.name == f"amg-{kind}"
    build = pyamg.smoothed_aggregation_solver if kind == "sa" else pyamg.ruge_stuben_solver
    H = algebraic_hierarchy(build(p.A.tocsr(), **kw))
    K = [chebyshev_smoother(lvl.A) for lvl in H.levels[:-1]]
    H.with_stencils(K, K)
    r = np.random.default_rng(0).standard_normal(p.n)
    ref = H.apply(r)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), ref, rtol=1e-8,
                               atol=1e-10 * np.abs(ref).max())
    x, info, its = _cg(T, torch.from_numpy(p.b), P)
    assert info == 0 and learnsolve.relative_residual(p.A, x.numpy(), p.b) < 1e-8
    _, _, its_host = _cg(p.A, p.b, learnsolve.precond.amg(p.A, kind=kind))
    assert its <= its_host + 4, (its, its_host)
    with pytest.raises(ValueError, match="on a device matrix the cycle is a V-cycle"):
        learnsolve.precond.amg(T, kind=kind, cycle="W")


@pytest.mark.parametrize("name", ["gmg-jacobi", "vcycle-2d"])
def test_device_cycle_adds_the_cluster_space_and_keeps_the_host_iterations(name):
    """On a rough high-contrast field the device cycle gets the cluster space (built on the host,
    applied with device products): the host's iterations ±1, about half those without it, and
    still a symmetric apply."""
    p = learnsolve.problems.diffusion(128, contrast=1e4, seed=0)
    T = to_device(p.A, "torch")
    P = learnsolve.precond.build(name, T, grid_shape=p.grid_shape)
    H = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    assert P.info["clusters"] == H.info["clusters"] > 100
    assert P.info["cluster_solve"] in ("host", "dense") and "cluster_solve_s" in P.info
    _, info, its = _cg(T, torch.from_numpy(p.b), P)
    _, _, its_h = _cg(p.A, p.b, H)
    assert info == 0 and abs(its - its_h) <= 1, (its, its_h)
    N = learnsolve.precond.build(name + ":noclusters", T, grid_shape=p.grid_shape)
    _, _, its_n = _cg(T, torch.from_numpy(p.b), N)
    assert its_n >= its + 6, (its_n, its)
    x, y = (torch.from_numpy(v) for v in np.random.default_rng(4).standard_normal((2, p.n)))
    xMy, yMx = float(x @ (P @ y)), float(y @ (P @ x))
    assert abs(xMy - yMx) <= 1e-10 * abs(xMy)  # exact coarse solves of E (condition ~1e6)


def test_device_preconditioner_refuses_host_arrays(problem):
    p, T = problem
    P = learnsolve.precond.jacobi(T)
    with pytest.raises(TypeError, match="got a NumPy array"):
        P @ p.b


def test_device_vcycle_is_set_up_on_the_device(problem):
    _, T = problem
    P = learnsolve.pretrained("vcycle-2d").aspreconditioner(T)
    assert P.info["setup"] == "device" and P.info["device"] == "cpu" and 0 < P.info["rho"] < 0.5


def test_device_vcycle_refuses_a_nonsymmetric_matrix():
    p = learnsolve.problems.poisson((12, 12))
    A = p.A.tolil()
    A[5, 6] = -2.0
    with pytest.raises(ValueError, match="not symmetric"):
        learnsolve.precond.gmg(to_device(A.tocsr(), "torch"))


def test_device_vcycle_falls_back_to_jacobi_when_the_check_fails(problem, monkeypatch):
    from learnsolve.precond import _vcycle

    p, T = problem
    monkeypatch.setattr(_vcycle, "_start_vector", lambda H: H.levels[0].A.pad(
        torch.full((1, H.levels[0].A.n), float("nan"), dtype=H.dtype)))
    with pytest.warns(RuntimeWarning, match="falling back to Jacobi on the device"):
        P = learnsolve.pretrained("vcycle-2d").aspreconditioner(T)
    assert P.name == "jacobi" and "fallback" in P.info
    r = np.random.default_rng(3).standard_normal(p.n)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), r / p.A.diagonal(), rtol=1e-12)


def test_cuda_graph_option_off_cuda(problem):
    """``graph='auto'`` stays eager on a CPU tensor and says why; ``True`` there, or on a SciPy
    matrix, is an error; ``:nograph`` turns it off."""
    from learnsolve.precond._device import cuda_graphed

    p, T = problem
    model = learnsolve.pretrained("vcycle-2d")
    P = model.aspreconditioner(T)
    assert P.info["graph"] is False and "CUDA" in P.info["graph_skipped"]
    E = learnsolve.precond.build("vcycle-2d:nograph", T)
    assert E.info["graph"] is False and "graph_skipped" not in E.info
    r = torch.from_numpy(np.random.default_rng(2).standard_normal(p.n))
    np.testing.assert_array_equal((P @ r).numpy(), (E @ r).numpy())
    with pytest.raises(ValueError, match=r"aspreconditioner: `graph=True` needs a matrix on a CUDA"):
        model.aspreconditioner(T, graph=True)
    with pytest.raises(ValueError, match=r"gmg: `graph=True` .* for a SciPy matrix"):
        learnsolve.precond.gmg(p.A, graph=True)
    with pytest.raises(ValueError, match=r"`graph`='yes' is not one of"):
        learnsolve.precond.gmg(T, graph="yes")

    def double(v):
        return 2 * v

    fn, why = cuda_graphed(double, r)
    assert fn is double and "CUDA device" in why


def _every_linear_preconditioner():
    """Every name ``precond.build`` takes, but the DCDM models (nonlinear: flexible CG only)."""
    from learnsolve.precond import BUILDERS, GRID_BUILDERS
    from learnsolve.zoo import available

    return [n for n in sorted(BUILDERS) + sorted(GRID_BUILDERS) + available() if not n.startswith("dcdm")]


CUPY_PRECONDS = _every_linear_preconditioner()


def test_the_gpu_list_is_every_linear_preconditioner():
    assert {"ic0", "ic2", "mic0", "ssor", "amg-learned", "amg-sa", "vcycle-2d", "vcycle-3d", "auto",
            "gnn-ic-fem", "gnn-fsai"} <= set(CUPY_PRECONDS)
    assert not any(n.startswith("dcdm") for n in CUPY_PRECONDS)


def test_fastest_keeps_the_fastest_candidate_that_agrees():
    import time

    from learnsolve.precond._device import fastest

    x = np.arange(1.0, 6.0)

    def slow(v):
        time.sleep(0.01)
        return v * 2

    def broken(v):
        raise RuntimeError("no such kernel")

    cands = {"ref": slow, "fast": lambda v: v + v, "wrong": lambda v: v * 3, "broken": broken}
    name, f, times = fastest(cands, x, sync=lambda: None, reference="ref")
    assert name == "fast" and f is cands["fast"]
    assert isinstance(times["ref"], float) and times["ref"] >= 0.009 > times["fast"]
    assert times["wrong"].startswith("differs from ref") and "no such kernel" in times["broken"]


@needs_gpu
@pytest.mark.parametrize("name", CUPY_PRECONDS)
def test_cupyx_cg_converges_with_every_preconditioner(name):
    """``cupyx.scipy.sparse.linalg.cg(A_gpu, b_gpu, M=P)`` to rtol 1e-8 for P built from a cupyx matrix."""
    import inspect
    import warnings

    import cupy
    import cupyx.scipy.sparse.linalg as cspla

    from learnsolve.ops import to_device

    if name.endswith("3d"):
        p = learnsolve.problems.diffusion(16, dim=3, variance=2.0, seed=4)
    elif name == "gnn-ic-fem":
        p = learnsolve.problems.fem_diffusion(24, contrast=1e2, seed=4)
    else:
        p = learnsolve.problems.diffusion(64, variance=2.0, seed=4)
    A = to_device(p.A, "cupy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # learned models may warn and fall back; that is still valid
        P = learnsolve.precond.build(name, A, grid_shape=p.grid_shape)
    assert P.info["backend"] == "cupy"
    b = cupy.asarray(p.b)
    tol = "rtol" if "rtol" in inspect.signature(cspla.cg).parameters else "tol"
    x, info = cspla.cg(A, b, M=P, maxiter=5000, **{tol: 1e-8})
    assert info == 0
    assert learnsolve.relative_residual(p.A, cupy.asnumpy(x), p.b) <= 1e-7


@needs_gpu
@pytest.mark.parametrize("name", ["vcycle-2d", "gmg-jacobi"])
@pytest.mark.parametrize("covariance", ["gaussian", "exponential"])
def test_gpu_vcycle_set_up_on_device_matches_cpu_iterations(name, covariance):
    """Set-up and apply on the GPU; iterations within ±1 of the CPU cycle's (on the rough field
    with the cluster space on both)."""
    import cupy

    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(128, contrast=1e4, covariance=covariance, seed=3)
    P = learnsolve.precond.build(name, to_device(p.A, "cupy"), grid_shape=p.grid_shape)
    assert P.info["setup"] == "device" and P.info["backend"] == "cupy"
    res_gpu, res_cpu = [], []
    x, info = learnsolve.krylov.cg(to_device(p.A, "cupy"), cupy.asarray(p.b), rtol=1e-8, M=P,
                                   residuals=res_gpu)
    assert info == 0 and learnsolve.relative_residual(p.A, cupy.asnumpy(x), p.b) <= 1e-8
    H = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=H, residuals=res_cpu)
    assert abs(len(res_gpu) - len(res_cpu)) <= 1


@needs_gpu
def test_cuda_graph_replay_equals_the_eager_cycle():
    """The V-cycle replayed from a CUDA graph gives the eager cycle's output, apply after apply
    (the static buffers are copied out), and the same CG iterations."""
    import torch

    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(96, variance=2.0, seed=6)
    T = to_device(p.A, "torch", device="cuda")
    model = learnsolve.pretrained("vcycle-2d")
    G = model.aspreconditioner(T, graph=True)
    E = model.aspreconditioner(T, graph=False)
    assert G.info["graph"] is True and E.info["graph"] is False
    rng = np.random.default_rng(0)
    r1, r2 = (torch.as_tensor(rng.standard_normal(p.n), device="cuda") for _ in range(2))
    z1, z2 = G @ r1, G @ r2
    for z, r in ((z1, r1), (z2, r2)):
        e = E @ r
        assert float((z - e).abs().max()) <= 1e-12 * float(e.abs().max())
    z32 = G @ r1.to(torch.float32)  # another dtype runs eagerly
    assert z32.dtype == torch.float32
    res_g, res_e = [], []
    b = torch.as_tensor(p.b, device="cuda")
    x, info = learnsolve.krylov.cg(T, b, rtol=1e-8, M=G, residuals=res_g)
    learnsolve.krylov.cg(T, b, rtol=1e-8, M=E, residuals=res_e)
    assert info == 0 and len(res_g) == len(res_e)
    assert learnsolve.relative_residual(p.A, x.cpu().numpy(), p.b) <= 1e-8
    C = model.aspreconditioner(to_device(p.A, "cupy"))  # CuPy vectors through DLPack, graphed
    assert C.info["graph"] is True


@needs_gpu
def test_gpu_cluster_space_coarse_solvers_agree():
    """On a GPU the coarse solve has the SuperLU factors on the device (cuSPARSE, the level
    kernel) besides the host round trip and the dense inverse; each solves ``E y = c``."""
    from learnsolve.multigrid import ClusterSpace, DeviceClusterSpace

    p = learnsolve.problems.diffusion(128, contrast=1e4, seed=0)
    space = ClusterSpace(p.A, p.grid_shape).build()
    dev = DeviceClusterSpace(space, "cuda")
    solvers = dev.coarse_solvers()
    assert {"host", "dense", "cusparse"} <= set(solvers), dev.skipped
    c = np.random.default_rng(5).standard_normal(space.m)
    for name, solve in solvers.items():
        y = solve(torch.as_tensor(c, device="cuda")).cpu().numpy()
        assert np.linalg.norm(space.E @ y - c) <= 1e-10 * np.linalg.norm(c), name
