"""Sparse matrix products for multigrid set-up: ``A @ B`` and the Galerkin ``Pᵀ A P`` in CSR.

Row-parallel Gustavson products (numba, one dense marker per chunk of rows)
in one numeric pass — no symbolic pass: each row goes to scratch space
sized by a cheap bound and is copied into place — with each row sorted, so
the result is canonical CSR (sorted, no duplicates) without SciPy's separate
``sort_indices``.  SciPy's ``csr_matmat`` is serial with two passes.  The
reference is SciPy's own product (``A @ B``), which the tests compare against.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True)
def _row_fill(i, a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, mark, acc, out_idx,
              out_val, start, ordered):  # pragma: no cover - jitted
    """Row ``i`` of ``A B`` into ``out_*[start:]`` (sorted when ``ordered``); returns its end."""
    k = start
    for p in range(a_ptr[i], a_ptr[i + 1]):
        j = a_idx[p]
        v = a_val[p]
        for q in range(b_ptr[j], b_ptr[j + 1]):
            c = b_idx[q]
            if mark[c] != i:
                mark[c] = i
                acc[c] = v * b_val[q]
                out_idx[k] = c
                k += 1
            else:
                acc[c] += v * b_val[q]
    if ordered:  # insertion sort: rows of multigrid products are short
        for t in range(start + 1, k):
            c = out_idx[t]
            u = t
            while u > start and out_idx[u - 1] > c:
                out_idx[u] = out_idx[u - 1]
                u -= 1
            out_idx[u] = c
    for t in range(start, k):
        out_val[t] = acc[out_idx[t]]
    return k


@numba.njit(parallel=True, cache=True)
def _matmat(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, n_cols, chunks,
            ordered):  # pragma: no cover - jitted
    """One numeric pass: each chunk of rows fills a scratch region sized by the rows' bound
    ``min(Σ_p nnz(B[a_ip]), n_cols)`` compactly (only what it writes is touched), then the rows
    are copied into place."""
    n = a_ptr.size - 1
    chunks = max(1, min(n, chunks))
    bound = np.zeros(n + 1, np.int64)
    for i in numba.prange(n):
        t = 0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            t += b_ptr[a_idx[p] + 1] - b_ptr[a_idx[p]]
        bound[i + 1] = min(t, n_cols)
    base = np.cumsum(bound)
    scratch_idx = np.empty(base[-1], b_idx.dtype)
    scratch_val = np.empty(base[-1], np.float64)
    first = np.empty(n, np.int64)
    counts = np.zeros(n + 1, np.int64)
    for ch in numba.prange(chunks):
        mark = np.full(n_cols, -1, np.int64)
        acc = np.empty(n_cols, np.float64)
        lo, hi = ch * n // chunks, (ch + 1) * n // chunks
        k = base[lo]
        for i in range(lo, hi):
            first[i] = k
            end = _row_fill(i, a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, mark, acc, scratch_idx,
                            scratch_val, k, ordered)
            counts[i + 1] = end - k
            k = end
    ptr = np.cumsum(counts)
    idx = np.empty(ptr[-1], b_idx.dtype)
    val = np.empty(ptr[-1], np.float64)
    for i in numba.prange(n):
        m = counts[i + 1]
        idx[ptr[i]:ptr[i] + m] = scratch_idx[first[i]:first[i] + m]
        val[ptr[i]:ptr[i] + m] = scratch_val[first[i]:first[i] + m]
    return ptr, idx, val


def _csr(M):
    M = sp.csr_array(M)
    if M.dtype != np.float64:
        M = M.astype(np.float64)
    return M


def matmat(A, B, *, sort=True):
    """``A @ B`` of two sparse matrices as canonical float64 CSR (row-parallel, numba).

    Parameters
    ----------
    A, B : sparse matrices
        Shapes ``(m, k)`` and ``(k, n)``; any SciPy format (converted to CSR).

    Returns
    -------
    scipy.sparse.csr_array
        Sorted column indices, no duplicates; explicit zeros from cancellation kept.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import matmat
    >>> A = sp.random_array((50, 40), density=0.1, random_state=0, format="csr")
    >>> B = sp.random_array((40, 30), density=0.1, random_state=1, format="csr")
    >>> bool(np.allclose(matmat(A, B).toarray(), (A @ B).toarray()))
    True
    """
    A, B = _csr(A), _csr(B)
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"learnsolve.ops.matmat: shapes {A.shape} and {B.shape} do not multiply; "
                         "`A` needs as many columns as `B` has rows.")
    ptr, idx, val = _matmat(A.indptr, A.indices, A.data, B.indptr, B.indices, B.data,
                            B.shape[1], 4 * numba.get_num_threads(), sort)
    index = np.int64 if max(ptr[-1], B.shape[1]) > np.iinfo(np.int32).max else np.int32
    return sp.csr_array((val, idx.astype(index, copy=False), ptr.astype(index, copy=False)),
                        shape=(A.shape[0], B.shape[1]))


def galerkin(A, P, R=None):
    """The Galerkin coarse matrix ``R A P`` (``R = Pᵀ`` by default) as canonical float64 CSR.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import galerkin
    >>> A = sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(8, 8)).tocsr()
    >>> P = sp.kron(sp.eye_array(4), np.array([[1.0], [1.0]])).tocsr()
    >>> bool(np.allclose(galerkin(A, P).toarray(), (P.T @ A @ P).toarray()))
    True
    """
    P = _csr(P)
    R = sp.csr_array(P.T) if R is None else R
    return matmat(R, matmat(A, P, sort=False))


__all__ = ["galerkin", "matmat"]
