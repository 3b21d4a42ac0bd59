"""CUDA kernels (csrc/cuda): an nvcc syntax gate on any machine, GPU checks against CPU references."""

import shutil
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import _backend
from learnsolve.ops import cuda as lcuda
from learnsolve.ops import stencil as kernels

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

    from learnsolve.multigrid import GridOperator, grid_stencil

    p = learnsolve.problems.diffusion(shape, variance=1.0, seed=2)
    lvl = GridOperator(*grid_stencil(p.A, shape))
    bounds, delta = lvl.bounds, lvl.delta
    rng = np.random.default_rng(3)
    N = lvl.S.shape[1]
    b, x, K = rng.standard_normal(N), rng.standard_normal(N), rng.standard_normal(lvl.S.shape)
    r_cpu, r_gpu = np.zeros(N), cupy.zeros(N)
    # the GPU kernels read stencils offset by offset (m, N), the CPU ones cell by cell (N, m)
    kernels.residual(np.ascontiguousarray(lvl.S.T), delta, b, x, r_cpu, *bounds)
    lcuda.stencil_residual(cupy.asarray(lvl.S), cupy.asarray(delta), cupy.asarray(b), cupy.asarray(x),
                           r_gpu, *bounds)
    np.testing.assert_allclose(cupy.asnumpy(r_gpu), r_cpu, rtol=1e-12, atol=1e-12)
    x_cpu, x_gpu = x.copy(), cupy.asarray(x)
    kernels.matvec(np.ascontiguousarray(K.T), delta, r_cpu, x_cpu, *bounds, True)
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


