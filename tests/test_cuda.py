"""CUDA kernels (csrc/cuda): an nvcc syntax gate on any machine, GPU checks against CPU references."""

import shutil
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import _backend
from learnsolve.ops import _stencil
from learnsolve.ops import cuda as lcuda

needs_gpu = pytest.mark.skipif(not _backend.HAS_CUPY,
                               reason="no CUDA device: CuPy is not installed or sees no GPU "
                                      "(the GPU tests run on a GPU machine)")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on the PATH")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    """Syntax gate: nvcc compiles the sources to PTX and every kernel the loader names is there."""
    ptx = tmp_path / "k.ptx"
    run = subprocess.run(["nvcc", "--ptx", "-std=c++14", "-o", str(ptx), lcuda.source_path()],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    text = ptx.read_text()
    for name in lcuda.KERNELS:
        for suffix in ("f32", "f64"):
            assert f".entry {name}_{suffix}(" in text


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lower", [True, False])
def test_level_triangular_host_steps_match_scipy(dtype, lower):
    """The level schedule the GPU kernel runs, stepped in NumPy, solves like SciPy."""
    import scipy.sparse.linalg as spla

    A = learnsolve.problems.diffusion((13, 17), contrast=1e3, seed=2).A
    L = sp.csr_array(learnsolve.ops.ichol0(A)).astype(dtype)
    T = L if lower else sp.csr_array(L.T)
    lt = lcuda.LevelTriangular(T, lower, device=False)
    assert lt.n_levels == 13 + 17 - 1  # the wavefronts of a 5-point grid
    b = np.random.default_rng(1).standard_normal(A.shape[0]).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lt.solve(b), spla.spsolve_triangular(T, b, lower=lower), rtol=tol)
    with pytest.raises(ValueError, match=r"LevelTriangular.solve: `b` must be a \(221,\)"):
        lt.solve(b[:-1])
    with pytest.raises(ValueError, match="LevelTriangular: `T` has entries in its upper"):
        lcuda.LevelTriangular(A, True, device=False)


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


def test_cuda_kernels_say_what_is_missing_without_a_gpu(monkeypatch):
    monkeypatch.setattr(_backend, "HAS_CUPY", False)
    with pytest.raises(RuntimeError, match=r"learnsolve.ops.cuda.spmv: CuPy with a CUDA device"):
        lcuda.spmv(None, None)
    with pytest.raises(RuntimeError, match="stencil_residual"):
        lcuda.stencil_residual(*[None] * 9)
    with pytest.raises(RuntimeError, match="LevelTriangular: CuPy with a CUDA device"):
        lcuda.LevelTriangular(sp.eye_array(3, format="csr"))


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("warp", [False, True])
def test_cuda_spmv_matches_scipy(dtype, warp):
    import cupy
    import cupyx.scipy.sparse as csp

    A = sp.csr_array(learnsolve.problems.diffusion(40, variance=1.0, seed=0).A, dtype=dtype)
    A = sp.csr_array(A + sp.random_array(A.shape, density=0.01, random_state=1, dtype=dtype))
    x = np.random.default_rng(0).standard_normal(A.shape[0]).astype(dtype)
    y = lcuda.spmv(csp.csr_matrix(sp.csr_matrix(A)), cupy.asarray(x), warp=warp)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(cupy.asnumpy(y), A @ x, rtol=tol, atol=tol * np.abs(A @ x).max())


@needs_gpu
@pytest.mark.parametrize("shape", [(12, 9), (6, 5, 7)])
def test_cuda_stencil_kernels_match_numba(shape):
    import cupy

    from learnsolve.ops._multigrid import GridLevel
    from learnsolve.problems import grid_stencil

    p = learnsolve.problems.diffusion(shape, variance=1.0, seed=2)
    S, shape = grid_stencil(p.A, shape)
    lvl = GridLevel(np.ascontiguousarray(S.reshape(S.shape[0], -1)), shape)
    bounds, delta = lvl.bounds(), lvl.delta()
    rng = np.random.default_rng(3)
    N = lvl.S.shape[1]
    b, x, K = rng.standard_normal(N), rng.standard_normal(N), rng.standard_normal(lvl.S.shape)
    r_cpu, r_gpu = np.zeros(N), cupy.zeros(N)
    _stencil.residual(lvl.S, delta, b, x, r_cpu, *bounds)
    lcuda.stencil_residual(cupy.asarray(lvl.S), cupy.asarray(delta), cupy.asarray(b), cupy.asarray(x),
                           r_gpu, *bounds)
    np.testing.assert_allclose(cupy.asnumpy(r_gpu), r_cpu, rtol=1e-12, atol=1e-12)
    x_cpu, x_gpu = x.copy(), cupy.asarray(x)
    _stencil.add_matvec(K, delta, r_cpu, x_cpu, *bounds)
    lcuda.stencil_add_matvec(cupy.asarray(K), cupy.asarray(delta), cupy.asarray(r_cpu), x_gpu, *bounds)
    np.testing.assert_allclose(cupy.asnumpy(x_gpu), x_cpu, rtol=1e-12, atol=1e-12)


def test_to_device_torch_round_trip_and_cg():
    torch = pytest.importorskip("torch")
    p = learnsolve.problems.diffusion(20, contrast=1e3, seed=4)
    T = learnsolve.ops.to_device(p.A, "torch")
    assert T.layout == torch.sparse_csr and T.device.type == "cpu"
    np.testing.assert_array_equal(learnsolve.ops.to_device(T, "scipy").toarray(), p.A.toarray())
    x, info = learnsolve.krylov.cg(T, torch.from_numpy(p.b), rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x.numpy(), p.b) < 1e-8
    with pytest.raises(ValueError, match="to_device: unknown `target`"):
        learnsolve.ops.to_device(p.A, "jax")
    with pytest.raises(TypeError, match="to_device: `A` must be"):
        learnsolve.ops.to_device(np.eye(3), "torch")


def test_to_device_cupy_needs_a_gpu(monkeypatch):
    monkeypatch.setattr(_backend, "HAS_CUPY", False)
    with pytest.raises(RuntimeError, match="to_device: CuPy with a CUDA device"):
        learnsolve.ops.to_device(learnsolve.problems.poisson((4, 4)).A, "cupy")


@needs_gpu
def test_to_device_gpu_paths_agree():
    import cupy

    A = learnsolve.problems.diffusion(30, variance=1.0, seed=5).A
    C = learnsolve.ops.to_device(A, "cupy")
    np.testing.assert_array_equal(C.get().toarray(), A.toarray())
    T = learnsolve.ops.to_device(C, "torch", device="cuda")  # DLPack, no host copy
    assert T.device.type == "cuda"
    np.testing.assert_array_equal(learnsolve.ops.to_device(T, "scipy").toarray(), A.toarray())
    back = learnsolve.ops.to_device(T, "cupy")
    x = cupy.arange(A.shape[0], dtype=cupy.float64)
    np.testing.assert_allclose(cupy.asnumpy(back @ x), A @ np.arange(A.shape[0], dtype=float))


CUPY_PRECONDS = ["identity", "jacobi", "ic0", "ic1", "mic0", "ssor", "fsai", "gmg-jacobi", "vcycle-2d",
                 "fsai-adaptive", "gnn-fsai-a2", "gnn-fsai-select", "gnn-ic1-correct"]


@needs_gpu
@pytest.mark.parametrize("name", CUPY_PRECONDS)
def test_cupyx_cg_converges_with_every_preconditioner(name):
    """``cupyx.scipy.sparse.linalg.cg(A_gpu, b_gpu, M=P)`` to rtol 1e-8 for P built from a cupyx matrix."""
    import inspect
    import warnings

    import cupy
    import cupyx.scipy.sparse.linalg as cspla

    from learnsolve.ops import to_device

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
def test_gpu_vcycle_set_up_on_device_matches_cpu_iterations(name):
    """Set-up and apply on the GPU; iterations within ±1 of the CPU cycle's (issue 6)."""
    import cupy

    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(128, contrast=1e4, covariance="gaussian", seed=3)
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
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_level_triangular_kernel_matches_scipy_and_ic0_picks_the_faster(dtype):
    import cupy
    import scipy.sparse.linalg as spla

    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(48, contrast=1e3, seed=2)
    L = sp.csr_array(learnsolve.ops.ichol0(p.A)).astype(dtype)
    b = np.random.default_rng(1).standard_normal(p.n).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for T, lower in ((L, True), (sp.csr_array(L.T), False)):
        x = lcuda.LevelTriangular(T, lower).solve(cupy.asarray(b))
        np.testing.assert_allclose(cupy.asnumpy(x), spla.spsolve_triangular(T, b, lower=lower),
                                   rtol=tol)
    P = learnsolve.precond.ic0(to_device(p.A, "cupy"))
    assert P.info["triangular"] in ("cusparse", "levels")
    assert all(isinstance(t, float) for t in P.info["triangular_s"].values()), P.info


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
def test_bench_on_the_gpu_with_cupyx_baselines_and_host_amg(tmp_path):
    from learnsolve import bench

    p = bench.make_problem("diffusion:64:contrast=1e3")
    rows = {r.method: r for r in bench.run([p], ["cupyx-cg", "cupyx-jacobi", "vcycle-2d", "amg-sa"],
                                           repeats=1, progress=False, device="cuda")}
    assert set(rows) == {"cupyx-cg", "cupyx-jacobi", "vcycle-2d", "amg-sa"}
    for r in rows.values():
        assert r.info == 0 and r.relres <= 1e-5
    assert "GPU:" in bench.machine_info(device="cuda")
