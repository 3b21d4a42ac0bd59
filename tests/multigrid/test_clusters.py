"""The coefficient-cluster coarse space of the grid cycles (``clusters=``)."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import learnsolve
from learnsolve.multigrid import (
    ClusterSpace,
    cluster_labels,
    cluster_labels_reference,
    contraction,
    smoothed_basis,
    smoothed_basis_reference,
)
from learnsolve.problems import diffusion, poisson

from ..helpers import iterations


def its(p, M):
    return iterations(p.A, p.b, M)[0]


@pytest.mark.parametrize("p", [diffusion(24, contrast=1e4, seed=1),
                               diffusion(10, dim=3, contrast=1e3, seed=2),
                               poisson((9, 13))], ids=["2d", "3d", "poisson"])
@pytest.mark.parametrize("omega", [2 / 3, 1.0])
def test_smoothed_basis_matches_the_sparse_product_reference(p, omega):
    labels = np.random.default_rng(0).integers(0, 17, p.A.shape[0])
    labels[:17] = np.arange(17)
    Z, R = smoothed_basis(p.A, labels, omega=omega), smoothed_basis_reference(p.A, labels, omega=omega)
    assert Z.shape == R.shape
    assert abs(Z - R).max() < 1e-14


@pytest.mark.parametrize("p", [diffusion(48, contrast=1e4, seed=1),
                               diffusion(12, dim=3, contrast=1e3, seed=2),
                               diffusion(30, contrast=1e2, seed=4), poisson((9, 13))],
                         ids=["2d", "3d", "1e2", "poisson"])
@pytest.mark.parametrize("block", [0, 4, 6])
def test_labels_equal_scipy_connected_components(p, block):
    """The union-find labels are SciPy's, numbering included (components by smallest member)."""
    labels, weak = cluster_labels(p.A, p.grid_shape, block=block)
    ref, ref_weak = cluster_labels_reference(p.A, p.grid_shape, block=block)
    assert weak == ref_weak and labels.dtype == np.int64
    assert np.array_equal(labels, ref)
    if block == 0 and weak == 0:  # Poisson, no blocks: one cluster
        assert labels.max() == 0


def test_labels_cut_at_jumps_and_blocks_only():
    p = diffusion(40, contrast=1e4, seed=3)
    A = sp.csr_array(p.A)
    labels, weak = cluster_labels(A, p.grid_shape, block=8)
    assert weak > 0
    C = A.tocoo()
    off = C.row != C.col
    d = A.diagonal()
    strong = np.abs(C.data) > 0.05 * np.sqrt(d[C.row] * d[C.col])
    iy, ix = np.divmod(np.arange(40 * 40), 40)
    block = (iy // 8) * 5 + ix // 8
    same_block = block[C.row] == block[C.col]
    # a strong coupling inside a block never separates two clusters ...
    assert np.all(labels[C.row] == labels[C.col], where=off & strong & same_block)
    # ... and no cluster crosses a block face or a weak coupling
    cross = off & ~(strong & same_block)
    assert np.all(block[C.row] == block[C.col], where=labels[C.row] == labels[C.col])
    assert cross.any()
    # with no jumps (Poisson) the clusters are exactly the 8×8 blocks
    q = poisson((40, 40))
    labels, weak = cluster_labels(q.A, (40, 40), block=8)
    assert weak == 0 and labels.max() + 1 == 25


def test_space_is_the_galerkin_triple_product_and_says_what_it_timed():
    p = diffusion(16, contrast=1e3, seed=4)
    space = ClusterSpace(p.A, p.grid_shape, block=4, omega=2 / 3)
    assert space.Z is None and space.weak > 0 and set(space.times) == {"labels"}
    space.build()
    Z, E = space.Z, space.E
    assert abs(Z - smoothed_basis(p.A, cluster_labels(p.A, p.grid_shape, block=4)[0])).max() == 0
    assert abs(E - (Z.T @ p.A @ Z)).max() < 1e-9 * abs(E).max()
    assert abs(space.AZ - p.A @ Z).max() == 0
    assert np.linalg.eigvalsh(E.toarray()).min() > 0
    assert set(space.times) == {"labels", "order", "basis", "galerkin", "factorize"}
    assert space.info()["clusters"] == space.m == Z.shape[1]


@pytest.mark.parametrize("nb", [(1, 1), (2, 7), (9, 4), (13, 13), (5, 6, 7)])
def test_dissection_ranks_number_every_block_once_separators_last(nb):
    from learnsolve.multigrid._clusters import _dissection_ranks

    rank = _dissection_ranks(np.array(nb, dtype=np.int64), 2)
    assert np.array_equal(np.sort(rank), np.arange(np.prod(nb)))
    if len(nb) == 2 and max(nb) > 2:  # the top separator: the middle slab of the longest side
        r = rank.reshape(nb)
        a = int(np.argmax(nb))
        mid = nb[a] // 2
        slab = np.take(r, mid, axis=a)
        assert slab.min() == r.size - slab.size  # numbered last
        lo, hi = np.take(r, range(mid), axis=a), np.take(r, range(mid + 1, nb[a]), axis=a)
        assert lo.max() < hi.min() if lo.size and hi.size else True  # one half, then the other


def test_dissection_order_keeps_the_space_and_its_iterations(monkeypatch):
    """Numbered by nested dissection, the space is the same up to the order of its columns: the
    same clusters, an exact LU of the reordered ``Zᵀ A Z``, the same preconditioner."""
    from learnsolve.multigrid import _clusters

    p = diffusion(192, contrast=1e4, seed=100)
    plain = ClusterSpace(p.A, p.grid_shape).build()
    monkeypatch.setattr(_clusters, "DISSECTION_MIN", 0)
    ordered = ClusterSpace(p.A, p.grid_shape).build()
    assert not np.array_equal(ordered.labels, plain.labels)
    # the same partition: a bijection between the two numberings
    pairs = np.unique(np.stack([plain.labels, ordered.labels]), axis=1)
    assert pairs.shape[1] == plain.m == ordered.m
    assert abs(ordered.E - (ordered.Z.T @ p.A @ ordered.Z)).max() < 1e-9 * abs(ordered.E).max()
    c = np.random.default_rng(1).standard_normal(ordered.m)
    y = ordered.lu.solve(c)
    assert np.linalg.norm(ordered.E @ y - c) <= 1e-10 * np.linalg.norm(c)
    banded = _clusters.factorize(plain.E, ordered=True)  # the row-major numbering, unordered
    nnz = ordered.lu.L.nnz + ordered.lu.U.nnz
    assert nnz < 0.8 * (banded.L.nnz + banded.U.nnz), (nnz, banded.L.nnz + banded.U.nnz)
    d = 0.7 / p.A.diagonal()
    r = np.random.default_rng(2).standard_normal(p.n)
    M1, M2 = plain.balanced(lambda v: d * v), ordered.balanced(lambda v: d * v)
    np.testing.assert_allclose(M2(r), M1(r), rtol=1e-8, atol=1e-10 * np.abs(M1(r)).max())


def test_lu_factors_solve_with_both_triangular_kernels_the_gpu_uses():
    """The permutations and factors the GPU coarse solves take from SuperLU, solved here by SciPy
    and by the NumPy steps of the level-scheduled kernel (``LevelTriangular(device=False)``)."""
    from learnsolve.multigrid._clusters_device import lu_factors
    from learnsolve.ops import cuda

    p = diffusion(48, contrast=1e4, seed=3)
    space = ClusterSpace(p.A, p.grid_shape).build()
    L, U, gather, scatter = lu_factors(space.lu)
    c = np.random.default_rng(0).standard_normal(space.m)
    for solve in (lambda y: spla.spsolve_triangular(U, spla.spsolve_triangular(L, y, lower=True),
                                                    lower=False),
                  lambda y: cuda.LevelTriangular(U, False, device=False).solve(
                      cuda.LevelTriangular(L, True, device=False).solve(y))):
        x = solve(c[gather])[scatter]
        assert np.linalg.norm(space.E @ x - c) <= 1e-10 * np.linalg.norm(c)


@pytest.fixture(scope="module")
def rough():
    return diffusion(128, contrast=1e4, seed=100)


def test_balanced_cycle_is_symmetric_positive_definite(rough):
    P = learnsolve.pretrained("vcycle-2d").aspreconditioner(rough.A, clusters=True)
    assert P.info["clusters"] > 0
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2, rough.A.shape[0]))
    assert abs(x @ P.matvec(y) - y @ P.matvec(x)) < 1e-10 * abs(x @ P.matvec(y))
    X = rng.standard_normal((rough.A.shape[0], 8))
    assert np.all(np.einsum("ij,ij->j", X, P.matmat(X)) > 0)
    # the coarse space is solved exactly: M A is the identity on span(Z)
    Z = smoothed_basis(rough.A, cluster_labels(rough.A, rough.grid_shape, block=6)[0], omega=0.85)
    z = Z @ rng.standard_normal(Z.shape[1])
    assert np.linalg.norm(P.matvec(rough.A @ z) - z) < 1e-8 * np.linalg.norm(z)
    # I − M A = (I − Π)(I − V A)(I − Π): the combined operator contracts no worse than the cycle
    e = rng.standard_normal(rough.A.shape[0])
    alone = contraction(lambda v: rough.A @ v, P.hierarchy.apply, e, steps=8)
    assert contraction(lambda v: rough.A @ v, P.matvec, e, steps=8) <= alone + 1e-3


def test_balanced_apply_equals_its_definition():
    p = diffusion(40, contrast=1e4, seed=3)
    space = ClusterSpace(p.A, p.grid_shape).build()
    A, Z = p.A, space.Z.toarray()
    d = 0.7 / p.A.diagonal()
    C = Z @ np.linalg.solve(Z.T @ (A @ Z), Z.T)  # C = Z (Zᵀ A Z)⁻¹ Zᵀ
    B = np.random.default_rng(1).standard_normal((3, p.n))
    M = space.balanced(lambda v: d * v)
    for b in B:  # M b = C b + (I − C A) V (I − A C) b, four products in the implementation
        v = d * (b - A @ (C @ b))
        ref = C @ b + v - C @ (A @ v)
        assert np.linalg.norm(M(b) - ref) < 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("n", [128, 256])
def test_clusters_keep_rough_piecewise_flat(n):
    """Rough contrast-1e4 fields: the cycle alone needs 23-88 iterations here, with clusters ≤ 12."""
    p = diffusion(n, contrast=1e4, seed=100)
    V = learnsolve.pretrained("vcycle-2d")
    alone, auto = V.aspreconditioner(p.A, clusters=False), V.aspreconditioner(p.A)
    assert "clusters" not in alone.info and auto.info["clusters"] > 0
    k_alone, k_auto = its(p, alone), its(p, auto)
    assert k_auto <= 12
    assert k_auto * 2 <= k_alone
    # the same space lifts the Jacobi cycle, and SciPy's cg accepts the result
    G = learnsolve.precond.gmg(p.A)
    assert G.info["clusters"] > 0 and its(p, G) <= 16
    x, info = spla.cg(p.A, p.b, M=auto, rtol=1e-8)
    assert info == 0 and np.linalg.norm(p.b - p.A @ x) <= 1e-8 * np.linalg.norm(p.b)


@pytest.mark.parametrize("p", [poisson((64, 64)), diffusion(64, variance=2.0, seed=1),
                               diffusion(64, contrast=1e4, seed=1, covariance="gaussian")],
                         ids=["poisson", "lognormal", "smooth-piecewise"])
def test_auto_leaves_well_served_problems_alone(p):
    P = learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A)
    assert "clusters" not in P.info and P.info["rho"] < 0.2
    forced = learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A, clusters=True)
    assert forced.info["clusters"] > 0 and its(p, forced) <= its(p, P)


@pytest.mark.parametrize("kind", [None, "torch"])
def test_auto_decides_no_jumps_from_the_stencils_without_labelling(monkeypatch, kind):
    import learnsolve.precond._vcycle as vcycle

    def refuse(*args, **kwargs):
        raise AssertionError("ClusterSpace called")

    monkeypatch.setattr(vcycle, "ClusterSpace", refuse)
    p = poisson((64, 64))
    A = p.A if kind is None else learnsolve.ops.to_device(p.A, "torch")
    P = learnsolve.precond.gmg(A, p.grid_shape)  # the Jacobi cycle: ρ above the gate
    assert P.info["rho"] > 0.2 and P.info["clusters"] == 0
    rough = diffusion(32, contrast=1e4, seed=1)
    with pytest.raises(AssertionError, match="ClusterSpace called"):
        learnsolve.precond.gmg(rough.A, rough.grid_shape)  # jumps: the space is labelled


def test_clusters_in_3d():
    p = diffusion(16, dim=3, contrast=1e4, seed=3)
    V = learnsolve.pretrained("vcycle-3d")
    with_c = V.aspreconditioner(p.A, clusters=True)
    assert with_c.info["clusters"] > 0
    assert its(p, with_c) <= its(p, V.aspreconditioner(p.A, clusters=False))


def test_dcdm_directions_carry_the_cluster_space(rough):
    M = learnsolve.pretrained("dcdm-2d").directions(rough)
    assert M.info["clusters"] > 0
    x, info = learnsolve.krylov.dcdm(rough.A, rough.b, M=M, rtol=1e-6, k=2)
    assert info == 0 and np.linalg.norm(rough.b - rough.A @ x) <= 1e-6 * np.linalg.norm(rough.b)


def test_bad_clusters_argument_and_the_device(rough):
    with pytest.raises(ValueError, match="`clusters` must be"):
        learnsolve.precond.gmg(rough.A, clusters="yes")
    import torch

    from learnsolve.ops import to_device

    p = poisson((16, 16))
    At = to_device(p.A, "torch")
    P = learnsolve.pretrained("vcycle-2d").aspreconditioner(At, clusters=True)
    H = learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A, clusters=True)
    assert P.info["clusters"] == H.info["clusters"] > 0
    r = np.random.default_rng(7).standard_normal(p.n)
    np.testing.assert_allclose((P @ torch.from_numpy(r)).numpy(), H @ r, rtol=1e-9, atol=1e-12)
    assert learnsolve.precond.gmg(At).info.get("clusters", 0) == 0  # "auto": no coefficient jumps


def test_device_space_coarse_solvers_agree_and_the_balanced_apply_matches_the_host(rough):
    import torch

    from learnsolve.multigrid import DeviceClusterSpace

    space = ClusterSpace(rough.A, rough.grid_shape)
    with pytest.raises(ValueError, match=r"DeviceClusterSpace: `space` is not built; call space.build"):
        DeviceClusterSpace(space, "cpu")
    dev = DeviceClusterSpace(space.build(), "cpu")
    solvers = dev.coarse_solvers()
    assert set(solvers) == {"host", "dense"}  # a CPU has no cuSPARSE/level candidates
    c = np.random.default_rng(8).standard_normal(space.m)
    for name, solve in solvers.items():
        y = solve(torch.from_numpy(c)).numpy()
        assert np.linalg.norm(space.E @ y - c) <= 1e-10 * np.linalg.norm(c), name
    d = 0.7 / rough.A.diagonal()
    host = space.balanced(lambda v: d * v)
    r = np.random.default_rng(9).standard_normal(rough.A.shape[0])
    for solve in solvers.values():
        M = dev.balanced(lambda v: torch.from_numpy(d) * v, solve)
        np.testing.assert_allclose(M(torch.from_numpy(r)).numpy(), host(r), rtol=1e-9, atol=1e-12)


def test_cluster_options_by_name(rough):
    build = learnsolve.precond.build
    off = build("vcycle-2d:noclusters", rough.A, grid_shape=rough.grid_shape)
    both = build("vcycle-2d:float32:noclusters", rough.A, grid_shape=rough.grid_shape)
    assert "clusters" not in off.info and "clusters" not in both.info
    assert both.info["dtype"] == "float32"
    assert build("vcycle-2d", rough.A).info["clusters"] > 0  # "auto" turns it on here
    forced = build("gmg-jacobi:clusters", poisson((32, 32)).A)
    assert forced.info["clusters"] > 0
    r = np.random.default_rng(6).standard_normal(rough.A.shape[0])
    ref = learnsolve.pretrained("vcycle-2d").aspreconditioner(rough.A, clusters=False)
    np.testing.assert_allclose(off @ r, ref @ r, rtol=1e-12, atol=1e-14)


def test_bad_input_to_the_cluster_kernels_is_named():
    """The numba kernels index with the CSR arrays unchecked, so the public entry points check
    them first (a hostile matrix crashed ``cluster_labels`` before)."""
    A = poisson((4, 4)).A
    bad = sp.csr_array(A.copy())
    bad.indices[3] = 99  # past SciPy's constructor checks
    with pytest.raises(ValueError, match=r"cluster_labels: `A`"):
        cluster_labels(bad, (4, 4))
    with pytest.raises(ValueError, match=r"cluster_labels: `shape` \(5, 4\) has 20 cells"):
        cluster_labels(A, (5, 4))
    with pytest.raises(ValueError, match=r"ClusterSpace: `A` must have a positive diagonal"):
        ClusterSpace(-A, (4, 4))
    with pytest.raises(ValueError, match=r"smoothed_basis: `labels` must be 16 non-negative"):
        smoothed_basis(A, -np.ones(16, dtype=np.int64))
    with pytest.raises(ValueError, match=r"smoothed_basis: `A`"):
        smoothed_basis(bad, np.zeros(16, dtype=np.int64))
