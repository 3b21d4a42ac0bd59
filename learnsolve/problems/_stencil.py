"""Structured-grid view of a sparse matrix: per-cell 3^d stencils on a zero-padded grid.

Layout used by the multigrid code (:mod:`learnsolve.ops` stencil kernels,
:mod:`learnsolve.nn.vcycle`, :mod:`learnsolve.precond`): a grid of shape
``(ny, nx)`` or ``(nz, ny, nx)`` (C order, as ``Problem.grid_shape``) is
stored *padded* as ``(Pz, Py, Px)`` with one ghost layer (value 0) on each
side of every active axis; a 2D grid has ``Pz = 1`` (no ghost layer in z).
A stencil is an array ``S`` of shape ``(m, Pz, Py, Px)`` with
``S[o, p] = A[p, p + offsets[o]]`` and zeros on ghost cells, where
``offsets`` lists the ``m = 3^d`` offsets in ``{-1, 0, 1}^d`` (as 3-vectors,
``dz = 0`` in 2D).
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import scipy.sparse as sp

from .._validation import as_csr


class NotAGrid(ValueError):
    """``A`` is not a nearest-neighbour stencil matrix on the given (or inferred) grid."""


def offsets(dim):
    """The ``3^dim`` stencil offsets as an ``(m, 3)`` int array (z, y, x), centre in the middle.

    Examples
    --------
    >>> offsets(2).shape, int(offsets(2)[4].any())
    ((9, 3), 0)
    """
    if dim not in (2, 3):
        raise ValueError(f"learnsolve.problems.offsets: `dim` must be 2 or 3, got {dim!r}.")
    zs = (-1, 0, 1) if dim == 3 else (0,)
    return np.array([o for o in itertools.product(zs, (-1, 0, 1), (-1, 0, 1))], dtype=np.int64)


def padded_shape(shape):
    """Padded array shape ``(Pz, Py, Px)`` of a 2D or 3D grid shape."""
    if len(shape) == 2:
        return (1, shape[0] + 2, shape[1] + 2)
    return tuple(s + 2 for s in shape)


def pad(x, shape):
    """A flat vector on the grid -> zero-padded ``(Pz, Py, Px)`` array (a copy)."""
    out = np.zeros(padded_shape(shape), dtype=x.dtype)
    interior(out, len(shape))[...] = x.reshape((1,) * (3 - len(shape)) + tuple(shape))
    return out


def interior_slices(dim, padded, shift=(0, 0, 0)):
    """Slices of the interior cells of a padded ``(Pz, Py, Px)`` grid, shifted by ``shift`` cells."""
    Pz, Py, Px = padded
    z = slice(1 + shift[0], Pz - 1 + shift[0]) if dim == 3 else slice(0, 1)
    return z, slice(1 + shift[1], Py - 1 + shift[1]), slice(1 + shift[2], Px - 1 + shift[2])


def interior(arr, dim):
    """View of the interior (non-ghost) cells of padded array(s): last three axes."""
    if dim == 2:
        return arr[..., :, 1:-1, 1:-1]
    return arr[..., 1:-1, 1:-1, 1:-1]


def infer_shapes(n, dim=None):
    """Square (2D) and cube (3D) grid shapes with ``n`` cells (both when ``n = k^6``).

    Examples
    --------
    >>> infer_shapes(64), infer_shapes(64, dim=3), infer_shapes(10)
    ([(8, 8), (4, 4, 4)], [(4, 4, 4)], [])
    """
    out = []
    r2 = int(round(n ** 0.5))
    if dim in (None, 2) and r2 * r2 == n:
        out.append((r2, r2))
    r3 = int(round(n ** (1 / 3)))
    for c in (r3 - 1, r3, r3 + 1):
        if dim in (None, 3) and c > 0 and c ** 3 == n:
            out.append((c, c, c))
    return out


@numba.njit(cache=True)
def _scatter(indptr, indices, data, grid, P, off_index, S):
    ny, nx = grid[1], grid[2]
    n = indptr.shape[0] - 1
    bad = -1
    for i in range(n):
        iz = i // (ny * nx)
        iy = (i // nx) % ny
        ix = i % nx
        pi = ((iz + P[0]) * (ny + 2) + iy + 1) * (nx + 2) + ix + 1
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            dz = j // (ny * nx) - iz
            dy = (j // nx) % ny - iy
            dx = j % nx - ix
            if dz < -1 or dz > 1 or dy < -1 or dy > 1 or dx < -1 or dx > 1:
                bad = i
                return bad
            o = off_index[(dz + 1) * 9 + (dy + 1) * 3 + dx + 1]
            if o < 0:
                return i
            S[o, pi] += data[k]
    return bad


def grid_stencil(A, shape=None, *, func="learnsolve.problems.grid_stencil"):
    """Per-cell stencils of a matrix that couples only neighbouring cells of a grid.

    Parameters
    ----------
    A : sparse matrix
        ``n × n`` with ``n = prod(shape)``; every nonzero ``A[i, j]`` must join
        cells whose grid indices differ by at most 1 along each axis.
    shape : tuple of int, optional
        ``(ny, nx)`` or ``(nz, ny, nx)`` (C order).  Inferred when ``n`` is a
        perfect square (2D) or cube (3D).

    Returns
    -------
    S : numpy.ndarray
        ``(3^d, Pz, Py, Px)`` float64, see the module docstring.
    shape : tuple of int

    Examples
    --------
    >>> from learnsolve.problems import poisson, grid_stencil
    >>> S, shape = grid_stencil(poisson((4, 4)).A)
    >>> shape, float(S[4, 0, 1, 1]), float(S[1, 0, 1, 1]), float(S[5, 0, 2, 2])
    ((4, 4), 4.0, 0.0, -1.0)
    """
    A = as_csr(A, func)
    n = A.shape[0]
    if shape is None:
        candidates = infer_shapes(n)
        if not candidates:
            raise NotAGrid(f"{func}: cannot infer the grid of a {n}×{n} matrix (not a square or "
                           "cube number of unknowns); pass `shape=(ny, nx)` or `(nz, ny, nx)`.")
        for shape in candidates[:-1]:  # n = k^6: try the square, then the cube
            try:
                return grid_stencil(A, shape, func=func)
            except NotAGrid:
                pass
        shape = candidates[-1]
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or int(np.prod(shape)) != n:
        raise NotAGrid(f"{func}: `shape`={shape} does not have {n} cells; pass the grid of `A` "
                       "as (ny, nx) or (nz, ny, nx).")
    dim = len(shape)
    offs = offsets(dim)
    off_index = -np.ones(27, dtype=np.int64)
    for k, (dz, dy, dx) in enumerate(offs):
        off_index[(dz + 1) * 9 + (dy + 1) * 3 + dx + 1] = k
    grid = np.array((1,) * (3 - dim) + shape, dtype=np.int64)
    Pshape = padded_shape(shape)
    S = np.zeros((len(offs), int(np.prod(Pshape))), dtype=np.float64)
    A = sp.csr_array(A)
    bad = _scatter(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                   A.data.astype(np.float64), grid, np.array([int(dim == 3)]), off_index, S)
    if bad >= 0:
        raise NotAGrid(f"{func}: row {bad} of `A` couples cells that are not neighbours on a "
                       f"{'×'.join(map(str, shape))} grid; `A` is not a 3^{dim}-point stencil "
                       "matrix on that grid (pass the right `shape`, or use a preconditioner "
                       "for general matrices such as ic0 or amg).")
    return S.reshape((len(offs),) + Pshape), shape


def stencil_to_csr(S, shape):
    """The CSR matrix of a padded stencil array (inverse of :func:`grid_stencil`)."""
    dim = len(shape)
    offs = offsets(dim)
    n = int(np.prod(shape))
    idx = np.arange(n).reshape((1,) * (3 - dim) + tuple(shape))
    idx_p = np.full(padded_shape(shape), -1, dtype=np.int64)
    interior(idx_p, dim)[...] = idx
    rows, cols, vals = [], [], []
    Pz, Py, Px = idx_p.shape
    z0, z1 = (1, Pz - 1) if dim == 3 else (0, 1)
    for k, (dz, dy, dx) in enumerate(offs):
        v = interior(S[k], dim).reshape(-1)
        c = idx_p[z0 + dz:z1 + dz, 1 + dy:Py - 1 + dy, 1 + dx:Px - 1 + dx].reshape(-1)
        keep = (c >= 0) & (v != 0)
        rows.append(idx.reshape(-1)[keep])
        cols.append(c[keep])
        vals.append(v[keep])
    A = sp.coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                     shape=(n, n))
    return sp.csr_array(A)
