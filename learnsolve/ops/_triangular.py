"""Sparse triangular solves: level-scheduled (OpenMP) or serial substitution."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _backend
from .._validation import as_csr
from ._csr import check_csr_arrays

# When the level schedule is used by default.  Measured on the 2-core
# development machine (benchmarks/kernels.py, 3D Poisson 100^3 IC(0) factor):
# serial substitution 5.8 ms; level schedule 16.3 ms on 1 thread, 9.4 ms on 2.
# The schedule costs ~2.6x per thread (gather/scatter, scattered dependencies)
# so it only wins from about 4 threads on, with wide levels.
MIN_ROWS_PER_LEVEL = 256
MIN_THREADS_FOR_LEVELS = 4


def compute_levels(S, lower=True):
    """Group the rows of a strict triangular CSR matrix ``S`` into dependency levels.

    Returns ``(level_ptr, level_rows)``: rows of level ``l`` are
    ``level_rows[level_ptr[l]:level_ptr[l + 1]]``; every row depends only on
    rows of earlier levels, so one level can be solved in parallel.
    """
    S = as_csr(S, "learnsolve.ops.compute_levels", "S", finite=False)
    C = _backend.compiled()
    if C is not None:
        return C.levels(S.indptr, S.indices, lower)
    from . import _numba

    status, level_ptr, level_rows = _numba.levels(S.indptr, S.indices, S.shape[0], lower)
    if status:
        raise ValueError(
            "learnsolve.ops.compute_levels: entry on the wrong side of the diagonal; "
            "pass the strict triangular part."
        )
    return level_ptr, level_rows


def split_triangular(T, lower, func):
    """Checked ``(T, S, 1/diag)``: ``T`` as float CSR, ``S`` its strict triangle (sorted)."""
    T = as_csr(T, func, "T", finite=False)
    diag = T.diagonal()
    if np.any(diag == 0) or not np.all(np.isfinite(diag)):
        raise ValueError(f"{func}: `T` has a zero or non-finite diagonal entry; it is singular.")
    S = sp.tril(T, k=-1, format="csr") if lower else sp.triu(T, k=1, format="csr")
    if (sp.triu(T, k=1) if lower else sp.tril(T, k=-1)).nnz:
        side = "upper" if lower else "lower"
        raise ValueError(f"{func}: `T` has entries in its {side} triangle; lower={lower}.")
    S = sp.csr_array(S)
    S.sort_indices()
    check_csr_arrays(S.indptr, S.indices, S.data, S.shape, func)
    return T, S, (1.0 / diag).astype(T.dtype)


class TriangularSolver:
    """Solve ``T x = b`` for a sparse triangular ``T`` with a nonzero diagonal.

    Set-up splits off the diagonal, validates the CSR arrays once and computes
    the level schedule; :meth:`solve` then runs the compiled kernel, in
    parallel by levels when the levels are wide enough, else by substitution.

    Parameters
    ----------
    T : sparse matrix
        Lower (``lower=True``) or upper triangular, diagonal stored.
    lower : bool
        Which triangle ``T`` is.
    parallel : bool or None
        Force the level schedule on/off; ``None`` decides from the level widths.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import TriangularSolver
    >>> T = sp.csr_array(np.array([[2.0, 0, 0], [1, 4, 0], [0, 1, 5]]))
    >>> x = TriangularSolver(T).solve(np.array([2.0, 5, 6]))
    >>> np.allclose(T @ x, [2, 5, 6])
    True
    """

    def __init__(self, T, lower=True, parallel=None):
        T, S, inv_diag = split_triangular(T, lower, "learnsolve.ops.TriangularSolver")
        self.lower = lower
        self.shape = T.shape
        self.dtype = T.dtype
        level_ptr, level_rows = compute_levels(S, lower)
        self.n_levels = len(level_ptr) - 1
        if parallel is None:
            parallel = (
                _backend.C_OPENMP
                and _backend.num_threads() >= MIN_THREADS_FOR_LEVELS
                and T.shape[0] >= MIN_ROWS_PER_LEVEL * max(self.n_levels, 1)
            )
        self.parallel = bool(parallel)
        if self.parallel:
            # Store S symmetrically permuted into level order, so that every
            # level is a contiguous block of rows (see csrc/cpu/csr_kernels.h).
            perm = np.ascontiguousarray(level_rows, dtype=np.int64)
            inv = np.empty_like(perm)
            inv[perm] = np.arange(perm.size)
            Sp = sp.csr_array(S[perm])
            Sp.indices = inv[Sp.indices].astype(Sp.indices.dtype)
            Sp.has_sorted_indices = False
            Sp.sort_indices()
            self.S, self.inv_diag = Sp, inv_diag[perm]
            self.level_ptr, self.perm = np.ascontiguousarray(level_ptr, np.int64), perm
        else:
            self.S, self.inv_diag = S, inv_diag

    def solve(self, b, out=None):
        """Return ``x`` with ``T x = b`` (``b`` 1-D, same dtype as ``T``)."""
        n = self.shape[0]
        if b.shape != (n,) or b.dtype != self.dtype:
            raise ValueError(
                f"learnsolve.ops.TriangularSolver.solve: `b` must be a ({n},) {self.dtype} "
                f"array, got {b.shape} {b.dtype}."
            )
        if out is None or out is b:
            out = np.empty_like(b)
        S = self.S
        C = _backend.compiled()
        if C is None:
            from . import _numba

            if self.parallel:  # level order: every dependency precedes its row
                w = np.empty_like(out)
                _numba.trsv(S.indptr, S.indices, S.data, self.inv_diag, True, b[self.perm], w)
                out[self.perm] = w
            else:
                _numba.trsv(S.indptr, S.indices, S.data, self.inv_diag, self.lower, b, out)
        elif self.parallel:
            C.trsv_levels(S.indptr, S.indices, S.data, self.inv_diag, self.level_ptr,
                          self.perm, np.ascontiguousarray(b), out, np.empty_like(out))
        else:
            C.trsv_serial(S.indptr, S.indices, S.data, self.inv_diag,
                          np.ascontiguousarray(b), out, self.lower)
        return out
