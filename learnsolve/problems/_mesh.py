"""P1 finite elements on unstructured simplex meshes (triangles, tetrahedra), in NumPy."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ._problem import Problem, make_rhs


def jittered_mesh(n, dim=2, *, seed=0, jitter=0.4):
    """Delaunay mesh of the unit square/cube through a jittered ``(n+1)^dim`` lattice.

    Each point moves by up to ``jitter·h`` (``h = 1/n``) in every coordinate
    that does not put it on the boundary, so the domain stays the unit
    square/cube while the mesh graph is unstructured (vertex degrees vary).

    Returns
    -------
    points : ndarray, shape (N, dim)
    simplices : ndarray of int, shape (M, dim + 1)
        Positively oriented.

    Examples
    --------
    >>> p, t = jittered_mesh(8, 2, seed=0)
    >>> p.shape, bool(abs(simplex_volumes(p, t).sum() - 1) < 1e-12)
    ((81, 2), True)
    """
    from scipy.spatial import Delaunay

    func = "learnsolve.problems.jittered_mesh"
    if dim not in (2, 3):
        raise ValueError(f"{func}: `dim` must be 2 or 3, got {dim!r}.")
    if int(n) < 2:
        raise ValueError(f"{func}: `n` must be at least 2, got {n!r}.")
    n = int(n)
    h = 1.0 / n
    rng = np.random.default_rng(seed)
    axes = np.meshgrid(*([np.linspace(0.0, 1.0, n + 1)] * dim), indexing="ij")
    p = np.stack([a.ravel() for a in axes], axis=1)
    move = rng.uniform(-jitter * h, jitter * h, size=p.shape)
    move[(p < 0.5 * h) | (p > 1 - 0.5 * h)] = 0.0
    p = p + move
    t = Delaunay(p).simplices
    vol = simplex_volumes(p, t, signed=True)
    t = t[np.abs(vol) > 1e-9 * h**dim]  # qhull's flat simplices on coplanar boundary points
    vol = vol[np.abs(vol) > 1e-9 * h**dim]
    neg = vol < 0
    t[neg, 0], t[neg, 1] = t[neg, 1], t[neg, 0].copy()
    return p, np.ascontiguousarray(t)


def simplex_volumes(points, simplices, signed=False):
    """Areas (2D) or volumes (3D) of the simplices."""
    e = points[simplices[:, 1:]] - points[simplices[:, :1]]
    v = np.linalg.det(e) / math.factorial(points.shape[1])
    return v if signed else np.abs(v)


def p1_stiffness(points, simplices, k):
    """P1 stiffness matrix ``∫ k ∇φ_i·∇φ_j`` with ``k`` constant per simplex (CSR)."""
    dim = points.shape[1]
    e = points[simplices[:, 1:]] - points[simplices[:, :1]]  # (M, d, d): rows are edges
    inv = np.linalg.inv(e)  # columns of inv(E) are ∇λ_1..∇λ_d
    grads = np.concatenate([-inv.sum(axis=2, keepdims=True), inv], axis=2)  # (M, d, d+1)
    vol = np.abs(np.linalg.det(e)) / math.factorial(dim)
    local = np.einsum("mki,mkj->mij", grads, grads) * (np.asarray(k, dtype=float) * vol)[:, None, None]
    rows = np.repeat(simplices, dim + 1, axis=1).ravel()
    cols = np.tile(simplices, (1, dim + 1)).ravel()
    N = points.shape[0]
    return sp.csr_array((local.ravel(), (rows, cols)), shape=(N, N))


def p1_load(points, simplices, f=1.0):
    """P1 load vector ``∫ f φ_i`` for ``f`` constant per simplex (exactly ``f·vol/(d+1)`` per vertex)."""
    dim = points.shape[1]
    share = simplex_volumes(points, simplices) * np.broadcast_to(f, simplices.shape[:1]) / (dim + 1)
    return np.bincount(simplices.ravel(), weights=np.repeat(share, dim + 1), minlength=points.shape[0])


def inclusions(dim, count=None, *, seed=0, radius=(0.05, 0.15)):
    """Random disks/balls ``(centres (count, dim), radii (count,))`` for the high-``k`` phase."""
    rng = np.random.default_rng([seed, 1])
    count = count or (24 if dim == 2 else 16)
    return rng.uniform(0, 1, size=(count, dim)), rng.uniform(*radius, size=count)


def inclusion_coefficient(x, centres, radii, contrast):
    """``contrast`` at points ``x`` (shape ``(dim, ...)``) inside any inclusion, 1 elsewhere."""
    inside = np.zeros(x.shape[1:], dtype=bool)
    for c, r in zip(centres, radii):
        d2 = sum((x[i] - c[i]) ** 2 for i in range(x.shape[0]))
        inside |= d2 < r * r
    return np.where(inside, float(contrast), 1.0)


def fem_diffusion(n, *, dim=2, contrast=1e4, count=None, seed=0, rhs="load"):
    """P1 FEM ``-div(k ∇u) = 1`` on an unstructured mesh of the unit square/cube, ``u = 0`` on the boundary.

    The mesh is :func:`jittered_mesh`; ``k = contrast`` on simplices whose
    centroid lies in one of ``count`` random disks/balls (:func:`inclusions`),
    1 elsewhere.  The system is the interior (Dirichlet-condensed) one; it is
    not a grid stencil, so the grid methods do not apply.  Deterministic for
    a seed.

    Parameters
    ----------
    n : int
        Lattice cells per side before jitter (about ``(n-1)^dim`` unknowns).
    dim : {2, 3}
    contrast : float
    count : int, optional
        Number of inclusions (default 24 in 2D, 16 in 3D).
    seed : int
    rhs : {'load', 'random', 'ones'}
        ``'load'``: the P1 load vector of ``f = 1``.

    Examples
    --------
    >>> from learnsolve.problems import fem_diffusion
    >>> p = fem_diffusion(16, dim=2, seed=0)
    >>> p.A.shape[0] == 15 * 15, p.grid_shape is None
    (True, True)
    """
    func = "learnsolve.problems.fem_diffusion"
    if not contrast >= 1:
        raise ValueError(f"{func}: `contrast` must be >= 1, got {contrast!r}.")
    if rhs not in ("load", "random", "ones"):
        raise ValueError(f"{func}: unknown `rhs`={rhs!r}; use 'load', 'random' or 'ones'.")
    p, t = jittered_mesh(n, dim, seed=seed)
    centres, radii = inclusions(dim, count, seed=seed)
    k = inclusion_coefficient(p[t].mean(axis=1).T, centres, radii, contrast)
    K = p1_stiffness(p, t, k)
    interior = np.flatnonzero(~np.any((p < 1e-12) | (p > 1 - 1e-12), axis=1))
    A = sp.csr_array(K[interior][:, interior])
    A = sp.csr_array(0.5 * (A + A.T))
    A.sum_duplicates()
    A.sort_indices()
    b = p1_load(p, t)[interior] if rhs == "load" else make_rhs(A.shape[0], rhs, seed)
    shape = "tri" if dim == 2 else "tet"
    meta = {"family": f"fem-{shape}", "n": int(n), "contrast": contrast, "seed": seed, "rhs": rhs,
            "vertices": int(p.shape[0]), "elements": int(t.shape[0])}
    return Problem(A, b, f"fem-{shape}-n{n}-c{contrast:g}-s{seed}", "fem", None, None, meta)
