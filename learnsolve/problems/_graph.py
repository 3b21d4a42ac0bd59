"""Sparse matrix → torch_geometric graph with diagonal-scaled features."""

from __future__ import annotations

import numba
import numpy as np

from .._validation import as_csr, positive_diagonal


@numba.njit(parallel=True, cache=True)
def _edge_tables(indptr, indices, data, d):  # pragma: no cover - jitted
    """Off-diagonal entries of canonical CSR in row order: ``(row, col, ã, rowsum, abssum,
    count)``."""
    n = d.size
    eptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        c = 0
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] != i:
                c += 1
        eptr[i + 1] = eptr[i] + c
    m = eptr[n]
    row = np.empty(m, np.int64)
    col = np.empty(m, np.int64)
    w = np.empty(m, np.float64)
    rowsum = np.empty(n, np.float64)
    abssum = np.empty(n, np.float64)
    for i in numba.prange(n):
        k = eptr[i]
        s, a = 1.0, 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j == i:
                continue
            v = data[p] / np.sqrt(d[i] * d[j])
            row[k], col[k], w[k] = i, j, v
            s += v
            a += abs(v)
            k += 1
        rowsum[i], abssum[i] = s, a
    return row, col, w, rowsum, abssum, np.diff(eptr).astype(np.float64)


def edge_tables(A, func="learnsolve.problems.edge_tables"):
    """:func:`graph_features` of canonical CSR ``A`` plus ``reverse``, the index of each
    edge's transpose (-1 where the pattern is not symmetric).

    Returns ``(edge_index, edge_attr, x, diag, reverse)``; edges are sorted by row.

    Examples
    --------
    >>> from learnsolve.problems import edge_tables, poisson
    >>> edge_index, w, x, d, reverse = edge_tables(poisson((3, 3)).A)
    >>> edge_index[:, :2].tolist(), bool((edge_index[:, reverse] == edge_index[::-1]).all())
    ([[0, 0], [1, 3]], True)
    """
    A = as_csr(A, func)
    d = positive_diagonal(A, func).astype(np.float64)
    row, col, w, rowsum, abssum, count = _edge_tables(
        A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data.astype(np.float64), d)
    x = np.stack([rowsum, abssum, count / max(count.max(initial=0.0), 1.0)], axis=1)
    # the transpose of edge (i, j) is (j, i): edges are sorted by (row, col), so search the keys
    n = d.size
    keys = row * n + col
    want = col * n + row
    pos = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
    reverse = np.where(keys[pos] == want, pos, -1) if keys.size else pos
    return np.stack([row, col]), w, x, d, reverse


def graph_features(A):
    """Scale-invariant node and edge features of SPD ``A`` as NumPy arrays.

    Returns ``(edge_index, edge_attr, x, diag)``: edges are the off-diagonal
    entries (row → col), ``edge_attr = a_ij / sqrt(a_ii a_jj)``, node features
    ``[Σ_j ã_ij (incl. the unit diagonal), Σ_{j≠i} |ã_ij|, off-diagonal count / max]``
    of the scaled matrix ``Ã = D^{-1/2} A D^{-1/2}``, and ``diag = diag(A)`` to
    rescale outputs.  Invariant under ``A → c A`` and symmetric diagonal scaling.
    """
    func = "learnsolve.problems.to_graph"
    edge_index, w, x, d, _ = edge_tables(as_csr(A, func), func)
    return edge_index, w, x, d


def to_graph(A):
    """A ``torch_geometric.data.Data`` view of SPD ``A`` (float32 features).

    Attributes: ``edge_index`` (2, nnz_offdiag), ``edge_attr`` (nnz_offdiag, 1),
    ``x`` (n, 3), ``diag`` (n,) — see :func:`graph_features`.

    Examples
    --------
    >>> from learnsolve.problems import poisson, to_graph
    >>> g = to_graph(poisson((8, 8)).A)
    >>> g.num_nodes, g.edge_index.shape[1], float(g.edge_attr[0, 0])
    (64, 224, -0.25)
    """
    import torch
    from torch_geometric.data import Data

    edge_index, w, x, d = graph_features(A)
    return Data(
        x=torch.from_numpy(x).float(),
        edge_index=torch.from_numpy(edge_index),
        edge_attr=torch.from_numpy(w).float().unsqueeze(1),
        diag=torch.from_numpy(d),
        num_nodes=x.shape[0],
    )
