"""Finite-volume / finite-difference assembly on tensor grids."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._problem import Problem, make_rhs


def assemble(shape, interior, boundary):
    """Assemble ``A = Σ_faces T (e_i - e_j)(e_i - e_j)ᵀ + Σ_boundary T e_i e_iᵀ``.

    Parameters
    ----------
    shape : tuple of int
        Grid shape; unknowns are numbered in C order.
    interior : list of arrays
        ``interior[a]`` holds the transmissibility of every face between
        neighbours along axis ``a`` (shape ``shape`` with one less along ``a``).
    boundary : list of (array, array)
        ``boundary[a] = (low, high)``: Dirichlet transmissibilities of the
        first and last layer of cells along axis ``a``.
    """
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    diag = np.zeros(shape)
    rows, cols, vals = [], [], []
    for a, t in enumerate(interior):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        i, j = idx[tuple(lo)].ravel(), idx[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-t.ravel(), -t.ravel()]
        diag[tuple(lo)] += t
        diag[tuple(hi)] += t
        first, last = [slice(None)] * len(shape), [slice(None)] * len(shape)
        first[a], last[a] = 0, -1
        diag[tuple(first)] += boundary[a][0]
        diag[tuple(last)] += boundary[a][1]
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag.ravel())
    A = sp.coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                     shape=(n, n)).tocsr()
    A.sum_duplicates()
    A.sort_indices()
    return sp.csr_array(A)


def face_coefficients(k):
    """Harmonic face averages and Dirichlet boundary transmissibilities of cell field ``k``.

    Cell-centred finite volumes: the face between cells i, j gets
    ``2 k_i k_j / (k_i + k_j)``; a boundary face, half a cell from its centre,
    gets ``2 k_i``.
    """
    interior, boundary = [], []
    for a in range(k.ndim):
        k0 = np.take(k, range(0, k.shape[a] - 1), axis=a)
        k1 = np.take(k, range(1, k.shape[a]), axis=a)
        interior.append(2.0 * k0 * k1 / (k0 + k1))
        boundary.append((2.0 * np.take(k, 0, axis=a), 2.0 * np.take(k, -1, axis=a)))
    return interior, boundary


def _shape_arg(shape, func):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape), int(shape))
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(
            f"{func}: `shape` must be 2 or 3 positive sizes, got {shape!r}; e.g. (256, 256)."
        )
    return shape


def poisson(shape, *, rhs="random", seed=0):
    """Poisson's equation, 5-point (2D) or 7-point (3D) finite differences, Dirichlet.

    Same matrix as ``pyamg.gallery.poisson`` (diagonal 4 or 6, off-diagonals -1).

    Parameters
    ----------
    shape : int or tuple of int
        ``n`` for an n×n grid, or a 2- or 3-tuple.
    rhs : {'random', 'ones'}
    seed : int

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> p = poisson((4, 4, 4))
    >>> p.n, float(p.A.diagonal()[0])
    (64, 6.0)
    """
    shape = _shape_arg(shape, "learnsolve.problems.poisson")
    interior = [np.ones(tuple(s - (a == b) for b, s in enumerate(shape)))
                for a in range(len(shape))]
    boundary = [(np.ones(shape[:a] + shape[a + 1:]),) * 2 for a in range(len(shape))]
    A = assemble(shape, interior, boundary)
    name = "poisson-" + "x".join(map(str, shape))
    return Problem(A, make_rhs(A.shape[0], rhs, seed), name, "poisson", shape, None,
                   {"seed": seed, "rhs": rhs})


def anisotropic(n, eps=0.01, theta=np.pi / 6, *, rhs="random", seed=0):
    """Rotated anisotropic diffusion ``-div(K ∇u)``, ``K = R(θ) diag(1, ε) R(θ)ᵀ``, 2D.

    Bilinear finite elements (PyAMG's ``diffusion_stencil_2d(type='FE')``),
    SPD for every ``eps > 0`` and ``theta``; Dirichlet boundary.

    Examples
    --------
    >>> from learnsolve.problems import anisotropic
    >>> p = anisotropic(16, eps=0.001, theta=0.5)
    >>> p.n, p.A.nnz > 5 * p.n
    (256, True)
    """
    from pyamg.gallery import diffusion_stencil_2d, stencil_grid

    if not eps > 0:
        raise ValueError(f"learnsolve.problems.anisotropic: `eps` must be positive, got {eps!r}.")
    stencil = diffusion_stencil_2d(epsilon=float(eps), theta=float(theta), type="FE")
    A = sp.csr_array(stencil_grid(stencil, (int(n), int(n)), format="csr"))
    A.sum_duplicates()
    A.eliminate_zeros()
    A.sort_indices()
    name = f"anisotropic-{n}x{n}-eps{eps:g}-theta{theta:.2f}"
    return Problem(A, make_rhs(A.shape[0], rhs, seed), name, "anisotropic", (int(n), int(n)),
                   None, {"eps": eps, "theta": theta, "seed": seed, "rhs": rhs})
