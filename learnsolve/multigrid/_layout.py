"""The padded grid layout every grid hierarchy uses (host kernels, torch, the networks).

A grid of shape ``(ny, nx)`` or ``(nz, ny, nx)`` (C order, as
``Problem.grid_shape``) is stored *padded* as ``(Pz, Py, Px)`` with one ghost
layer (value 0) on each side of every active axis; a 2D grid has ``Pz = 1``
(no ghost layer in z).  A stencil is an array ``S`` of shape
``(m, Pz, Py, Px)`` (or ``(m, Pz·Py·Px)`` flat) with
``S[o, p] = A[p, p + offsets[o]]`` and zeros on ghost cells, where
``offsets`` lists the ``m = 3^d`` offsets in ``{-1, 0, 1}^d`` (as 3-vectors,
``dz = 0`` in 2D).  Coarse cell ``C`` (padded index) sits on fine cell
``(sz·Cz, 2·Cy, 2·Cx)`` with ``sz = 2`` in 3D and 0 in 2D.
"""

from __future__ import annotations

import itertools

import numpy as np


def offsets(dim):
    """The ``3^dim`` stencil offsets as an ``(m, 3)`` int array (z, y, x), centre in the middle.

    Examples
    --------
    >>> from learnsolve.multigrid import offsets
    >>> offsets(2).shape, int(offsets(2)[4].any())
    ((9, 3), 0)
    """
    if dim not in (2, 3):
        raise ValueError(f"learnsolve.multigrid.offsets: `dim` must be 2 or 3, got {dim!r}.")
    zs = (-1, 0, 1) if dim == 3 else (0,)
    return np.array(list(itertools.product(zs, (-1, 0, 1), (-1, 0, 1))), dtype=np.int64)


def mirror(dim):
    """Index of ``-o`` for each offset ``o`` (the offsets are listed symmetrically)."""
    return np.arange(3 ** dim)[::-1].copy()


def padded_shape(shape):
    """Padded array shape ``(Pz, Py, Px)`` of a 2D or 3D grid shape."""
    if len(shape) == 2:
        return (1, shape[0] + 2, shape[1] + 2)
    return tuple(s + 2 for s in shape)


def coarse_shape(shape):
    """The next coarser grid: every other cell along each axis."""
    return tuple(s // 2 for s in shape)


def flat_offsets(shape):
    """Offsets as steps in a flat padded array (``p + flat_offsets[o]`` is ``p``'s neighbour ``o``)."""
    _, Py, Px = padded_shape(shape)
    o = offsets(len(shape))
    return o[:, 0] * Py * Px + o[:, 1] * Px + o[:, 2]


def loop_bounds(shape):
    """``(z0, z1, Py, Px)``: the interior loop of the stencil kernels."""
    Pz, Py, Px = padded_shape(shape)
    return ((1, Pz - 1) if len(shape) == 3 else (0, 1)) + (Py, Px)


def interior_slices(dim, padded, shift=(0, 0, 0)):
    """Slices of the interior cells of a padded ``(Pz, Py, Px)`` grid, shifted by ``shift`` cells."""
    Pz, Py, Px = padded
    z = slice(1 + shift[0], Pz - 1 + shift[0]) if dim == 3 else slice(0, 1)
    return z, slice(1 + shift[1], Py - 1 + shift[1]), slice(1 + shift[2], Px - 1 + shift[2])


def interior(arr, dim):
    """View of the interior (non-ghost) cells of padded array(s): the last three axes."""
    if dim == 2:
        return arr[..., :, 1:-1, 1:-1]
    return arr[..., 1:-1, 1:-1, 1:-1]


def pad(x, shape):
    """A flat vector on the grid -> zero-padded ``(Pz, Py, Px)`` array (a copy).

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.multigrid import pad
    >>> pad(np.arange(4.0), (2, 2))[0]
    array([[0., 0., 0., 0.],
           [0., 0., 1., 0.],
           [0., 2., 3., 0.],
           [0., 0., 0., 0.]])
    """
    out = np.zeros(padded_shape(shape), dtype=x.dtype)
    interior(out, len(shape))[...] = x.reshape((1,) * (3 - len(shape)) + tuple(shape))
    return out


def infer_shapes(n, dim=None):
    """Square (2D) and cube (3D) grid shapes with ``n`` cells (both when ``n = k^6``).

    Examples
    --------
    >>> from learnsolve.multigrid import infer_shapes
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


class GridLevel:
    """What a grid level's operator knows of its grid: ``grid`` (C order), ``dim``, the
    ``padded`` shape, ``n`` cells and the matrix ``shape``; subclasses hold the stencils ``S``."""

    def __init__(self, grid):
        self.grid = tuple(int(g) for g in grid)
        self.dim = len(self.grid)
        self.padded = padded_shape(self.grid)
        self.n = int(np.prod(self.grid))
        self.shape = (self.n, self.n)

    def __repr__(self):
        return f"<{type(self).__name__} {'×'.join(map(str, self.grid))} {self.dtype}>"

    @property
    def dtype(self):
        return self.S.dtype

    @property
    def stored(self):
        """Stencil entries stored (``m`` per cell)."""
        return 3 ** self.dim * self.n


class GridTransfer:
    """What a grid interpolation knows: per-coarse-cell weights ``Pc``, the ``fine`` and
    ``coarse`` grids, ``dim`` and the matrix ``shape`` (``n_fine × n_coarse``); ``T`` is
    its restriction (the subclass's ``restriction`` type)."""

    restriction = None

    def __init__(self, Pc, fine_grid, coarse_grid):
        self.Pc = Pc
        self.fine, self.coarse = tuple(fine_grid), tuple(coarse_grid)
        self.dim = len(self.fine)
        self.shape = (int(np.prod(self.fine)), int(np.prod(self.coarse)))

    @property
    def dtype(self):
        return self.Pc.dtype

    @property
    def T(self):
        return self.restriction(self)
