"""Sparsity patterns for incomplete factors: A's own, level-k fill (IC(k)), or A²'s."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .._validation import as_csr

PATTERNS = ("A", "ic1", "ic2", "ic3", "A2", "A3")


@numba.njit(cache=True)
def _ilu_levels(indptr, indices, n, k_max, cap):  # pragma: no cover - jitted
    """Symbolic ILU(k) of a symmetric pattern: returns (indptr, indices) of the lower part."""
    INF = 1 << 30
    lev = np.full(n, INF, np.int64)
    nxt = np.full(n + 1, -1, np.int64)  # sorted linked list of the row's columns < i, head at n
    # output lower rows (strict), grown as we go
    out_idx = np.empty(cap, np.int64)
    out_ptr = np.zeros(n + 1, np.int64)
    # column-wise access to earlier rows' strict-upper pattern = transpose of strict-lower rows:
    # for symmetric patterns, U row k = {j > k : (j, k) in L}; we collect it as rows finish.
    up_head = np.full(n, -1, np.int64)   # linked lists of (j, level) entries per column k
    up_next = np.empty(cap, np.int64)
    up_col = np.empty(cap, np.int64)
    up_lev = np.empty(cap, np.int64)
    nu = 0
    nnz = 0
    for i in range(n):
        nxt[n] = n  # empty list: head points to sentinel n
        # insert A's strict lower columns in sorted order (indices sorted)
        last = n
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j < i:
                lev[j] = 0
                if last == n:
                    nxt[n] = j
                else:
                    nxt[last] = j
                nxt[j] = n
                last = j
        # eliminate in increasing column order
        k = nxt[n]
        while k != n:
            lk = lev[k]
            q = up_head[k]
            while q != -1:
                j = up_col[q]
                if j < i:
                    newl = lk + up_lev[q] + 1
                    if newl <= k_max and newl < lev[j]:
                        if lev[j] == INF:  # insert j after k in sorted order
                            a = k
                            while nxt[a] != n and nxt[a] < j:
                                a = nxt[a]
                            nxt[j] = nxt[a]
                            nxt[a] = j
                        lev[j] = newl
                q = up_next[q]
            k = nxt[k]
        # emit row i, register entries into the column lists (U row k gets (i, level))
        k = nxt[n]
        while k != n:
            if nnz >= cap:
                return out_ptr, out_idx[:0], 1
            out_idx[nnz] = k
            nnz += 1
            up_col[nu] = i
            up_lev[nu] = lev[k]
            up_next[nu] = up_head[k]
            up_head[k] = nu
            nu += 1
            lev[k] = INF
            k = nxt[k]
        out_ptr[i + 1] = nnz
    return out_ptr, out_idx[:nnz].copy(), 0


def fill_levels(A, k):
    """Strictly lower pattern of symbolic IC(k) (level-of-fill ``≤ k``) of ``A``'s pattern.

    Level of ``(i, j)``: 0 for A's entries, else ``min_m lev(i, m) + lev(m, j) + 1``
    over eliminated ``m < min(i, j)`` (Saad, *Iterative Methods*, §10.3.3).

    Returns
    -------
    csr_array
        Ones on the strictly lower level-``≤ k`` pattern (sorted indices).

    Examples
    --------
    >>> from learnsolve.ops import fill_levels
    >>> from learnsolve.problems import poisson
    >>> A = poisson((4, 4)).A
    >>> [fill_levels(A, k).nnz for k in (0, 1, 2, 20)]   # 20: the complete Cholesky fill
    [24, 33, 39, 51]
    """
    A = as_csr(A, "learnsolve.ops.fill_levels")
    if not A.has_sorted_indices:
        A = A.sorted_indices()  # a sorted copy: the caller's arrays stay as they were
    cap = 4 * A.nnz + A.shape[0]
    while True:
        ptr, idx, status = _ilu_levels(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                                       A.shape[0], int(k), cap)
        if status == 0:
            return sp.csr_array((np.ones(idx.size), idx, ptr), shape=A.shape)
        cap *= 2


@numba.njit(cache=True)
def _union(a_ptr, a_idx, a_val, e_ptr, e_idx):  # pragma: no cover - jitted
    """Row-wise union of two CSR patterns: ``A``'s values, explicit zeros on the other's
    entries; rows come out sorted."""
    n = a_ptr.size - 1
    ptr = np.zeros(n + 1, np.int64)
    cap = a_idx.size + e_ptr[n]
    idx = np.empty(cap, np.int64)
    val = np.zeros(cap, a_val.dtype)
    mark = np.full(n, -1, np.int64)
    nnz = 0
    for i in range(n):
        start = nnz
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_idx[p]
            mark[j] = nnz
            idx[nnz] = j
            val[nnz] = a_val[p]
            nnz += 1
        for p in range(e_ptr[i], e_ptr[i + 1]):
            j = e_idx[p]
            if mark[j] < start:
                mark[j] = nnz
                idx[nnz] = j
                nnz += 1
        # sort the row (short rows: insertion sort on (index, value))
        for p in range(start + 1, nnz):
            j, v = idx[p], val[p]
            q = p - 1
            while q >= start and idx[q] > j:
                idx[q + 1], val[q + 1] = idx[q], val[q]
                q -= 1
            idx[q + 1], val[q + 1] = j, v
        ptr[i + 1] = nnz
    return ptr, idx[:nnz].copy(), val[:nnz].copy()


def _structure(A):
    S = sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape)
    return S


def with_fill(A, pattern="A"):
    """``A`` as canonical CSR with explicit zeros added on a larger pattern.

    Factorizations that work "on A's pattern" (:func:`ichol0`, the learned
    factors) then work on the larger one.

    Parameters
    ----------
    A : sparse matrix
        Symmetric pattern, diagonal stored.
    pattern : {'A', 'ic1', 'ic2', 'ic3', 'A2', 'A3'}
        ``'A'``: unchanged.  ``'icK'``: the level-K fill of incomplete
        Cholesky (:func:`fill_levels`; for K = 1 that is ``A ∪ T Tᵀ``, ``T`` the
        strictly lower pattern), so :func:`ichol0` on the result is IC(K).
        ``'A2'``: the pattern of ``A²`` (the classical choice for FSAI);
        ``'A3'``: of ``A³`` (the candidates of an adaptive FSAI pattern).

    Returns
    -------
    csr_array
        Sorted indices; the values of ``A`` where it has entries, explicit
        zeros elsewhere on the pattern.

    Examples
    --------
    >>> from learnsolve.ops import with_fill
    >>> from learnsolve.problems import poisson
    >>> A = poisson((4, 4)).A
    >>> A.nnz, with_fill(A, "ic1").nnz, with_fill(A, "A2").nnz
    (64, 82, 132)
    """
    if pattern not in PATTERNS:
        raise ValueError(f"learnsolve.ops.with_fill: unknown `pattern`={pattern!r}; use one of {PATTERNS}.")
    A = as_csr(A, "learnsolve.ops.with_fill")
    if not A.has_canonical_format:  # canonicalize a copy, never the caller's arrays
        A = A.copy()
        A.sum_duplicates()
        A.sort_indices()
    if pattern == "A":
        return A
    S = _structure(A)
    if pattern.startswith("ic"):
        T = fill_levels(A, int(pattern[2:]))
        extra = sp.csr_array(T + T.T)
    else:
        extra = sp.csr_array(S @ S)
        if pattern == "A3":
            extra = sp.csr_array(extra @ S)
    # union of the patterns, values of A (explicit zeros kept on the fill)
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    ptr, idx, val = _union(i64(A.indptr), i64(A.indices), A.data, i64(extra.indptr),
                           i64(extra.indices))
    index = np.int32 if ptr[-1] < np.iinfo(np.int32).max else np.int64
    out = sp.csr_array((val, idx.astype(index), ptr.astype(index)), shape=A.shape)
    out.has_sorted_indices = True
    return out
