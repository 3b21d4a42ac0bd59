"""A grid split into boxes over ranks (PETSc's DMDA layout), and each rank's rows of a grid level.

The distributed grid cycle (:mod:`learnsolve.petsc`) builds every level from
each rank's own cells: it reads their stencils from the rank's matrix rows
(:func:`stencil_rows`), gathers a patch of them around its box (the caller's
scatter), runs the host kernels on that patch (:func:`patch_operator`) and
keeps the rows of the cells it owns: interpolation (:func:`interpolation_rows`)
and smoother (:func:`smoother_rows`) rows equal to the serial hierarchy's, as
long as the patch reaches :data:`PATCH_WIDTH` cells past the box.  Everything
here is NumPy on one rank; the tests run every rank of a split in one process
against :func:`learnsolve.multigrid.grid_hierarchy`.

Numbering (PETSc's for a DMDA): ranks own boxes of a tensor-product split of
the grid, ranks are numbered with the ``x`` process index fastest, and each
rank numbers its cells in C order (``x`` fastest) from the total of the ranks
before it.  Coarse cell ``c`` lies on fine cell ``2c + 1`` (the serial layout)
and belongs to the rank owning that fine cell, so a coarse split's edges are
the fine edges halved (``e // 2``); coarse boxes may be empty.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._grid import GridOperator, prolongation
from ._layout import coarse_shape, interior, mirror, offsets, padded_shape
from ._stencil import NotAGrid

#: Cells past its box a rank's stencil patch reaches.  A fine cell's black-box weights read its
#: own stencil and its neighbours', a smoother row its neighbours' diagonals, and a rank keeps the
#: weights of coarse cells at most one fine cell outside its box; 1 passes the tests against the
#: serial hierarchy (2D and 3D, boxes one cell wide), 2 leaves a margin.  (+1 on the low side
#: for parity.)
PATCH_WIDTH = 2


class Boxes:
    """A tensor-product split of grid ``shape`` (C order) into one box per rank.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` or ``(nz, ny, nx)``.
    edges : sequence of int arrays
        Per axis (C order) the box boundaries ``0 = e_0 <= e_1 <= ... = shape[a]``.

    Examples
    --------
    >>> from learnsolve.multigrid import Boxes
    >>> B = Boxes((4, 6), [[0, 4], [0, 3, 6]])       # 2 ranks side by side in x
    >>> B.box(1), int(B.index((np.array([0]), np.array([3])))[0])
    (((0, 3), (4, 6)), 12)
    >>> B.coarse().shape, [e.tolist() for e in B.coarse().edges]
    ((2, 3), [[0, 2], [0, 1, 3]])
    """

    def __init__(self, shape, edges):
        self.shape = tuple(int(s) for s in shape)
        self.dim = len(self.shape)
        self.edges = tuple(np.asarray(e, dtype=np.int64) for e in edges)
        if len(self.edges) != self.dim or any(
                e[0] != 0 or e[-1] != s or np.any(np.diff(e) < 0) for e, s in zip(self.edges, self.shape)):
            raise ValueError(f"learnsolve.multigrid.Boxes: `edges` must give per axis of {self.shape} "
                             f"boundaries from 0 to the axis length, non-decreasing; got "
                             f"{[e.tolist() for e in self.edges]}.")
        self.procs = tuple(len(e) - 1 for e in self.edges)
        self.size = int(np.prod(self.procs))
        self.widths = tuple(np.diff(e) for e in self.edges)
        counts = self.widths[0]
        for w in self.widths[1:]:
            counts = np.multiply.outer(counts, w)
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1)  # per rank, x fastest
        self.start = np.concatenate([[0], np.cumsum(self.counts)])
        self.n = int(np.prod(self.shape))

    @classmethod
    def from_counts(cls, shape, counts):
        """From per-axis cell counts per process in ``(x, y[, z])`` order (DMDA's
        ``getOwnershipRanges()``)."""
        return cls(shape, [np.concatenate([[0], np.cumsum(c)]) for c in reversed(counts)])

    def __repr__(self):
        return f"<Boxes {'×'.join(map(str, self.shape))} over {'×'.join(map(str, self.procs))}>"

    def box(self, rank):
        """``((lo, hi), ...)`` per axis (C order) of ``rank``'s box."""
        coords = np.unravel_index(int(rank), self.procs)
        return tuple((int(e[c]), int(e[c + 1])) for e, c in zip(self.edges, coords))

    def cells(self, rank):
        """Grid coordinates (a tuple of C-order axes) of ``rank``'s cells, in its numbering."""
        axes = [np.arange(lo, hi) for lo, hi in self.box(rank)]
        return tuple(a.reshape(-1) for a in np.meshgrid(*axes, indexing="ij"))

    def natural(self, rank):
        """C-order (natural) indices of ``rank``'s cells, in its numbering."""
        return np.ravel_multi_index(self.cells(rank), self.shape)

    def index(self, cells):
        """Global (PETSc) indices of the cells at grid coordinates ``cells`` (inside the grid)."""
        rank = np.zeros(len(cells[0]), dtype=np.int64)
        local = np.zeros_like(rank)
        for a, (e, c) in enumerate(zip(self.edges, cells)):
            i = np.searchsorted(e, c, side="right") - 1  # the last (so nonempty) box starting <= c
            rank = rank * self.procs[a] + i
            local = local * self.widths[a][i] + (c - e[i])
        return self.start[rank] + local

    def coarse(self):
        """The split of the next coarser grid (coarse cell ``c`` with fine cell ``2c + 1``)."""
        return Boxes(coarse_shape(self.shape), [e // 2 for e in self.edges])

    def patch(self, rank, width=PATCH_WIDTH):
        """``((lo, hi), ...)``: ``rank``'s box widened by ``width`` cells inside the grid, its low
        corner moved to even coordinates (so its coarse cells are the grid's)."""
        out = []
        for (lo, hi), s in zip(self.box(rank), self.shape):
            plo = max(lo - width, 0)
            out.append((plo - plo % 2, min(hi + width, s)))
        return tuple(out)


def stencil_rows(indptr, indices, data, boxes, rank, func="learnsolve.multigrid.stencil_rows"):
    """The ``(n_rank, 3^d)`` stencils of ``rank``'s cells from its CSR rows (global columns).

    ``S[i, o]`` is the entry of row ``i`` in the column of its neighbour at offset
    ``offsets(d)[o]`` (0 outside the grid).  Raises :class:`NotAGrid` when a row
    has an entry for a cell that is not a neighbour.
    """
    cells = boxes.cells(rank)
    n_loc = len(cells[0])
    indptr = np.asarray(indptr, dtype=np.int64)
    if indptr.size != n_loc + 1:
        raise ValueError(f"{func}: rank {rank} has {indptr.size - 1} rows but its box holds {n_loc} "
                         "cells; the matrix's row layout must be the grid's (DMDA) layout.")
    rows = np.repeat(np.arange(n_loc, dtype=np.int64), np.diff(indptr))
    key = rows * boxes.n + np.asarray(indices, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    key, data = key[order], np.asarray(data, dtype=np.float64)[order]
    offs = offsets(boxes.dim)[:, 3 - boxes.dim:]
    S = np.zeros((n_loc, len(offs)))
    found = 0
    for q, o in enumerate(offs):
        nb = tuple(c + d for c, d in zip(cells, o))
        inside = np.all([(a >= 0) & (a < s) for a, s in zip(nb, boxes.shape)], axis=0)
        r = np.flatnonzero(inside)
        k = r * boxes.n + boxes.index(tuple(a[r] for a in nb))
        pos = np.minimum(np.searchsorted(key, k), max(key.size - 1, 0))
        hit = key[pos] == k if key.size else np.zeros(k.size, bool)
        S[r[hit], q] = data[pos[hit]]
        found += int(hit.sum())
    if found != key.size:
        raise NotAGrid(f"{func}: {key.size - found} entries of rank {rank}'s rows couple cells that "
                       f"are not neighbours on the {'×'.join(map(str, boxes.shape))} grid, so this is "
                       "not a grid stencil matrix; use the algebraic cycle (-learnsolve_pc "
                       "amg-learned) for it.")
    return S


def patch_operator(values, patch):
    """A :class:`GridOperator` on the patch ``((lo, hi), ...)`` from its cells' stencils
    ``values`` (``(n_patch, 3^d)``, C order); stencil entries reaching past the patch stay
    (they read zero ghosts)."""
    pshape = tuple(hi - lo for lo, hi in patch)
    dim = len(pshape)
    S = np.zeros((3 ** dim,) + padded_shape(pshape))
    interior(S, dim)[...] = values.T.reshape((3 ** dim,) + (1,) * (3 - dim) + pshape)
    return GridOperator(S, pshape)


def _owned(op, patch, boxes, rank):
    """Padded flat indices in ``op`` (on ``patch``) of ``rank``'s cells, in its numbering."""
    cells = boxes.cells(rank)
    pos = [c - lo + 1 for c, (lo, _) in zip(cells, patch)]
    if op.dim == 2:
        pos = [np.zeros_like(pos[0])] + pos
    return np.ravel_multi_index(tuple(pos), op.padded)


def check_rows(op, patch, boxes, rank):
    """``(max |A − Aᵀ|, max |A|, min diagonal)`` over ``rank``'s rows (patch operator ``op``)."""
    p = _owned(op, patch, boxes, rank)
    if p.size == 0:
        return 0.0, 0.0, np.inf
    mir = mirror(op.dim)
    asym = max(float(np.abs(op.S[q, p] - op.S[mir[q], p + d]).max()) for q, d in enumerate(op.delta))
    return asym, float(np.abs(op.S[:, p]).max()), float(op.S[len(op.delta) // 2, p].min())


def smoother_rows(K, live, op, patch, boxes, rank):
    """``rank``'s rows of smoother ``K`` (cell-major ``(N_patch, len(live))`` on ``op``) as CSR
    ``(indptr, indices, data)`` with global columns."""
    p = _owned(op, patch, boxes, rank)
    cells = boxes.cells(rank)
    offs = offsets(boxes.dim)[:, 3 - boxes.dim:]
    rows, cols, vals = [], [], []
    for j, q in enumerate(np.asarray(live)):
        nb = tuple(c + d for c, d in zip(cells, offs[q]))
        r = np.flatnonzero(np.all([(a >= 0) & (a < s) for a, s in zip(nb, boxes.shape)], axis=0))
        rows.append(r)
        cols.append(boxes.index(tuple(a[r] for a in nb)))
        vals.append(K[p[r], j])
    return _csr(rows, cols, vals, len(p), boxes.n)


def interpolation_rows(op, patch, fine, coarse, rank, plan=None):
    """``rank``'s rows of the black-box interpolation from ``coarse`` to ``fine`` (both
    :class:`Boxes`) computed on the patch operator ``op``, as CSR with global columns."""
    dim = op.dim
    cshape = coarse_shape(op.grid)
    if min(cshape) == 0:
        return _csr([], [], [], int(fine.counts[rank]), coarse.n)
    Pc = prolongation(op, cshape, plan)
    Pc = interior(Pc.reshape((len(Pc),) + padded_shape(cshape)), dim).reshape((len(Pc),) + cshape)
    cp = np.meshgrid(*(np.arange(s) for s in cshape), indexing="ij")
    cglob = tuple(c + lo // 2 for c, (lo, _) in zip(cp, patch))  # patch lows are even
    col = coarse.index(tuple(c.reshape(-1) for c in cglob)).reshape(cshape)
    box = fine.box(rank)
    widths = [hi - lo for lo, hi in box]
    rows, cols, vals = [], [], []
    for q, o in enumerate(offsets(dim)[:, 3 - dim:]):
        g = [2 * c + 1 + d + lo for c, d, (lo, _) in zip(cp, o, patch)]  # global fine cell
        keep = Pc[q] != 0
        for a, (lo, hi) in zip(g, box):
            keep &= (a >= lo) & (a < hi)
        local = np.zeros(int(keep.sum()), dtype=np.int64)
        for a, (lo, _), w in zip(g, box, widths):
            local = local * w + (a[keep] - lo)
        rows.append(local)
        cols.append(col[keep])
        vals.append(Pc[q][keep])
    return _csr(rows, cols, vals, int(fine.counts[rank]), coarse.n)


def _csr(rows, cols, vals, n_rows, n_cols):
    """Canonical CSR ``(indptr, indices, data)`` of COO pieces."""
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt))  # noqa: E731
    A = sp.csr_array((cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
                     shape=(n_rows, n_cols))
    A.sum_duplicates()
    A.sort_indices()
    return A.indptr, A.indices, A.data


__all__ = ["PATCH_WIDTH", "Boxes", "check_rows", "interpolation_rows", "patch_operator",
           "smoother_rows", "stencil_rows"]
