"""A grid split into boxes over ranks (PETSc's DMDA layout), and each rank's rows of a grid level.

The distributed grid cycle (:mod:`learnsolve.petsc`) builds every level from
each rank's own cells: it reads their stencils from the rank's matrix rows
(:func:`stencil_rows`), gathers a patch of them around its box (the caller's
scatter), runs the host kernels on that patch (:func:`patch_operator`) and
keeps the rows of the cells it owns: interpolation (:func:`interpolation_rows`)
and smoother (:func:`smoother_rows`) rows equal to the serial hierarchy's, as
long as the patch reaches :data:`PATCH_WIDTH` cells past the box; the Galerkin
stencils of its coarse cells (:func:`coarsen_patch`, :func:`coarse_rows`) are
the next level's rows (:func:`matrix_rows`).  Everything
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

from ..ops import stencil as kernels
from ._grid import GridOperator, _coarsen
from ._layout import coarse_shape, interior, mirror, offsets, padded_shape
from ._stencil import NotAGrid

#: Cells past its box a rank's stencil patch reaches.  A coarse cell's Galerkin stencil reads
#: the interpolation weights of its neighbours' columns, which read the fine stencils up to three
#: fine cells from its own fine cell; 2 gives the serial hierarchy bit for bit in the tests (2D and
#: 3D, boxes one cell wide; 1 does not), 3 leaves a margin.  (+1 on the low side for parity.)
PATCH_WIDTH = 3


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
    (((0, 4), (3, 6)), 12)
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
        self._cells = {}
        self._neighbours = {}
        self._patch_index = {}
        self._coarse_columns = {}
        self._coarse = None

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
        """Grid coordinates (a tuple of C-order axes) of ``rank``'s cells, in its numbering
        (computed once per rank; do not write to them)."""
        rank = int(rank)
        if rank not in self._cells:
            axes = [np.arange(lo, hi) for lo, hi in self.box(rank)]
            self._cells[rank] = tuple(a.reshape(-1) for a in np.meshgrid(*axes, indexing="ij"))
        return self._cells[rank]

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

    def neighbours(self, rank, offset):
        """Global indices of the neighbours at ``offset`` (per axis, C order) of ``rank``'s cells,
        in its numbering; ``-1`` where the neighbour lies outside the grid.  Neighbours inside
        the box are a fixed step away; only the others are looked up."""
        box = self.box(rank)
        cells = self.cells(rank)
        step, inside, here = 0, True, True
        for (lo, hi), s, c, d in zip(box, self.shape, cells, offset):
            step = step * (hi - lo) + int(d)
            if d:
                inside = inside & (c + d >= 0) & (c + d < s)
                here = here & (c + d >= lo) & (c + d < hi)
        out = np.arange(self.start[rank], self.start[rank + 1], dtype=np.int64) + step
        if here is True:
            return out
        other = np.flatnonzero(inside & ~here)
        out[other] = self.index(tuple(c[other] + d for c, d in zip(cells, offset)))
        out[~inside] = -1
        return out

    def neighbour_table(self, rank, qs):
        """``(len(qs), n_rank)``: :meth:`neighbours` for offsets ``offsets(dim)[qs]`` (computed once
        per rank and offsets and kept; do not write to it)."""
        key = (int(rank), tuple(int(q) for q in qs))
        if key not in self._neighbours:
            offs = offsets(self.dim)[:, 3 - self.dim:]
            out = np.empty((len(qs), int(self.counts[rank])), dtype=np.int64)
            for i, q in enumerate(qs):
                out[i] = self.neighbours(rank, offs[q])
            self._neighbours[key] = out
        return self._neighbours[key]

    def coords(self, index):
        """Grid coordinates (a tuple of C-order axes) of global (PETSc) indices ``index``."""
        index = np.asarray(index, dtype=np.int64)
        rank = np.searchsorted(self.start, index, side="right") - 1  # the last rank starting <= i
        local = index - self.start[rank]
        out = []
        for a, rc in reversed(list(enumerate(np.unravel_index(rank, self.procs)))):
            w = self.widths[a][rc]
            out.append(self.edges[a][rc] + local % w)
            local = local // w
        return tuple(reversed(out))

    def coarse(self):
        """The split of the next coarser grid (coarse cell ``c`` with fine cell ``2c + 1``; made
        once and kept)."""
        if self._coarse is None:
            self._coarse = Boxes(coarse_shape(self.shape), [e // 2 for e in self.edges])
        return self._coarse

    def coarse_columns(self, rank, patch, coarse):
        """Global indices in :class:`Boxes` ``coarse`` (this split's :meth:`coarse`) of the coarse
        cells of ``rank``'s patch ``((lo, hi), ...)`` (lows even), C order (kept per rank and
        patch; do not write to them)."""
        key = (int(rank), tuple(patch))
        if key not in self._coarse_columns:
            axes = np.meshgrid(*(np.arange(s) + lo // 2 for s, (lo, _) in
                                 zip(coarse_shape(tuple(hi - lo for lo, hi in patch)), patch)),
                               indexing="ij")
            self._coarse_columns[key] = coarse.index(tuple(a.reshape(-1) for a in axes))
        return self._coarse_columns[key]

    def patch_index(self, rank, width=PATCH_WIDTH):
        """Global indices of the cells of :meth:`patch` (C order; computed once per rank and
        width and kept, do not write to them)."""
        key = (int(rank), int(width))
        if key not in self._patch_index:
            axes = np.meshgrid(*(np.arange(lo, hi) for lo, hi in self.patch(rank, width)),
                               indexing="ij")
            self._patch_index[key] = self.index(tuple(a.reshape(-1) for a in axes))
        return self._patch_index[key]

    def patch(self, rank, width=PATCH_WIDTH):
        """``((lo, hi), ...)``: ``rank``'s box widened by ``width`` cells inside the grid, its low
        corner moved to even coordinates (so its coarse cells are the grid's)."""
        out = []
        for (lo, hi), s in zip(self.box(rank), self.shape):
            plo = max(lo - width, 0)
            out.append((plo - plo % 2, min(hi + width, s)))
        return tuple(out)


def stencil_rows(indptr, indices, data, boxes, rank, func="learnsolve.multigrid.stencil_rows", *,
                 likely=None):
    """The ``(n_rank, 3^d)`` stencils of ``rank``'s cells from its CSR rows (global columns).

    ``S[i, o]`` is the entry of row ``i`` in the column of its neighbour at offset
    ``offsets(d)[o]`` (0 outside the grid).  Raises :class:`NotAGrid` when a row
    has an entry for a cell that is not a neighbour.  ``likely`` (offset indices, e.g. a
    star stencil's) are matched first, and all ``3^d`` only when some entry is left over.
    """
    cells = boxes.cells(rank)
    n_loc = len(cells[0])
    indptr = np.asarray(indptr, dtype=np.int64)
    if indptr.size != n_loc + 1:
        raise ValueError(f"{func}: rank {rank} has {indptr.size - 1} rows but its box holds {n_loc} "
                         "cells; the matrix's row layout must be the grid's (DMDA) layout.")
    m = 3 ** boxes.dim
    qs = np.arange(m) if likely is None else np.asarray(likely)
    expected = boxes.neighbour_table(rank, qs)
    S = np.zeros((n_loc, m))
    bad = np.zeros(n_loc, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    data = np.asarray(data, dtype=np.float64)
    kernels.match_columns(indptr, indices, data, expected, qs, S, bad)
    if bad.any() and qs.size < m:
        return stencil_rows(indptr, indices, data, boxes, rank, func)
    if bad.any():
        raise NotAGrid(f"{func}: {int(bad.sum())} entries of rank {rank}'s rows couple cells that "
                       f"are not neighbours on the {'×'.join(map(str, boxes.shape))} grid, so this "
                       "is not a grid stencil matrix; use the algebraic cycle (-learnsolve_pc "
                       "amg-learned) for it.")
    return S


def patch_operator(values, patch, live=None):
    """A :class:`GridOperator` on the patch ``((lo, hi), ...)`` from its cells' stencils
    ``values`` (``(n_patch, 3^d)``, C order; or ``(n_patch, len(live))``: the offsets ``live``
    alone, the others zero); stencil entries reaching past the patch stay (they read zero
    ghosts)."""
    pshape = tuple(hi - lo for lo, hi in patch)
    dim = len(pshape)
    m = 3 ** dim
    live = np.arange(m) if live is None else np.asarray(live)
    S = np.zeros((m,) + padded_shape(pshape))
    interior(S, dim)[live] = values.T.reshape((len(live),) + (1,) * (3 - dim) + pshape)
    return GridOperator(S, pshape)


def _box(op, patch, boxes, rank):
    """Slices of ``rank``'s box in the padded ``(Pz, Py, Px)`` layout of patch operator ``op``."""
    box = [slice(lo - plo + 1, hi - plo + 1) for (lo, hi), (plo, _) in zip(boxes.box(rank), patch)]
    return tuple(([slice(0, 1)] if op.dim == 2 else []) + box)


def check_rows(op, patch, boxes, rank):
    """``(max |A − Aᵀ|, max |A|, min diagonal)`` over ``rank``'s rows (patch operator ``op``)."""
    if not boxes.counts[rank]:
        return 0.0, 0.0, np.inf
    S = op.S.reshape((len(op.S),) + op.padded)
    box = _box(op, patch, boxes, rank)
    offs, mir = offsets(op.dim), mirror(op.dim)
    asym = scale = 0.0
    for q in np.union1d(op.active, mir[op.active]):
        moved = tuple(slice(b.start + o, b.stop + o) for b, o in zip(box, offs[q]))
        here = S[q][tuple(box)]
        asym = max(asym, float(np.abs(here - S[mir[q]][moved]).max()))
        scale = max(scale, float(np.abs(here).max()))
    return asym, scale, float(S[len(offs) // 2][tuple(box)].min())


def smoother_rows(K, live, op, patch, boxes, rank, **split):
    """``rank``'s rows of smoother ``K`` (cell-major ``(N_patch, len(live))`` on ``op``) as CSR
    ``(indptr, indices, data)`` with global columns (``blocks=True``: split at the rank's own
    columns, :func:`owned_rows`)."""
    cols = boxes.neighbour_table(rank, live).T
    vals = K.reshape(op.padded + (K.shape[1],))[_box(op, patch, boxes, rank)].reshape(-1, K.shape[1])
    return owned_rows(cols, vals, cols >= 0, boxes, rank, **split)


def coarsen_patch(op, plan=None, terms=None):
    """``(Pc, Sc)``: black-box interpolation weights and Galerkin stencils of the patch operator
    ``op``'s coarse grid (padded, ``(m, Nc)``), or ``(None, None)`` when it has no coarse cell."""
    cshape = coarse_shape(op.grid)
    if min(cshape) == 0:
        return None, None
    dim = op.dim
    offs = offsets(dim)
    if plan is None:
        plan = kernels.boxmg_plan(offs)
    if terms is None:
        terms = kernels.galerkin_terms(offs, np.array([2 if dim == 3 else 0, 2, 2]))
    return _coarsen(op, cshape, plan, terms)


def coarse_rows(Sc, op, patch, coarse, rank):
    """The ``(n_rank, m)`` coarse stencils of ``rank``'s coarse cells from the patch's Galerkin
    stencils ``Sc`` (:func:`coarsen_patch`)."""
    cshape = coarse_shape(op.grid)
    m = 3 ** op.dim
    if Sc is None or not coarse.counts[rank]:
        return np.zeros((int(coarse.counts[rank]), m))
    Sc = interior(Sc.reshape((m,) + padded_shape(cshape)), op.dim).reshape((m,) + cshape)
    local = tuple(c - lo // 2 for c, (lo, _) in zip(coarse.cells(rank), patch))
    return Sc[(slice(None),) + local].T.copy()


def matrix_rows(S, boxes, rank, **split):
    """``rank``'s rows of the level matrix with stencils ``S`` (``(n_rank, m)``) as CSR with
    global columns (zero entries left out, the diagonal kept; ``blocks=True``: split at the
    rank's own columns, :func:`owned_rows`)."""
    cols = boxes.neighbour_table(rank, np.arange(S.shape[1])).T
    valid = (cols >= 0) & (S != 0)
    valid[:, S.shape[1] // 2] = True
    return owned_rows(cols, S, valid, boxes, rank, **split)


def interpolation_rows(Pc, op, patch, fine, coarse, rank, **split):
    """``rank``'s rows of the black-box interpolation from ``coarse`` to ``fine`` (both
    :class:`Boxes`) from the patch's weights ``Pc`` (:func:`coarsen_patch`), as CSR with global
    columns (``blocks=True``: split at the rank's own coarse columns, :func:`owned_rows`)."""
    dim = op.dim
    cshape = coarse_shape(op.grid)
    if Pc is None:
        empty = np.zeros((int(fine.counts[rank]), 0))
        return owned_rows(empty.astype(np.int64), empty, empty.astype(bool), coarse, rank, **split)
    lift = (1,) * (3 - dim)  # 2D as one z layer
    Pc = interior(Pc.reshape((len(Pc),) + padded_shape(cshape)), dim).reshape((len(Pc),) + lift + cshape)
    col = fine.coarse_columns(rank, patch, coarse).reshape(lift + cshape)
    box = [(0, 1)] * (3 - dim) + list(fine.box(rank))
    step = np.array([0] * (3 - dim) + [2] * dim, dtype=np.int64)  # fine cell 2c + 1 + lo + o
    base = np.array([0] * (3 - dim) + [lo + 1 for lo, _ in patch], dtype=np.int64)
    n_loc = int(fine.counts[rank])
    # a fine cell has at most one parent per offset pattern: along each axis o = 0 (odd cells)
    # or o = ±1 (even cells), so bit a of its slot says o_a = +1
    cols = np.zeros((n_loc, 2 ** dim), dtype=np.int64)
    vals = np.zeros(cols.shape)
    valid = np.zeros(cols.shape, dtype=bool)
    kernels.interpolation_slots(Pc, col, offsets(dim), step, base,
                                np.array([lo for lo, _ in box]), np.array([hi for _, hi in box]),
                                cols, vals, valid)
    return owned_rows(cols, vals, valid, coarse, rank, **split)


def owned_rows(cols, vals, valid, columns, rank, *, blocks=False, index_dtype=np.int64):
    """:func:`rows_to_csr` of a rank's rows whose columns are the cells of :class:`Boxes`
    ``columns``; with ``blocks`` split at the columns ``rank`` owns (PETSc's diagonal and
    off-diagonal blocks)."""
    own = (columns.start[rank], columns.start[rank + 1]) if blocks else None
    return rows_to_csr(cols, vals, valid, own=own, index_dtype=index_dtype)


def rows_to_csr(cols, vals, valid, *, own=None, index_dtype=np.int64):
    """CSR ``(indptr, indices, data)`` of rows given as ``(n, w)`` slots: column, value, and
    whether the slot holds an entry (columns sorted within each row).

    With ``own=(lo, hi)``: the rows split at the columns ``[lo, hi)`` a rank owns, as
    ``((indptr, indices, data), (indptr, indices, data))`` for the entries inside (columns
    shifted by ``-lo``) and outside (columns as they are): PETSc's split arrays of an MPIAIJ
    matrix.  Indices come out as ``index_dtype``.
    """
    cols, vals, valid = np.asarray(cols), np.asarray(vals), np.asarray(valid, dtype=bool)
    if (cols.ndim != 2 or cols.dtype.kind not in "iu" or vals.dtype.kind != "f"
            or vals.shape != cols.shape or valid.shape != cols.shape):
        raise ValueError("learnsolve.multigrid.rows_to_csr: `cols` (integers), `vals` (floats) and "
                         f"`valid` must be (n, w) arrays of one shape, got {cols.shape} {cols.dtype}, "
                         f"{vals.shape} {vals.dtype}, {valid.shape}.")
    n = len(cols)
    lo, hi = (0, np.iinfo(np.int64).max) if own is None else (int(own[0]), int(own[1]))
    inside, outside = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    kernels.slot_counts(cols, valid, lo, hi, inside, outside)
    blocks = []
    for count in (inside, outside):
        indptr = np.zeros(n + 1, dtype=index_dtype)
        np.cumsum(count, out=indptr[1:])
        blocks.append((indptr, np.empty(int(indptr[-1]), dtype=index_dtype),
                       np.empty(int(indptr[-1]), dtype=np.float64)))
    (dptr, dind, ddata), (optr, oind, odata) = blocks
    kernels.slots_to_csr(cols, vals, valid, lo, hi, dptr, dind, ddata, optr, oind, odata)
    return blocks[0] if own is None else tuple(blocks)


__all__ = ["PATCH_WIDTH", "Boxes", "check_rows", "coarse_rows", "coarsen_patch", "interpolation_rows",
           "matrix_rows", "patch_operator", "rows_to_csr", "smoother_rows", "stencil_rows"]
