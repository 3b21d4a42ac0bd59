"""Input checks shared by every public function.

Messages name the function, the argument and the fix, e.g.
``learnsolve.precond.ic0: `A` must be symmetric (max |A - A^T| = 0.5); ...``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float32, np.float64)


def as_csr(A, func, name="A", *, square=True, finite=True):
    """Return ``A`` as canonical CSR (sorted, no duplicates) of float32/64.

    Raises ValueError naming ``func`` and ``name`` for non-2-D, non-square,
    non-floating or non-finite input.
    """
    if sp.issparse(A):
        A = sp.csr_array(A)
    else:
        arr = np.asarray(A)
        if arr.ndim != 2:
            raise ValueError(
                f"{func}: `{name}` must be a 2-D matrix, got an array of shape {arr.shape}; "
                "pass a scipy.sparse matrix."
            )
        A = sp.csr_array(arr)
    if square and A.shape[0] != A.shape[1]:
        raise ValueError(
            f"{func}: `{name}` must be square, got shape {A.shape}; "
            "pass the square system matrix."
        )
    if A.dtype not in FLOAT_DTYPES:
        if np.issubdtype(A.dtype, np.complexfloating):
            raise ValueError(
                f"{func}: `{name}` has complex dtype {A.dtype}; only real SPD matrices are supported."
            )
        A = A.astype(np.float64)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
        A.sort_indices()
    if finite and not np.all(np.isfinite(A.data)):
        raise ValueError(
            f"{func}: `{name}` contains NaN or Inf entries; clean the matrix before solving."
        )
    return A


def check_symmetric(A, func, name="A", rtol=1e-10):
    """Raise ValueError unless CSR ``A`` is symmetric up to ``rtol * max|A|``."""
    diff = A - A.T
    err = float(abs(diff).max()) if diff.nnz else 0.0
    scale = float(abs(A).max()) if A.nnz else 1.0
    if err > rtol * scale:
        raise ValueError(
            f"{func}: `{name}` must be symmetric (max |A - A^T| = {err:.3g}, "
            f"max |A| = {scale:.3g}); symmetrize it, e.g. (A + A.T) / 2, or use a "
            "solver for nonsymmetric systems."
        )


def positive_diagonal(A, func, name="A"):
    """Return the diagonal of ``A``; raise unless it is positive (SPD necessity)."""
    d = A.diagonal()
    bad = np.flatnonzero(~(d > 0))
    if bad.size:
        raise ValueError(
            f"{func}: `{name}` must have a positive diagonal (row {bad[0]} has "
            f"{d[bad[0]]!r}); an SPD matrix always does — check the matrix."
        )
    return d

