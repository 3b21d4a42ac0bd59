"""Pure NumPy/SciPy references that the compiled kernels are tested against.

Slow and simple on purpose: dense loops, SciPy's own routines.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def spmv_ref(A, x):
    """``A @ x`` by SciPy."""
    return sp.csr_array(A) @ x


def trsv_ref(T, b, lower=True):
    """Triangular solve by ``scipy.sparse.linalg.spsolve_triangular``."""
    return spla.spsolve_triangular(sp.csr_array(T), b, lower=lower)


def levels_ref(T, lower=True):
    """Dependency level of every row of a triangular matrix, by a Python loop."""
    T = sp.csr_array(T)
    n = T.shape[0]
    level = np.zeros(n, dtype=np.int64)
    order = range(n) if lower else range(n - 1, -1, -1)
    for i in order:
        cols = T.indices[T.indptr[i] : T.indptr[i + 1]]
        deps = cols[cols < i] if lower else cols[cols > i]
        level[i] = 1 + level[deps].max() if deps.size else 0
    return level


def ilu0_ref(A, omega=0.0):
    """Dense IKJ ILU(0)/relaxed MILU(0) restricted to A's stored pattern (small A only;
    explicit zeros count as pattern, so a filled pattern gives ILU(k)).

    Returns the dense in-place factor: strict lower part = unit L, upper part = U.
    """
    A = sp.csr_array(A)
    a = A.toarray().astype(np.float64)
    pattern = sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape).toarray() != 0
    np.fill_diagonal(pattern, True)
    n = a.shape[0]
    for i in range(n):
        for k in range(i):
            if not pattern[i, k]:
                continue
            a[i, k] /= a[k, k]
            for j in range(k + 1, n):
                if not pattern[k, j]:
                    continue
                if pattern[i, j]:
                    a[i, j] -= a[i, k] * a[k, j]
                else:
                    a[i, i] -= omega * a[i, k] * a[k, j]
    return a


def fsai_ref(A, P):
    """FSAI rows by dense solves: ``A[P_i, P_i] g = e_i``, scaled so ``(G A Gᵀ)_ii = 1``."""
    A = sp.csr_array(A).toarray()
    P = sp.csr_array(P)
    G = np.zeros_like(A)
    for i in range(A.shape[0]):
        cols = np.sort(P.indices[P.indptr[i] : P.indptr[i + 1]])
        e = (cols == i).astype(float)
        g = np.linalg.solve(A[np.ix_(cols, cols)], e)
        G[i, cols] = g / np.sqrt(g[cols == i][0])
    return G


def fill_levels_ref(A, k):
    """Strictly lower level-≤k pattern of symbolic IC(k) by dense loops (small A only)."""
    A = sp.csr_array(A)
    n = A.shape[0]
    inf = np.iinfo(np.int64).max // 4
    lev = np.full((n, n), inf, dtype=np.int64)
    lev[sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape).toarray() != 0] = 0
    for i in range(n):
        for m in range(i):
            if lev[i, m] > k:
                continue
            for j in range(m + 1, n):
                if lev[m, j] <= k:
                    lev[i, j] = min(lev[i, j], lev[i, m] + lev[m, j] + 1)
        # symmetric pattern: row i's levels are also column i's
        lev[i + 1:, i] = np.minimum(lev[i + 1:, i], lev[i, i + 1:])
    return np.tril(lev <= k, k=-1)


def fsai_select_ref(A, C, budget, method):
    """Adaptive FSAI pattern by dense loops: per row, the ``budget[i]`` candidates of ``C``
    (strictly lower) that minimize ``s_i = a_ii − a_iSᵀ A_SS⁻¹ a_iS``, by trying every subset
    (``'exhaustive'``) or adding the best one at a time (``'greedy'``).  Returns the kept
    columns of each row as sorted lists."""
    from itertools import combinations

    A = sp.csr_array(A).toarray()
    C = sp.csr_array(C)

    def schur(i, S):
        S = list(S)
        if not S:
            return A[i, i]
        v = A[S, i]
        return A[i, i] - v @ np.linalg.solve(A[np.ix_(S, S)], v)

    kept = []
    for i in range(A.shape[0]):
        cand = list(C.indices[C.indptr[i] : C.indptr[i + 1]])
        k = min(int(budget[i]), len(cand))
        if method == "exhaustive":
            best = min(combinations(cand, k), key=lambda S: schur(i, S))
        else:
            best = []
            for _ in range(k):
                best.append(min((j for j in cand if j not in best),
                                key=lambda j: schur(i, best + [j])))
        kept.append(sorted(int(j) for j in best))
    return kept
