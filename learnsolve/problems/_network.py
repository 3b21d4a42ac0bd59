"""Weighted graph Laplacians of random geometric graphs, grounded at the boundary (SPD)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._problem import Problem, make_rhs


def graph_laplacian(n, *, dim=2, neighbours=6, sigma=1.0, ground=0.05, seed=0, rhs="random"):
    """``L + G``: the Laplacian of a random geometric graph plus a grounding diagonal ``G``.

    ``n`` points uniform in the unit square/cube, each joined to its
    ``neighbours`` nearest (symmetrized), edge weights log-normal
    (``exp(σ N(0, 1))``); points within ``ground`` of the boundary are
    grounded (their diagonal gains their mean edge weight), which makes the
    matrix symmetric positive definite — a Dirichlet condition on a graph.
    It is not a grid or a mesh matrix: rows have varying degree and no
    geometry.  Deterministic for a seed.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import graph_laplacian
    >>> p = graph_laplacian(500, seed=1)
    >>> p.A.shape, bool(np.linalg.eigvalsh(p.A.toarray()).min() > 0)
    ((500, 500), True)
    """
    from scipy.spatial import cKDTree

    func = "learnsolve.problems.graph_laplacian"
    if int(n) < 2 or int(neighbours) < 1:
        raise ValueError(f"{func}: need `n` >= 2 and `neighbours` >= 1, got {n!r}, {neighbours!r}.")
    n, k = int(n), min(int(neighbours), int(n) - 1)
    rng = np.random.default_rng([int(seed), 7])
    x = rng.uniform(0, 1, size=(n, dim))
    _, nbr = cKDTree(x).query(x, k + 1)
    rows = np.repeat(np.arange(n), k)
    cols = nbr[:, 1:].ravel()
    w = np.exp(sigma * rng.standard_normal(rows.size))
    W = sp.csr_array((w, (rows, cols)), shape=(n, n))
    W = sp.csr_array(W.maximum(W.T))
    degree = np.asarray(W.sum(axis=1)).ravel()
    near = np.any((x < ground) | (x > 1 - ground), axis=1)
    if not near.any():
        near[np.argmax(np.abs(x - 0.5).max(axis=1))] = True  # ground the outermost point
    grounding = np.where(near, degree / np.maximum(np.diff(W.indptr), 1), 0.0)
    A = sp.csr_array(sp.diags_array(degree + grounding) - W)
    A.sum_duplicates()
    A.sort_indices()
    b = make_rhs(n, rhs, seed)
    meta = {"family": "graph", "n": n, "dim": dim, "neighbours": k, "sigma": sigma, "seed": seed}
    return Problem(A, b, f"graph-{dim}d-{n}-s{seed}", "graph", None, None, meta)
