"""Factorized sparse approximate inverse (FSAI): lower ``G`` with ``Gᵀ G ≈ A⁻¹``."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .._validation import as_csr
from ._pattern import with_fill


@numba.njit(cache=True)
def _fsai_rows(a_ptr, a_idx, a_val, g_ptr, g_idx, n):  # pragma: no cover - jitted
    """Values of G on its (lower, sorted, diagonal last) pattern; status, row."""
    out = np.zeros(g_idx.shape[0])
    where = np.full(n, -1, np.int64)
    for i in range(n):
        start, stop = g_ptr[i], g_ptr[i + 1]
        m = stop - start
        if m == 0 or g_idx[stop - 1] != i:
            return 3, i, out
        for q in range(m):
            where[g_idx[start + q]] = q
        B = np.zeros((m, m))
        for q in range(m):
            r = g_idx[start + q]
            for p in range(a_ptr[r], a_ptr[r + 1]):
                c = where[a_idx[p]]
                if c >= 0:
                    B[q, c] = a_val[p]
        for q in range(m):
            where[g_idx[start + q]] = -1
        # Cholesky of the local block, then solve B y = e_last
        for j in range(m):
            s = B[j, j]
            for k in range(j):
                s -= B[j, k] * B[j, k]
            if not s > 0.0:
                return 4, i, out
            B[j, j] = np.sqrt(s)
            for r in range(j + 1, m):
                t = B[r, j]
                for k in range(j):
                    t -= B[r, k] * B[j, k]
                B[r, j] = t / B[j, j]
        y = np.zeros(m)
        y[m - 1] = 1.0 / B[m - 1, m - 1]  # forward solve with e_last: only the last entry
        for r in range(m - 1, -1, -1):  # backward solve Lᵀ g = y
            t = y[r]
            for k in range(r + 1, m):
                t -= B[k, r] * y[k]
            y[r] = t / B[r, r]
        scale = 1.0 / np.sqrt(y[m - 1])
        for q in range(m):
            out[start + q] = y[q] * scale
    return 0, -1, out


def fsai_factor(A, pattern="A2"):
    """Classical FSAI factor of SPD ``A``: lower ``G`` with ``Gᵀ G ≈ A⁻¹``.

    Row ``i`` of ``G`` on its pattern ``P_i`` (lower, diagonal last) solves
    ``A[P_i, P_i] g = e_i`` and is scaled so that ``(G A Gᵀ)_ii = 1``; this
    minimizes the Kaporin condition number of ``G A Gᵀ`` over the pattern.
    Rows are independent (numba, one small Cholesky each).

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite, diagonal stored.
    pattern : {'A', 'ic1', 'A2', 'A3'} or sparse matrix
        Pattern of ``G``: ``tril`` of the pattern from :func:`with_fill`, or
        ``tril`` of a given sparse matrix's pattern (diagonal included), e.g.
        from :func:`fsai_pattern`.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.ops import fsai_factor
    >>> from learnsolve.problems import poisson
    >>> A = poisson((8, 8)).A
    >>> G = fsai_factor(A)
    >>> bool(np.allclose((G @ A @ G.T).diagonal(), 1.0))
    True
    """
    A = as_csr(A, "learnsolve.ops.fsai_factor")
    if sp.issparse(pattern):
        if pattern.shape != A.shape:
            raise ValueError(f"learnsolve.ops.fsai_factor: `pattern` has shape {pattern.shape} but `A` "
                             f"has {A.shape}; pass a pattern of A's shape.")
        P = sp.csr_array(sp.tril(as_csr(pattern, "learnsolve.ops.fsai_factor", "pattern"), format="csr"))
        P.sum_duplicates()
    else:
        P = sp.csr_array(sp.tril(with_fill(A, pattern), format="csr"))
    P.sort_indices()
    status, row, vals = _fsai_rows(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                                   A.data.astype(np.float64), P.indptr.astype(np.int64),
                                   P.indices.astype(np.int64), A.shape[0])
    if status == 3:
        raise ValueError(f"learnsolve.ops.fsai_factor: row {row} has no diagonal entry; "
                         "store the diagonal explicitly.")
    if status == 4:
        raise ValueError(f"learnsolve.ops.fsai_factor: the local block of row {row} is not positive "
                         "definite; `A` is not SPD.")
    return sp.csr_array((vals.astype(A.dtype), P.indices, P.indptr), shape=A.shape)
