"""A :class:`~learnsolve.nn.FactorGNN` applied to a matrix: its inputs, the predicted factor.

:func:`factor_inputs` turns ``A`` into the network's tensors (the pattern's
graph with scale-invariant features from :func:`learnsolve.problems.edge_tables`,
the classical factor a correcting model starts from), :func:`gnn_forward`
runs the network (the fused numba kernels of :mod:`._gnn_fused`, or the torch
forward), and :func:`predict_factor` assembles the sparse factor in ``A``'s
units — for kind ``'select'``, classical FSAI on the learned pattern.
Training (:mod:`learnsolve.train`) uses the same inputs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr


def factor_inputs(model, A, dtype=None, extras=None):
    """Tensors for ``model``'s forward and the index arrays of the factor's lower entries.

    Parameters
    ----------
    model : learnsolve.nn.FactorGNN
    A : sparse matrix
        SPD, positive diagonal.
    dtype : torch.dtype, optional
        Of the float tensors (default float32).
    extras : dict, optional
        Receives ``'base'``: the classical factor the model corrects (IC(k) or
        FSAI, in ``A``'s units), or ``None``.

    Returns
    -------
    tensors : dict
        The keyword arguments of ``model.forward``.
    (rows, cols, d) : tuple of ndarray
        The strictly lower entries of the factor's pattern in row-major order,
        and ``diag(A)``.

    Examples
    --------
    >>> from learnsolve.nn import FactorGNN
    >>> from learnsolve.precond import factor_inputs
    >>> from learnsolve.problems import poisson
    >>> tensors, (rows, cols, d) = factor_inputs(FactorGNN("ic"), poisson((4, 4)).A)
    >>> sorted(tensors), rows.size
    (['base_diag', 'base_offdiag', 'edge_attr', 'edge_index', 'lower', 'reverse', 'x'], 24)
    """
    import torch

    from ..ops import fsai_factor, ichol0_shifted, lookup, with_fill
    from ..problems import edge_tables
    from ._gnn_fused import edge_features

    func = "learnsolve.precond.factor_inputs"
    dtype = dtype or torch.float32
    A = with_fill(as_csr(A, func), model.pattern)
    edge_index, w, x, d, reverse = edge_tables(A, func)
    row, col = edge_index
    n = x.shape[0]
    lower = row > col
    low = np.flatnonzero(lower)
    r, c = row[low], col[low]
    if model.kind == "ic":
        base_off, base_diag = w[low], np.ones(n)
        edge_feat = w[:, None]
    elif not model.based:  # FSAI from the identity, or candidate scores
        base_off, base_diag = np.zeros(low.size), np.ones(n)
        edge_feat = w[:, None] if model.kind == "fsai" else _path_features(A, row, col, d)
    else:
        sq = np.sqrt(d)
        if model.kind == "fsai":  # classical FSAI on the pattern; scaled G̃ = G D^{1/2}
            F = fsai_factor(A, "A")
            scale_row, scale_col = np.ones(n), sq
        else:  # the IC factor on the pattern, shifted where it breaks down; L̃ = D^{-1/2} L
            F, _ = ichol0_shifted(A)
            scale_row, scale_col = 1.0 / sq, np.ones(n)
        # base values on the lower edges; the edge inputs mirror them onto the upper ones
        base_off = lookup(F, r, c) * scale_row[r] * scale_col[c]
        base_diag = F.diagonal() * scale_row * scale_col
        lowpos = np.cumsum(lower) - 1
        edge_feat = edge_features(row, col, reverse, lowpos, w, base_off,
                                  model.correction == "scale")
        if extras is not None:
            extras["base"] = F
    t = lambda a, dt=dtype: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    return {
        "x": t(x), "edge_index": torch.as_tensor(edge_index), "edge_attr": t(edge_feat),
        "lower": torch.as_tensor(low), "reverse": torch.as_tensor(reverse),
        "base_offdiag": t(base_off), "base_diag": t(base_diag),
    }, (r, c, d)


def assemble_factor(kind, offdiag, diag, rows, cols, d):
    """Sparse factor in A's units: ``D^{1/2} L̃`` (IC kinds) or ``G̃ D^{-1/2}`` (FSAI).

    ``rows``/``cols`` are the strictly lower entries in row-major order (as
    :func:`factor_inputs` gives them), so the CSR arrays are written directly:
    each row's entries, then its diagonal.
    """
    n = d.size
    sq = np.sqrt(d)
    if kind == "fsai":
        vals, dvals = offdiag / sq[cols], diag / sq
    else:
        vals, dvals = offdiag * sq[rows], diag * sq
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size and np.any(rows[1:] < rows[:-1]):
        raise ValueError("learnsolve.precond.assemble_factor: `rows` must be sorted (row-major "
                         "lower entries, as factor_inputs returns them).")
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n) + 1, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int64)
    data = np.empty(indptr[-1], np.float64)
    pos = np.arange(rows.size) + rows  # one diagonal per earlier row precedes the entry
    indices[pos], data[pos] = cols, vals
    indices[indptr[1:] - 1], data[indptr[1:] - 1] = np.arange(n), dvals
    index = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    F = sp.csr_array((data, indices.astype(index), indptr.astype(index)), shape=(n, n))
    F.has_sorted_indices = True
    return F


def gnn_forward(model, tensors, fused=True):
    """``model``'s outputs ``(offdiag, diag)`` as float64 NumPy arrays, without autograd.

    ``fused`` runs the numba kernels (several times faster on a CPU) instead of
    the torch forward, which is their reference.
    """
    import torch

    if fused:
        from ._gnn_fused import fused_forward

        return fused_forward(model, **tensors)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = tuple(t.double().numpy() for t in model(**tensors))
    model.train(was_training)
    return out


def predict_factor(model, A, *, extras=None, fused=True):
    """The sparse factor ``model`` predicts for ``A`` (float32 inference, float64 result).

    ``L`` (``M = L Lᵀ``) for the IC kinds, ``G`` (``M⁻¹ = Gᵀ G``) for the FSAI
    kinds; for kind ``'select'``, classical FSAI on the pattern the scores pick
    (each row keeps as many of its best-scored candidates as ``tril(A²)`` has).
    ``extras``: see :func:`factor_inputs`.
    """
    tensors, (rows, cols, d) = factor_inputs(model, A, extras=extras)
    if model.kind == "select":
        return _select(A, gnn_forward(model, tensors, fused)[0], rows, cols)
    off, diag = gnn_forward(model, tensors, fused)
    return assemble_factor(model.kind, off, diag, rows, cols, d)


def _select(A, scores, rows, cols):
    """Classical FSAI on the learned pattern; ``rows``/``cols`` are the candidates, the lower
    edges of ``with_fill(A, 'A3')``."""
    from ..ops import fsai_budgets, fsai_factor, top_per_row

    A = as_csr(A, "learnsolve.precond.predict_factor")
    C = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=A.shape)
    C.sort_indices()
    if scores.size != C.nnz:  # the lower edges of with_fill(A, 'A3') are the candidates
        raise RuntimeError(f"learnsolve.precond.predict_factor: {scores.size} scores for {C.nnz} "
                           "candidates (an explicit zero on A's diagonal?).")
    if not np.all(np.isfinite(scores)):  # unusable: an empty pattern, which the caller rejects
        return sp.csr_array(A.shape)
    return fsai_factor(A, top_per_row(C, scores, fsai_budgets(A)))


def _path_features(A, row, col, d):
    """Float32 ``[ã_ij, (Ã²)_ij, (Ã³)_ij]`` on the edges ``(row, col)`` of ``A``'s (filled)
    pattern, ``Ã = D^{-1/2} A D^{-1/2}`` (how strongly paths of length 1–3 couple i and j),
    then ``-log10(|·| + 1e-6) / 6`` of each (couplings across contrast jumps are tiny)."""
    from ..ops import lookup

    s = 1.0 / np.sqrt(d)
    At = sp.csr_array(sp.diags_array(s) @ A @ sp.diags_array(s))
    At.eliminate_zeros()
    A2 = sp.csr_array(At @ At)
    A3 = sp.csr_array(A2 @ At)
    out = np.empty((row.size, 6), np.float32)
    for q, M in enumerate((At, A2, A3)):
        v = lookup(M, row, col)
        out[:, q] = v
        out[:, q + 3] = -np.log10(np.abs(v) + 1e-6) / 6.0
    return out
