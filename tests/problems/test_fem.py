"""P1 finite elements on unstructured meshes: the generator and its agreement with scikit-fem."""

import importlib.util
import os

import numpy as np
import pytest

import learnsolve
from learnsolve.multigrid import NotAGrid
from learnsolve.problems import fem_diffusion, jittered_mesh, p1_load, p1_stiffness
from learnsolve.problems._mesh import simplex_volumes

from ..helpers import ROOT


@pytest.mark.parametrize("dim,n", [(2, 12), (3, 6)])
def test_mesh_fills_the_unit_cube_and_is_unstructured(dim, n):
    p, t = jittered_mesh(n, dim, seed=3)
    vol = simplex_volumes(p, t, signed=True)
    assert np.all(vol > 0)  # positively oriented, no flat simplices
    assert abs(vol.sum() - 1.0) < 1e-12  # covers the unit square/cube exactly
    degree = np.bincount(t.ravel(), minlength=len(p))
    assert len(np.unique(degree[degree > 0])) > 3  # vertex degrees vary: not a lattice
    p2, t2 = jittered_mesh(n, dim, seed=3)
    assert np.array_equal(p, p2) and np.array_equal(t, t2)


@pytest.mark.parametrize("dim,n", [(2, 10), (3, 5)])
def test_p1_stiffness_annihilates_linear_functions_and_load_integrates_one(dim, n):
    p, t = jittered_mesh(n, dim, seed=1)
    k = np.random.default_rng(0).uniform(1, 10, size=len(t))
    K = p1_stiffness(p, t, k)
    assert abs(K - K.T).max() < 1e-12
    u = p @ np.arange(1.0, dim + 1)  # linear: with constant k, K u vanishes away from the boundary
    interior = ~np.any((p < 1e-12) | (p > 1 - 1e-12), axis=1)
    K1 = p1_stiffness(p, t, np.full(len(t), 3.0))
    assert np.abs((K1 @ u)[interior]).max() < 1e-10 * np.abs(K1.data).max()
    assert np.abs(K @ np.ones(len(p))).max() < 1e-10 * np.abs(K.data).max()
    assert abs(p1_load(p, t).sum() - 1.0) < 1e-12


def test_fem_diffusion_is_spd_not_a_grid_and_deterministic():
    a = fem_diffusion(12, dim=2, contrast=1e3, seed=4)
    b = fem_diffusion(12, dim=2, contrast=1e3, seed=4)
    assert (a.A != b.A).nnz == 0 and np.array_equal(a.b, b.b)
    assert np.linalg.eigvalsh(a.A.toarray())[0] > 0
    vals = np.unique(np.round(a.A.diagonal() / a.A.diagonal().min()))
    assert vals.max() > 100  # the jumps in k show in the matrix
    with pytest.raises(NotAGrid):
        learnsolve.precond.build("vcycle-2d", a.A)
    with pytest.raises(ValueError, match="contrast"):
        fem_diffusion(8, contrast=0.5)


@pytest.mark.parametrize("dim,n", [(2, 14), (3, 6)])
def test_matches_scikit_fem(dim, n):
    pytest.importorskip("skfem", reason="scikit-fem is not installed (`pip install scikit-fem`)")
    spec = importlib.util.spec_from_file_location("fem_example", os.path.join(ROOT, "examples", "fem",
                                                                              "diffusion.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ours = fem_diffusion(n, dim=dim, contrast=1e4, seed=2)
    theirs = example.assemble(n, dim, 1e4, seed=2)
    assert theirs.A.shape == ours.A.shape
    assert abs(theirs.A - ours.A).max() <= 1e-12 * abs(ours.A).max()
    assert np.abs(theirs.b - ours.b).max() <= 1e-14


