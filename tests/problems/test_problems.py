import os

import numpy as np
import pyamg
import pytest
import scipy.io
import scipy.sparse as sp

import learnsolve
from learnsolve import problems

from ..helpers import SHARED


def _is_spd(A):
    A = A.toarray()
    return np.allclose(A, A.T) and np.linalg.eigvalsh(A).min() > 0


def test_poisson_matches_pyamg():
    for shape in [(7, 5), (4, 3, 5)]:
        p = problems.poisson(shape)
        assert abs(p.A - sp.csr_array(pyamg.gallery.poisson(shape))).max() == 0
        assert p.grid_shape == shape and p.b.shape == (np.prod(shape),)


@pytest.mark.parametrize("cov", ["exponential", "gaussian", "cubic"])
@pytest.mark.parametrize("dim", [2, 3])
def test_diffusion_spd_and_deterministic(cov, dim):
    n = 12 if dim == 2 else 6
    p1 = problems.diffusion(n, dim=dim, covariance=cov, variance=2.0, seed=7)
    p2 = problems.diffusion(n, dim=dim, covariance=cov, variance=2.0, seed=7)
    p3 = problems.diffusion(n, dim=dim, covariance=cov, variance=2.0, seed=8)
    assert abs(p1.A - p2.A).max() == 0 and np.array_equal(p1.b, p2.b)
    assert abs(p1.A - p3.A).max() > 0
    assert _is_spd(p1.A)


def test_diffusion_piecewise_contrast_and_harmonic_faces():
    p = problems.diffusion(32, contrast=1e4, seed=0)
    k = p.coeff
    assert set(np.unique(k)) == {1.0, 1e4}
    # interior face between cells (0,0) and (0,1): harmonic mean of the two k
    h = 2 * k[0, 0] * k[0, 1] / (k[0, 0] + k[0, 1])
    assert np.isclose(p.A[0, 1], -h)
    # row sums vanish away from the boundary (pure flux balance)
    interior = np.zeros((32, 32), bool)
    interior[1:-1, 1:-1] = True
    assert np.allclose((p.A @ np.ones(p.n))[interior.ravel()], 0, atol=1e-9)


@pytest.mark.parametrize("dim", [2, 3])
def test_grid_inclusions_spd_deterministic_and_inside_the_disks(dim):
    n = 40 if dim == 2 else 12
    p1 = problems.grid_inclusions(n, dim=dim, contrast=1e5, seed=3)
    p2 = problems.grid_inclusions(n, dim=dim, contrast=1e5, seed=3)
    assert abs(p1.A - p2.A).max() == 0 and np.array_equal(p1.b, p2.b) and _is_spd(p1.A)
    assert abs(p1.A - problems.grid_inclusions(n, dim=dim, contrast=1e5, seed=4).A).max() > 0
    centres, radii = problems.inclusions(dim, seed=3)
    k = p1.coeff
    cell = np.unravel_index(np.argmax(k), k.shape)  # a cell inside: its centre lies in a disk
    x = (np.array(cell) + 0.5) / n
    assert k[cell] == 1e5 and (((centres - x) ** 2).sum(1) < radii ** 2).any()
    assert set(np.unique(k)) == {1.0, 1e5} and p1.grid_shape == (n,) * dim
    with pytest.raises(ValueError, match="grid_inclusions: `contrast` must be >= 1"):
        problems.grid_inclusions(8, contrast=0.5)


def test_random_field_variance_and_correlation():
    f = problems.gaussian_random_field((256, 256), variance=2.0, length_scale=0.05, seed=1)
    assert 1.0 < f.var() < 3.0
    short = np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1]
    long = np.corrcoef(f[:, :-64].ravel(), f[:, 64:].ravel())[0, 1]
    assert short > 0.8 and abs(long) < 0.3


def test_anisotropic_is_spd():
    assert _is_spd(problems.anisotropic(10, eps=1e-3, theta=np.pi / 3).A)


def test_load_matrix_general_symmetric(tmp_path):
    A = problems.poisson((6, 6)).A
    path = tmp_path / "g.mtx"
    scipy.io.mmwrite(str(path), sp.coo_matrix(A), symmetry="general")
    p = problems.load_matrix(str(path))
    assert abs(p.A - A).max() == 0
    B = A.tolil()
    B[0, 1] = 5.0
    scipy.io.mmwrite(str(tmp_path / "ns.mtx"), sp.coo_matrix(B), symmetry="general")
    with pytest.raises(ValueError, match="load_matrix.*symmetric"):
        problems.load_matrix(str(tmp_path / "ns.mtx"))
    with pytest.raises(ValueError, match="not a file"):
        problems.load_matrix(str(tmp_path / "missing.mtx"))


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared/matrices not present")
def test_shared_matrices_load():
    files = sorted(f for f in os.listdir(SHARED) if f.endswith(".mtx"))
    assert files
    for f in files:
        p = problems.load_matrix(os.path.join(SHARED, f))
        assert p.A.shape[0] == p.A.shape[1] and abs(p.A - p.A.T).max() == 0


def test_pyamg_example():
    p = problems.pyamg_example("airfoil")
    assert p.n == 260 and abs(p.A - p.A.T).max() == 0


def test_to_graph_scale_invariant():
    A = problems.diffusion(10, variance=1.0, seed=0).A
    g1 = problems.to_graph(A)
    g2 = problems.to_graph(A * 1e6)
    D = sp.diags_array(np.linspace(1, 10, A.shape[0]))
    g3 = problems.to_graph(sp.csr_array(D @ A @ D))
    assert g1.edge_index.shape[1] == A.nnz - A.shape[0]
    for g in (g2, g3):
        assert np.allclose(g.edge_attr.numpy(), g1.edge_attr.numpy(), atol=1e-6)
        assert np.allclose(g.x.numpy(), g1.x.numpy(), atol=1e-6)
    assert np.allclose(g2.diag.numpy(), A.diagonal() * 1e6)


def test_problem_input_errors():
    with pytest.raises(ValueError, match="diffusion.*dim"):
        problems.diffusion(8, dim=4)
    with pytest.raises(ValueError, match="covariance"):
        problems.diffusion(8, covariance="matern")
    with pytest.raises(ValueError, match="poisson.*shape"):
        problems.poisson((8,))
    with pytest.raises(ValueError, match="to_graph.*square"):
        problems.to_graph(sp.random_array((4, 5), density=0.5, random_state=0))
    assert learnsolve.problems.poisson(4).n == 16
