"""Algebraic levels: PyAMG's coarsening, our Galerkin products, the device copy."""

import numpy as np
import pytest
import scipy.sparse as sp

from learnsolve import problems
from learnsolve.multigrid import (
    MAX_COARSE,
    aggregation_hierarchy,
    classical_hierarchy,
    device_hierarchy,
)


@pytest.fixture(scope="module")
def fem():
    return problems.fem_diffusion(40, contrast=1e4, seed=3).A


def test_aggregation_levels_are_galerkin_and_deterministic(fem):
    H = aggregation_hierarchy(fem, max_coarse=50)
    assert len(H) >= 3 and H.levels[-1].A.shape[0] <= 50
    for fine, coarse in zip(H.levels, H.levels[1:]):
        galerkin = fine.P.T @ fine.A @ fine.P
        assert abs(galerkin - coarse.A).max() <= 1e-12 * abs(coarse.A).max()
        assert abs(fine.R - fine.P.T).max() == 0
    again = aggregation_hierarchy(fem, max_coarse=50)
    assert all((a.A != b.A).nnz == 0 for a, b in zip(H.levels, again.levels))


def test_aggregation_follows_the_strength_threshold(fem):
    """θ = 0 (PyAMG's default) aggregates across the coefficient jumps; the default θ does not,
    which shows in the coarse level's size."""
    loose = aggregation_hierarchy(fem, theta=0.0, max_coarse=50)
    default = aggregation_hierarchy(fem, max_coarse=50)
    assert default.levels[1].A.shape[0] > loose.levels[1].A.shape[0]


def test_small_matrix_is_one_direct_level():
    A = problems.poisson((10, 10)).A
    H = aggregation_hierarchy(A)
    assert len(H) == 1 and A.shape[0] <= MAX_COARSE
    b = np.arange(100.0)
    assert np.allclose(A @ H.apply(b), b)


def test_no_strong_connections_stop_coarsening():
    """A threshold above every coupling leaves every node unaggregated: no empty aggregate (whose
    zero column would make the coarse matrix singular), the level is solved directly."""
    A = problems.anisotropic(24, eps=1e-3).A
    H = aggregation_hierarchy(A, theta=0.9, max_coarse=10)
    assert len(H) == 1


def test_singular_matrix_is_reported():
    """A pure-Neumann Laplacian (constant null space) small enough for the direct level."""
    n = 20
    L = sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1])
    L = sp.csr_array(L.tolil())
    L[0, 0] = L[n - 1, n - 1] = 1.0
    with pytest.raises(ValueError, match="singular.*Dirichlet"):
        aggregation_hierarchy(sp.csr_array(L))


def test_classical_levels_are_galerkin():
    A = problems.anisotropic(48, eps=1e-3, theta=0.5).A
    H = classical_hierarchy(A, max_coarse=50)
    assert len(H) >= 3 and H.levels[-1].A.shape[0] <= 50
    for fine, coarse in zip(H.levels, H.levels[1:]):
        galerkin = fine.R @ fine.A @ fine.P
        assert abs(galerkin - coarse.A).max() <= 1e-12 * abs(coarse.A).max()


def test_device_hierarchy_matches_the_host_cycle(fem):
    torch = pytest.importorskip("torch")
    H = aggregation_hierarchy(fem, max_coarse=50)
    K = [sp.diags_array(0.6 / lvl.A.diagonal()).tocsr() for lvl in H.levels[:-1]]
    b = np.random.default_rng(0).standard_normal(fem.shape[0])
    host = H.with_stencils(K, K).apply(b)
    dev = device_hierarchy(H, K, "torch").apply(torch.from_numpy(b)).numpy()
    assert np.allclose(dev, host, rtol=1e-10, atol=1e-12)
