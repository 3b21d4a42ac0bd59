"""Reading a grid matrix as per-cell stencils, and back (host and torch)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr, check_torch_sparse
from ..ops import stencil as kernels
from ._layout import (
    flat_offsets,
    infer_shapes,
    interior,
    interior_slices,
    loop_bounds,
    mirror,
    offsets,
    padded_shape,
)


class NotAGrid(ValueError):
    """``A`` is not a nearest-neighbour stencil matrix on the given (or inferred) grid."""


def _off_index(dim):
    """Stencil row of each ``(dz+1)·9 + (dy+1)·3 + dx+1`` (-1 for none)."""
    out = -np.ones(27, dtype=np.int64)
    for k, (dz, dy, dx) in enumerate(offsets(dim)):
        out[(dz + 1) * 9 + (dy + 1) * 3 + dx + 1] = k
    return out


def _shape_or_raise(n, shape, func):
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or int(np.prod(shape)) != n:
        raise NotAGrid(f"{func}: `shape`={shape} does not have {n} cells; pass the grid of `A` "
                       "as (ny, nx) or (nz, ny, nx).")
    return shape


def _not_neighbours(func, row, shape):
    dim = len(shape)
    return NotAGrid(f"{func}: row {row} of `A` couples cells that are not neighbours on a "
                    f"{'×'.join(map(str, shape))} grid; `A` is not a 3^{dim}-point stencil matrix "
                    "on that grid (pass the right `shape`, or use a preconditioner for general "
                    "matrices such as ic0 or amg).")


def grid_stencil(A, shape=None, *, func="learnsolve.multigrid.grid_stencil"):
    """Per-cell stencils of a matrix that couples only neighbouring cells of a grid.

    Parameters
    ----------
    A : sparse matrix or torch sparse CSR tensor
        ``n × n`` with ``n = prod(shape)``; every nonzero ``A[i, j]`` must join
        cells whose grid indices differ by at most 1 along each axis.  A torch
        tensor is read on its device (the stencils are a tensor there).
    shape : tuple of int, optional
        ``(ny, nx)`` or ``(nz, ny, nx)`` (C order).  Inferred when ``n`` is a
        perfect square (2D) or cube (3D).

    Returns
    -------
    S : numpy.ndarray or torch.Tensor
        ``(3^d, Pz, Py, Px)``, float64 on the host (the layout of :mod:`learnsolve.multigrid`).
    shape : tuple of int

    Raises
    ------
    NotAGrid
        When no grid is given or inferred, or ``A`` couples cells that are not neighbours.

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_stencil
    >>> S, shape = grid_stencil(poisson((4, 4)).A)
    >>> shape, float(S[4, 0, 1, 1]), float(S[1, 0, 1, 1]), float(S[5, 0, 2, 2])
    ((4, 4), 4.0, 0.0, -1.0)
    """
    if type(A).__module__.startswith("torch"):
        n = int(A.shape[0])
    else:
        A = as_csr(A, func)
        n = A.shape[0]
    if shape is None:
        candidates = infer_shapes(n)
        if not candidates:
            raise NotAGrid(f"{func}: cannot infer the grid of a {n}×{n} matrix (not a square or "
                           "cube number of unknowns); pass `shape=(ny, nx)` or `(nz, ny, nx)`.")
        if len(candidates) > 1 and not type(A).__module__.startswith("torch"):
            try:  # n = k^6: the quick check picks square or cube
                shape = grid_shape_of(A, func=func)
            except NotAGrid:
                shape = candidates[-1]  # the scatter below names the first bad row
        else:
            for shape in candidates[:-1]:
                try:
                    return grid_stencil(A, shape, func=func)
                except NotAGrid:
                    pass
            shape = candidates[-1]
    shape = _shape_or_raise(n, shape, func)
    if type(A).__module__.startswith("torch"):
        return _grid_stencil_torch(A, shape, func), shape
    dim = len(shape)
    grid = np.array((1,) * (3 - dim) + shape, dtype=np.int64)
    Pshape = padded_shape(shape)
    S = np.zeros((3 ** dim, int(np.prod(Pshape))), dtype=np.float64)
    bad = np.zeros(n, dtype=np.uint8)
    kernels.scatter(A.indptr, A.indices, np.asarray(A.data, dtype=np.float64), grid, int(dim == 3),
                    _off_index(dim), S, bad)
    if bad.any():
        raise _not_neighbours(func, int(np.flatnonzero(bad)[0]), shape)
    return S.reshape((3 ** dim,) + Pshape), shape


def grid_shape_of(A, shape=None, *, func="learnsolve.multigrid.grid_shape_of"):
    """The grid on which SciPy matrix ``A`` is a nearest-neighbour stencil matrix, by a quick check.

    ``shape`` if given (checked), else the square or the cube grid with
    ``A.shape[0]`` cells (the square first when both exist) whose neighbours
    hold every nonzero of ``A``.  A pass over ``A``'s column indices, no
    stencils (:func:`grid_stencil` extracts them).

    Raises
    ------
    NotAGrid
        No such grid.

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_shape_of
    >>> grid_shape_of(poisson((8, 8, 8)).A), grid_shape_of(poisson((64, 8)).A, (64, 8))
    ((8, 8, 8), (64, 8))
    """
    A = as_csr(A, func)
    n = A.shape[0]
    candidates = [_shape_or_raise(n, shape, func)] if shape is not None else infer_shapes(n)
    if not candidates:
        raise NotAGrid(f"{func}: cannot infer the grid of a {n}×{n} matrix (not a square or "
                       "cube number of unknowns); pass `shape=(ny, nx)` or `(nz, ny, nx)`.")
    for grid in candidates:
        nz, ny, nx = (1,) * (3 - len(grid)) + grid
        if kernels.far_rows(A.indptr, A.indices, nz, ny, nx) == 0:
            return grid
    raise NotAGrid(f"{func}: `A` couples cells that are not neighbours on "
                   f"{' or '.join('×'.join(map(str, g)) for g in candidates)}; it is not a grid "
                   "stencil matrix there (pass the right `shape`, or use a preconditioner for "
                   "general matrices such as ic0 or amg).")


def _grid_stencil_torch(A, shape, func):
    """:func:`grid_stencil` of a torch sparse CSR matrix, on its device."""
    import torch

    dim = len(shape)
    check_torch_sparse(A, func)
    A = A if A.layout == torch.sparse_csr else A.to_sparse_csr()
    dev, dtype = A.device, A.values().dtype
    crow, col, val = A.crow_indices(), A.col_indices(), A.values()
    n = int(np.prod(shape))
    row = torch.repeat_interleave(torch.arange(n, device=dev), crow[1:] - crow[:-1])
    grid = (1,) * (3 - dim) + shape

    def coords(i):
        return i // (grid[1] * grid[2]), (i // grid[2]) % grid[1], i % grid[2]

    (zi, yi, xi), (zj, yj, xj) = coords(row), coords(col)
    dz, dy, dx = zj - zi, yj - yi, xj - xi
    far = (dz.abs() > 1) | (dy.abs() > 1) | (dx.abs() > 1)
    if bool(far.any()):
        raise _not_neighbours(func, int(row[far][0]), shape)
    k = (dy + 1) * 3 + (dx + 1) if dim == 2 else (dz + 1) * 9 + (dy + 1) * 3 + (dx + 1)
    Pz, Py, Px = padded_shape(shape)
    flat = ((zi + (dim == 3)) * Py + (yi + 1)) * Px + (xi + 1)
    S = torch.zeros((3 ** dim, Pz * Py * Px), dtype=dtype, device=dev)
    S.index_put_((k, flat), val, accumulate=True)
    return S.reshape((3 ** dim, Pz, Py, Px))


def _not_positive(func):
    return ValueError(f"{func}: `A` has a non-positive diagonal entry; a V-cycle needs an SPD "
                      "matrix.")


def check_stencil(S, shape, func):
    """Raise ``ValueError`` unless padded stencils ``S`` are symmetric with a positive diagonal.

    Symmetric: ``S[o, p] = S[ō, p + o]`` for every offset ``o`` (``ō = -o``).  Written
    with slices, so it runs on NumPy arrays and torch tensors alike (on their device).
    Returns the interior diagonal.
    """
    dim = len(shape)
    offs = offsets(dim)
    m = len(offs)
    padded = tuple(S.shape[1:])
    inner = interior_slices(dim, padded)
    diag = S[(m // 2,) + inner]
    if isinstance(S, np.ndarray):  # one numba pass on the host
        bounds = loop_bounds(shape)
        out = np.zeros(((bounds[1] - bounds[0]) * (bounds[2] - 2), 3))
        kernels.stencil_defects(S.reshape(m, -1), flat_offsets(shape), mirror(dim), *bounds, out)
        asym, scale, low = out[:, 0].max(), out[:, 1].max(), out[:, 2].min()
        if not low > 0:
            raise _not_positive(func)
        if asym > 1e-10 * scale:
            raise ValueError(f"{func}: `A` is not symmetric (max |A - A^T| = {asym:.3g}, max |A| = "
                             f"{scale:.3g}); symmetrize it, e.g. (A + A.T) / 2, or use a solver "
                             "for nonsymmetric systems.")
        return diag
    if not bool((diag > 0).all()):
        raise _not_positive(func)
    scale = float(abs(S).max())
    for k, o in enumerate(offs):
        other = S[(m - 1 - k,) + interior_slices(dim, padded, o)]
        if float(abs(S[(k,) + inner] - other).max()) > 1e-10 * scale:  # towards ghosts both are 0
            raise ValueError(f"{func}: `A` is not symmetric (stencil offset {tuple(int(v) for v in o)} "
                             "differs from its mirror); pass an SPD matrix.")
    return diag


def weak_couplings(S, shape, theta=0.05):
    """How many off-diagonal entries of padded stencils ``S`` (checked: positive diagonal) have
    ``|a_ij| ≤ θ √(a_ii a_jj)``: couplings across coefficient jumps (0: none).

    A 5-point Laplacian's scaled couplings are 0.25 (0.167 for 7 points); a jump of
    ratio ``c`` scales the ones across it by about ``2/√c`` (0.02 at 1e4), so the default
    ``θ`` (the cluster space's :data:`~learnsolve.multigrid.THETA`) counts jumps of about
    100 and more.  NumPy (one numba pass) or torch (on the tensor's device).

    Examples
    --------
    >>> from learnsolve.problems import diffusion, poisson
    >>> from learnsolve.multigrid import grid_stencil, weak_couplings
    >>> weak_couplings(grid_stencil(poisson((16, 16)).A)[0], (16, 16))
    0
    >>> p = diffusion(32, contrast=1e4, seed=0)
    >>> weak_couplings(grid_stencil(p.A)[0], p.grid_shape) > 0
    True
    """
    dim = len(shape)
    m = 3 ** dim
    if isinstance(S, np.ndarray):
        bounds = loop_bounds(shape)
        out = np.zeros((bounds[1] - bounds[0]) * (bounds[2] - 2), dtype=np.int64)
        kernels.weak_couplings(S.reshape(m, -1), flat_offsets(shape), float(theta), *bounds, out)
        return int(out.sum())
    padded = tuple(S.shape[1:])
    inner = interior_slices(dim, padded)
    diag = S[(m // 2,) + inner]
    count = 0
    for k, o in enumerate(offsets(dim)):
        if k != m // 2:
            v = S[(k,) + inner]
            weak = (v != 0) & (v * v <= theta * theta * diag * S[(m // 2,) + interior_slices(dim, padded, o)])
            count += int(weak.sum())
    return count


def stencil_to_csr(S, shape):
    """The CSR matrix of padded stencils ``S`` (inverse of :func:`grid_stencil`).

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_stencil, stencil_to_csr
    >>> A = poisson((5, 4)).A
    >>> float(abs(stencil_to_csr(*grid_stencil(A, (5, 4))) - A).max())
    0.0
    """
    dim = len(shape)
    offs = offsets(dim)
    S = np.asarray(S).reshape((len(offs),) + padded_shape(shape))
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
