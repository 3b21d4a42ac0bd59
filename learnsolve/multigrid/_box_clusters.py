"""The coefficient-cluster coarse space from each rank's box (the distributed cycle's; NumPy).

The serial :class:`~learnsolve.multigrid.ClusterSpace` cuts ``A``'s graph at
weak couplings and at the faces of ``block``-wide grid blocks, so each cluster
lies inside one block.  A rank that sees its box widened by
:data:`CLUSTER_WIDTH` cells (whole blocks around every cell it or its
neighbours touch) labels those clusters exactly as the serial code does
(:func:`patch_clusters`); a cluster is named by the natural index of its
first cell and numbered by the rank owning that cell (the caller's exchange),
and each rank writes its rows of the smoothed basis ``Z``
(:func:`basis_rows`).  The tests compare ``Z`` with the serial
:func:`~learnsolve.multigrid.smoothed_basis`, every rank run in one process.
"""

from __future__ import annotations

import numpy as np

from ._boxes import _box, rows_to_csr
from ._clusters import _union_labels
from ._layout import interior, offsets

#: Cells past its box a rank's cluster patch reaches: a neighbour of its box (1) and that
#: neighbour's whole block (up to ``block - 1`` more), rounded up to whole blocks.
CLUSTER_WIDTH = 8


def _block_ids(cells, shape, block):
    """Index of the ``block``-wide grid block (of the whole grid) of each cell."""
    ids = np.zeros(len(cells[0]), dtype=np.int64)
    for c, s in zip(cells, shape):
        ids = ids * (-(-s // block)) + c // block
    return ids


def patch_clusters(op, patch, boxes, rank, *, theta, block):
    """``(names, weak)``: for every cell of the patch operator ``op`` on ``patch``, the natural
    index of the first cell of its cluster (exact for the cells within one cell of ``rank``'s
    box when the patch reaches :data:`CLUSTER_WIDTH` past it), and the weak couplings of
    ``rank``'s own rows."""
    A = op.tocsr()
    axes = np.meshgrid(*(np.arange(lo, hi) for lo, hi in patch), indexing="ij")
    cells = tuple(a.reshape(-1) for a in axes)
    ids = _block_ids(cells, boxes.shape, block)
    d = np.asarray(A.diagonal(), dtype=np.float64)
    labels, _ = _union_labels(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                              np.asarray(A.data, dtype=np.float64), d, ids, float(theta))
    natural = np.ravel_multi_index(cells, boxes.shape)
    first = np.full(int(labels.max()) + 1 if labels.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, labels, natural)  # patch C order is natural order: the first member
    own = _in_box(cells, boxes.box(rank))
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    off = (rows != A.indices) & own[rows]
    weak = int(np.count_nonzero(~(np.abs(A.data[off]) > theta * np.sqrt(d[rows[off]] * d[A.indices[off]]))))
    return first[labels], weak


def _in_box(cells, box):
    inside = np.ones(len(cells[0]), dtype=bool)
    for c, (lo, hi) in zip(cells, box):
        inside &= (c >= lo) & (c < hi)
    return inside


def basis_rows(op, patch, numbers, boxes, rank, *, omega):
    """``rank``'s rows of ``Z = (I − ω D⁻¹ A) Z₀`` as CSR with global columns, from the patch
    operator ``op`` and the global cluster number of every patch cell (``numbers``, patch C
    order; exact within one cell of the box)."""
    S = op.S.reshape((len(op.S),) + op.padded)
    box = _box(op, patch, boxes, rank)
    num = np.full(op.padded, -1, dtype=np.int64)
    interior(num, op.dim)[...] = numbers.reshape((1,) * (3 - op.dim) + op.grid)
    offs = offsets(op.dim)
    centre = len(offs) // 2
    diag = S[centre][box].reshape(-1)
    live = op.active
    cols = np.empty((diag.size, len(live)), dtype=np.int64)
    vals = np.empty((diag.size, len(live)))
    for t, q in enumerate(live):
        moved = tuple(slice(b.start + o, b.stop + o) for b, o in zip(box, offs[q]))
        cols[:, t] = num[moved].reshape(-1)
        vals[:, t] = -omega * S[q][box].reshape(-1) / diag + (q == centre)
    return _merge(*rows_to_csr(cols, vals, cols >= 0))


def _merge(indptr, indices, data):
    """Sorted CSR rows with repeated columns summed."""
    n = indptr.size - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    new = np.ones(indices.size, dtype=bool)
    new[1:] = (indices[1:] != indices[:-1]) | (rows[1:] != rows[:-1])
    start = np.flatnonzero(new)
    summed = np.add.reduceat(data, start) if data.size else data
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[start], minlength=n), out=out_ptr[1:])
    return out_ptr, indices[start], summed


__all__ = ["CLUSTER_WIDTH", "basis_rows", "patch_clusters"]
