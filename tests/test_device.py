"""Preconditioners built from torch sparse CSR tensors apply on the tensors' device (CPU here)."""

import warnings

import numpy as np
import pytest

import learnsolve
from learnsolve.ops import to_device
from learnsolve.precond._device import DevicePreconditioner

torch = pytest.importorskip("torch")

ON_TORCH = ["identity", "jacobi", "fsai", "gmg-jacobi", "vcycle-2d", "gnn-fsai-a2", "dcdm-2d"]


@pytest.fixture(scope="module")
def problem():
    p = learnsolve.problems.diffusion(40, variance=2.0, seed=3)
    return p, to_device(p.A, "torch")


def _cg(A, b, M):
    res = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dcdm-2d is declared nonlinear; cg warns about it
        x, info = learnsolve.krylov.cg(A, b, rtol=1e-8, M=M, residuals=res, maxiter=3000)
    return x, info, len(res) - 1


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
    assert isinstance(x, torch.Tensor) and info == 0
    assert learnsolve.relative_residual(p.A, x.numpy(), p.b) <= 1e-8
    _, info_h, its_h = _cg(p.A, p.b, H)
    assert info_h == 0 and abs(its - its_h) <= max(1, its_h // 50)


def test_torch_vcycle_3d_matches_host():
    p = learnsolve.problems.diffusion(12, dim=3, variance=1.0, seed=2)
    P = learnsolve.pretrained("vcycle-3d").aspreconditioner(to_device(p.A, "torch"))
    H = learnsolve.pretrained("vcycle-3d").aspreconditioner(p.A)
    r = np.random.default_rng(1).standard_normal(p.n)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), H @ r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,match", [("ic0", "triangular solves"), ("mic0", "triangular solves"),
                                        ("gnn-ic1-correct", "triangular solves"),
                                        ("amg-sa", "on the host only")])
def test_unsupported_on_torch_says_why_and_what_works(problem, name, match):
    _, T = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            learnsolve.precond.build(name, T)


def test_device_preconditioner_refuses_host_arrays(problem):
    p, T = problem
    P = learnsolve.precond.jacobi(T)
    with pytest.raises(TypeError, match="got a NumPy array"):
        P @ p.b
