"""Preconditioners built from torch sparse CSR tensors apply on the tensors' device (CPU here)."""

import warnings

import numpy as np
import pytest

import learnsolve
from learnsolve.ops import to_device
from learnsolve.precond._device import DevicePreconditioner

torch = pytest.importorskip("torch")

ON_TORCH = ["identity", "jacobi", "fsai", "fsai-adaptive", "gmg-jacobi", "vcycle-2d", "gnn-fsai-a2",
            "gnn-fsai-select", "dcdm-2d"]


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


@pytest.mark.parametrize("make", [
    lambda: learnsolve.problems.poisson((16, 16)),
    lambda: learnsolve.problems.diffusion((37, 50), contrast=1e4, seed=1),  # odd and even sides
    lambda: learnsolve.problems.diffusion((10, 12, 9), dim=3, variance=2.0, seed=2),
])
def test_torch_hierarchy_setup_matches_numba(make):
    """Stencils, black-box interpolation and Galerkin operators built in torch = the numba ones."""
    from learnsolve.ops import GridHierarchy
    from learnsolve.ops._grid_torch import grid_stencil_torch, hierarchy_torch
    from learnsolve.problems import grid_stencil

    p = make()
    S, shape = grid_stencil(p.A, p.grid_shape)
    St = grid_stencil_torch(to_device(p.A, "torch"), p.grid_shape)
    np.testing.assert_array_equal(St.numpy(), S)
    H = GridHierarchy(S, shape)
    stencils, interps, shapes, cinv = hierarchy_torch(St, shape)
    assert shapes == [lvl.shape for lvl in H.levels]
    m = S.shape[0]
    for lvl, St_l in zip(H.levels, stencils):
        np.testing.assert_allclose(St_l.numpy().reshape(m, -1), lvl.S, rtol=1e-12,
                                   atol=1e-12 * np.abs(lvl.S).max())
    for lvl, Pc in zip(H.levels, interps):
        np.testing.assert_allclose(Pc.numpy().reshape(m, -1), lvl.Pc, rtol=1e-10, atol=1e-12)
    from learnsolve.problems._stencil import stencil_to_csr

    Ac = stencil_to_csr(H.levels[-1].S.reshape((m,) + H.levels[-1].padded), shapes[-1]).toarray()
    np.testing.assert_allclose(cinv.numpy() @ Ac, np.eye(Ac.shape[0]), atol=1e-9)


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
    from learnsolve.precond import _vcycle_device

    p, T = problem
    monkeypatch.setattr(_vcycle_device, "_start_vector", lambda TH: TH.pad(
        torch.full((1, int(np.prod(TH.shapes[0]))), float("nan"), dtype=TH.S[0].dtype)))
    with pytest.warns(RuntimeWarning, match="falling back to Jacobi on the device"):
        P = learnsolve.pretrained("vcycle-2d").aspreconditioner(T)
    assert P.name == "jacobi" and "fallback" in P.info
    r = np.random.default_rng(3).standard_normal(p.n)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), r / p.A.diagonal(), rtol=1e-12)


def test_cuda_graph_option_off_cuda(problem):
    """``graph='auto'`` stays eager on a CPU tensor and says why; ``True`` there, or on a SciPy
    matrix, is an error; ``:nograph`` turns it off."""
    from learnsolve.precond._vcycle_device import cuda_graphed

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
