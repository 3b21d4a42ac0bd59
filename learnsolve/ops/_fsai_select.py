"""Adaptive FSAI patterns: which entries of ``tril(A³)`` each row of ``G`` keeps.

Row ``i`` of the FSAI factor on a pattern ``{i} ∪ S`` has diagonal
``g_ii = s_i^{-1/2}`` with ``s_i = a_ii − a_iSᵀ A_SS⁻¹ a_iS`` (the Schur
complement of ``i`` in ``A`` restricted to the pattern).  The Kaporin number of
``G A Gᵀ`` is ``∏ s_i / det A`` up to a constant, so choosing the pattern
that minimizes it is a *separate* subset selection per row: the ``k`` columns
``S`` that best "explain" row ``i``.  :func:`fsai_pattern` solves it exactly
(every subset, for training labels) or greedily (forward selection, the
classical adaptive FSAI of Janna & Ferronato); :func:`top_per_row` keeps the
``k`` best-scored candidates per row (the learned pattern).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .._validation import as_csr
from ._pattern import _structure

#: Largest number of subsets tried per row by ``method='exhaustive'``; rows with more fall
#: back to forward selection (a 2D five-point row has C(12, 6) = 924).
EXHAUSTIVE_CAP = 5000


@numba.njit(cache=True)
def _schur(D, sel, k, m, B, v):  # pragma: no cover - jitted
    """``D[m, m] − vᵀ D[sel, sel]⁻¹ v`` with ``v = D[sel, m]`` (``inf`` if not SPD)."""
    for a in range(k):
        v[a] = D[sel[a], m]
        for b in range(a + 1):
            B[a, b] = D[sel[a], sel[b]]
    acc = 0.0
    for j in range(k):  # Cholesky, then the forward solve L w = v; s = d − |w|²
        s = B[j, j]
        for t in range(j):
            s -= B[j, t] * B[j, t]
        if not s > 0.0:
            return np.inf
        B[j, j] = np.sqrt(s)
        for r in range(j + 1, k):
            t2 = D[sel[r], sel[j]]
            for t in range(j):
                t2 -= B[r, t] * B[j, t]
            B[r, j] = t2 / B[j, j]
        w = v[j]
        for t in range(j):
            w -= B[j, t] * v[t]
        v[j] = w / B[j, j]
        acc += v[j] * v[j]
    return D[m, m] - acc


@numba.njit(cache=True)
def _forward(D, m, k, best):  # pragma: no cover - jitted
    """Forward selection of ``k`` of the ``m`` candidates: each step adds the one that lowers
    ``s_i`` most (``D``'s last row/column is ``i``).

    Keeps, for every candidate ``q``, its row ``l_q`` of the Cholesky factor of
    ``D[S ∪ {q}, S ∪ {q}]``, its conditional variance ``d_q = D_qq − |l_q|²`` and
    covariance ``c_q = D_qi − l_qᵀ w`` given the chosen set ``S``; adding ``q``
    lowers ``s_i`` by ``c_q² / d_q``.  A step costs ``O(m |S|)``, not a
    factorization per candidate.
    """
    L = np.zeros((m, k))
    d = np.empty(m)
    c = np.empty(m)
    for q in range(m):
        d[q] = D[q, q]
        c[q] = D[q, m]
    used = np.zeros(m, np.bool_)
    for size in range(k):
        gain, pick = -1.0, -1
        for q in range(m):
            if not used[q] and d[q] > 0.0 and c[q] * c[q] / d[q] > gain:
                gain, pick = c[q] * c[q] / d[q], q
        if pick < 0:  # nothing SPD left: keep the first unused ones
            for q in range(m):
                if not used[q]:
                    pick = q
                    break
        best[size] = pick
        used[pick] = True
        if not d[pick] > 0.0:
            continue
        piv = np.sqrt(d[pick])
        w = c[pick] / piv
        for q in range(m):
            if used[q]:
                continue
            t = D[q, pick]
            for a in range(size):
                t -= L[q, a] * L[pick, a]
            t /= piv
            L[q, size] = t
            d[q] -= t * t
            c[q] -= t * w


@numba.njit(parallel=True, cache=True)
def _select_rows(a_ptr, a_idx, a_val, c_ptr, c_idx, budget, exhaustive, cap):  # pragma: no cover
    """Mask over the candidates ``c_idx`` (strictly lower, sorted per row) of the kept ones."""
    n = c_ptr.size - 1
    keep = np.zeros(c_idx.size, np.bool_)
    for i in numba.prange(n):
        s0, s1 = c_ptr[i], c_ptr[i + 1]
        m, k = s1 - s0, min(budget[i], s1 - s0)
        if m <= k:
            keep[s0:s1] = True
            continue
        # the dense local block on (candidates, i), i last
        cols = np.empty(m + 1, np.int64)  # sorted: the candidates are lower than i
        cols[:m] = c_idx[s0:s1]
        cols[m] = i
        D = np.zeros((m + 1, m + 1))
        for q in range(m + 1):
            r = cols[q]
            for p in range(a_ptr[r], a_ptr[r + 1]):
                c = np.searchsorted(cols, a_idx[p])
                if c <= m and cols[c] == a_idx[p]:
                    D[q, c] = a_val[p]
        B, v = np.empty((k, k)), np.empty(k)
        # number of subsets, capped
        count, t = 1.0, 0
        while t < k and count <= cap:
            count = count * (m - t) / (t + 1)
            t += 1
        best = np.arange(k)
        if exhaustive and count <= cap:
            comb = np.arange(k)
            low = np.inf
            while True:
                s = _schur(D, comb, k, m, B, v)
                if s < low:
                    low = s
                    best[:] = comb
                j = k - 1  # next combination in lexicographic order
                while j >= 0 and comb[j] == m - k + j:
                    j -= 1
                if j < 0:
                    break
                comb[j] += 1
                for t in range(j + 1, k):
                    comb[t] = comb[t - 1] + 1
        else:
            _forward(D, m, k, best)
        for a in range(k):
            keep[s0 + best[a]] = True
    return keep


def candidates(A):
    """Candidate entries and budgets of an adaptive FSAI pattern.

    Returns
    -------
    C : csr_array
        Ones on the strictly lower pattern of ``A³`` (sorted indices).
    budget : ndarray of int64
        Off-diagonal entries row ``i`` of ``G`` may keep: as many as
        ``tril(A²)`` has, so the adaptive factor costs what FSAI on ``A²``'s
        pattern costs.
    """
    S, S2, budget = _budgets(as_csr(A, "learnsolve.ops.candidates"))
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    ptr, idx = _lower_product(i64(S2.indptr), i64(S2.indices), i64(S.indptr), i64(S.indices),
                              4 * numba.get_num_threads())
    return sp.csr_array((np.ones(idx.size), idx, ptr), shape=A.shape), budget


@numba.njit(cache=True)
def _lower_row(i, a_ptr, a_idx, b_ptr, b_idx, mark, out):  # pragma: no cover - jitted
    """Sorted distinct columns ``< i`` of row ``i`` of ``A B`` into ``out``; returns their count."""
    k = 0
    for p in range(a_ptr[i], a_ptr[i + 1]):
        j = a_idx[p]
        for q in range(b_ptr[j], b_ptr[j + 1]):
            c = b_idx[q]
            if c < i and mark[c] != i:
                mark[c] = i
                t = k  # insertion into the sorted prefix
                while t > 0 and out[t - 1] > c:
                    out[t] = out[t - 1]
                    t -= 1
                out[t] = c
                k += 1
    return k


@numba.njit(parallel=True, cache=True)
def _lower_product(a_ptr, a_idx, b_ptr, b_idx, chunks):  # pragma: no cover - jitted
    """Strictly lower pattern of ``A B`` (sorted rows), without forming the full product."""
    n = a_ptr.size - 1
    chunks = max(1, min(n, chunks))
    longest = 0
    for i in range(n):
        t = 0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            t += b_ptr[a_idx[p] + 1] - b_ptr[a_idx[p]]
        longest = max(longest, t)
    counts = np.zeros(n + 1, np.int64)
    for pass_ in range(2):
        if pass_ == 1:
            ptr = np.cumsum(counts)
            idx = np.empty(ptr[-1], np.int64)
        for ch in numba.prange(chunks):
            mark = np.full(n, -1, np.int64)
            out = np.empty(longest, np.int64)
            for i in range(ch * n // chunks, (ch + 1) * n // chunks):
                k = _lower_row(i, a_ptr, a_idx, b_ptr, b_idx, mark, out)
                if pass_ == 0:
                    counts[i + 1] = k
                else:
                    idx[ptr[i]:ptr[i] + k] = out[:k]
    return ptr, idx


def _budgets(A):
    """``A``'s structure, ``A²``'s and the off-diagonal count of each row of ``tril(A²)``."""
    S = _structure(sp.csr_array(A))
    S.sum_duplicates()
    S2 = sp.csr_array(S @ S)
    rows = np.repeat(np.arange(S2.shape[0]), np.diff(S2.indptr))
    return S, S2, np.bincount(rows[S2.indices < rows], minlength=S2.shape[0]).astype(np.int64)


def fsai_budgets(A):
    """Off-diagonal entries row ``i`` of an adaptive FSAI factor may keep: as many as ``tril(A²)``'s
    row ``i`` has (int64, one per row).

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.ops import fsai_budgets
    >>> fsai_budgets(poisson((3, 3)).A).tolist()
    [0, 1, 2, 2, 4, 4, 3, 5, 5]
    """
    return _budgets(as_csr(A, "learnsolve.ops.fsai_budgets"))[2]


def _with_diagonal(C, keep):
    n = C.shape[0]
    rows = np.repeat(np.arange(n), np.diff(C.indptr))[keep]
    P = sp.csr_array((np.ones(rows.size + n), (np.concatenate([rows, np.arange(n)]),
                                                np.concatenate([C.indices[keep], np.arange(n)]))),
                     shape=C.shape)
    P.sort_indices()
    return P


def fsai_pattern(A, method="greedy"):
    """Lower pattern of an adaptive FSAI factor of SPD ``A``.

    Each row keeps, of the strictly lower entries of ``A³``'s pattern, as many
    as ``tril(A²)`` has (:func:`candidates`), chosen to minimize the row's
    Schur complement ``s_i`` and with it the Kaporin number of ``G A Gᵀ``.

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite, canonical CSR.
    method : {'greedy', 'exhaustive'}
        ``'greedy'``: forward selection (adaptive FSAI).  ``'exhaustive'``:
        every subset (the Kaporin-optimal pattern; rows with more than
        ``EXHAUSTIVE_CAP`` subsets use forward selection).

    Returns
    -------
    csr_array
        Ones on the pattern, diagonal included, sorted indices; pass it to
        :func:`learnsolve.ops.fsai_factor`.

    Examples
    --------
    >>> from learnsolve.ops import fsai_factor, fsai_pattern
    >>> from learnsolve.problems import diffusion
    >>> A = diffusion(16, contrast=1e4, seed=0).A
    >>> P = fsai_pattern(A)
    >>> P.nnz == fsai_factor(A, "A2").nnz
    True
    """
    if method not in ("greedy", "exhaustive"):
        raise ValueError(f"learnsolve.ops.fsai_pattern: unknown `method`={method!r}; use 'greedy' or "
                         "'exhaustive'.")
    A = as_csr(A, "learnsolve.ops.fsai_pattern")
    C, budget = candidates(A)
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    keep = _select_rows(i64(A.indptr), i64(A.indices), np.ascontiguousarray(A.data, np.float64),
                        i64(C.indptr), i64(C.indices), budget, method == "exhaustive",
                        float(EXHAUSTIVE_CAP))
    return _with_diagonal(C, keep)


def selection_mask(A, method="exhaustive"):
    """Boolean mask over :func:`candidates`' entries (row-major) of those :func:`fsai_pattern`
    keeps: the labels a learned pattern is trained on."""
    P = fsai_pattern(A, method)
    C, _ = candidates(A)
    rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    Pc = sp.csr_array(sp.tril(P, k=-1, format="csr"))
    key_p = np.repeat(np.arange(Pc.shape[0]), np.diff(Pc.indptr)) * C.shape[0] + Pc.indices
    return np.isin(rows * C.shape[0] + C.indices, key_p)


def top_per_row(C, scores, budget):
    """Lower pattern (with diagonal) keeping the ``budget[i]`` highest-scored candidates of
    each row ``i`` of ``C`` (``scores`` over ``C``'s entries, row-major)."""
    C = as_csr(C, "learnsolve.ops.top_per_row", "C")
    scores = np.asarray(scores, dtype=np.float64)
    budget = np.asarray(budget)
    if budget.shape != (C.shape[0],):
        raise ValueError(f"learnsolve.ops.top_per_row: `budget` must hold one count per row "
                         f"({C.shape[0]}); got shape {budget.shape}.")
    if scores.shape != (C.nnz,) or not np.all(np.isfinite(scores)):
        raise ValueError("learnsolve.ops.top_per_row: `scores` must be finite, one per candidate "
                         f"({C.nnz}); got shape {scores.shape}.")
    keep = _top_rows(np.ascontiguousarray(C.indptr, np.int64), scores,
                     np.ascontiguousarray(budget, np.int64))
    return _with_diagonal(C, keep)


@numba.njit(parallel=True, cache=True)
def _top_rows(ptr, scores, budget):  # pragma: no cover - jitted
    """Mask of the ``budget[i]`` highest scores in each row segment (ties: the earlier entry)."""
    keep = np.zeros(scores.size, np.bool_)
    for i in numba.prange(ptr.size - 1):
        s0, s1 = ptr[i], ptr[i + 1]
        if budget[i] >= s1 - s0:
            keep[s0:s1] = True
            continue
        order = np.argsort(-scores[s0:s1], kind="mergesort")
        for a in range(budget[i]):
            keep[s0 + order[a]] = True
    return keep
