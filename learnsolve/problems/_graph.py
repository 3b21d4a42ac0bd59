"""Sparse matrix → torch_geometric graph with diagonal-scaled features."""

from __future__ import annotations

import numpy as np

from .._validation import as_csr, positive_diagonal


def graph_features(A):
    """Scale-invariant node and edge features of SPD ``A`` as NumPy arrays.

    Returns ``(edge_index, edge_attr, x, diag)``: edges are the off-diagonal
    entries (row → col), ``edge_attr = a_ij / sqrt(a_ii a_jj)``, node features
    ``[Σ_j ã_ij (incl. the unit diagonal), Σ_{j≠i} |ã_ij|, off-diagonal count / max]``
    of the scaled matrix ``Ã = D^{-1/2} A D^{-1/2}``, and ``diag = diag(A)`` to
    rescale outputs.  Invariant under ``A → c A`` and symmetric diagonal scaling.
    """
    func = "learnsolve.problems.to_graph"
    A = as_csr(A, func)
    d = positive_diagonal(A, func).astype(np.float64)
    coo = A.tocoo()
    off = coo.row != coo.col
    row, col = coo.row[off], coo.col[off]
    w = coo.data[off] / np.sqrt(d[row] * d[col])
    n = A.shape[0]
    rowsum = 1.0 + np.bincount(row, weights=w, minlength=n)
    abssum = np.bincount(row, weights=np.abs(w), minlength=n)
    count = np.bincount(row, minlength=n).astype(np.float64)
    x = np.stack([rowsum, abssum, count / max(count.max(), 1.0)], axis=1)
    edge_index = np.stack([row, col]).astype(np.int64)
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
