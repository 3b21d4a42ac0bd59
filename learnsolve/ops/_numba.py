"""numba fallbacks for the compiled kernels (used when learnsolve._C is absent).

Same algorithms as csrc/cpu/csr_kernels.h, serial.  Status codes match.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def levels(indptr, indices, n, lower):  # pragma: no cover - jitted
    level = np.zeros(n, np.int64)
    n_levels = 0
    for t in range(n):
        i = t if lower else n - 1 - t
        lev = 0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if (j >= i) if lower else (j <= i):
                return 5, level, level
            if level[j] + 1 > lev:
                lev = level[j] + 1
        level[i] = lev
        if lev + 1 > n_levels:
            n_levels = lev + 1
    level_ptr = np.zeros(n_levels + 1, np.int64)
    for i in range(n):
        level_ptr[level[i] + 1] += 1
    for l in range(n_levels):
        level_ptr[l + 1] += level_ptr[l]
    fill = level_ptr[:-1].copy()
    level_rows = np.empty(n, np.int64)
    for i in range(n):
        level_rows[fill[level[i]]] = i
        fill[level[i]] += 1
    return 0, level_ptr, level_rows


@numba.njit(cache=True)
def trsv(indptr, indices, data, inv_diag, lower, b, x):  # pragma: no cover - jitted
    n = b.shape[0]
    for t in range(n):
        i = t if lower else n - 1 - t
        acc = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            acc -= data[p] * x[indices[p]]
        x[i] = acc * inv_diag[i]


@numba.njit(cache=True)
def ilu0(indptr, indices, a, omega, tol):  # pragma: no cover - jitted
    n = indptr.shape[0] - 1
    diag = np.full(n, -1, np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] == i:
                diag[i] = p
        if diag[i] < 0:
            return 3, i
    where = np.full(n, -1, np.int64)
    for i in range(n):
        a_ii = abs(a[diag[i]])
        for p in range(indptr[i], indptr[i + 1]):
            where[indices[p]] = p
        dropped = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            k = indices[p]
            if k >= i:
                continue
            l_ik = a[p] / a[diag[k]]
            a[p] = l_ik
            for q in range(diag[k] + 1, indptr[k + 1]):
                j = indices[q]
                w = where[j]
                if w >= 0:
                    a[w] -= l_ik * a[q]
                else:
                    dropped += l_ik * a[q]
        if omega != 0.0:
            a[diag[i]] -= omega * dropped
        for p in range(indptr[i], indptr[i + 1]):
            where[indices[p]] = -1
        if not (a[diag[i]] > tol * a_ii):
            return 4, i
    return 0, -1
