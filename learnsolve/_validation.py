"""Input checks shared by every public function.

Messages name the function, the argument and the fix, e.g.
``learnsolve.precond.ic0: `A` must be symmetric (max |A - A^T| = 0.5); ...``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float32, np.float64)


class _Defect(Exception):
    """A defect of a sparse matrix's index arrays (reworded by :func:`check_structure`)."""


def _index_array(a, what):
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in "iu":
        raise _Defect(f"`{what}` is not a 1-D integer array")
    return a


def _compressed(indptr, indices, n_data, major, minor):
    indptr, indices = _index_array(indptr, "indptr"), _index_array(indices, "indices")
    if indptr.size != major + 1:
        raise _Defect(f"`indptr` has {indptr.size} entries, expected {major + 1}")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise _Defect("`indptr` must start at 0 and never decrease")
    nnz = int(indptr[-1])
    if nnz > indices.size or nnz > n_data:
        raise _Defect(f"`indptr` ends at {nnz} but `indices`/`data` hold {indices.size}/{n_data}")
    if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= minor):
        raise _Defect(f"an index in `indices` is outside [0, {minor})")


def check_structure(A, func, name="A"):
    """Raise ValueError naming ``func`` unless SciPy sparse ``A``'s index arrays are consistent.

    An O(nnz) read of the arrays (NumPy only), made before any SciPy or compiled
    routine touches them: SciPy's constructors do not check index bounds, and its
    C++ kernels (``A - A.T``, format conversions) read out of bounds on such
    arrays, which crashes the interpreter.
    """
    fmt = A.format
    try:
        if fmt in ("csr", "csc"):
            major, minor = A.shape if fmt == "csr" else A.shape[::-1]
            _compressed(A.indptr, A.indices, np.size(A.data), major, minor)
        elif fmt == "bsr":
            R, C = A.blocksize
            _compressed(A.indptr, A.indices, len(A.data), A.shape[0] // R, A.shape[1] // C)
        elif fmt == "coo":
            for what, idx, n in zip(("row", "col"), A.coords, A.shape):
                _index_array(idx, what)
                if idx.size != np.size(A.data):
                    raise _Defect(f"`{what}` and `data` differ in length")
                if idx.size and (idx.min() < 0 or idx.max() >= n):
                    raise _Defect(f"an index in `{what}` is outside [0, {n})")
    except _Defect as exc:
        raise ValueError(
            f"{func}: `{name}` has inconsistent sparse index arrays ({exc}); build it from "
            "consistent arrays (A.check_format(full_check=True) names the defect)."
        ) from None


def check_torch_sparse(T, func, name="A"):
    """:func:`check_structure` for a torch sparse CSR or COO tensor (its index arrays read on the
    host): torch does not check a sparse tensor's invariants by default, and its kernels crash
    on inconsistent ones."""
    import torch

    try:
        if T.layout == torch.sparse_csr:
            crow, col = T.crow_indices().cpu().numpy(), T.col_indices().cpu().numpy()
            _compressed(crow, col, int(T.values().numel()), int(T.shape[0]), int(T.shape[1]))
        elif T.layout == torch.sparse_coo:
            idx = T._indices().cpu().numpy()  # as stored: coalescing first would read them
            for what, row, n in zip(("row", "col"), idx, T.shape):
                if row.size and (row.min() < 0 or row.max() >= n):
                    raise _Defect(f"an index in `{what}` is outside [0, {n})")
        elif T.layout != torch.strided:
            raise _Defect(f"layout {T.layout} is not supported; use a sparse CSR tensor")
    except _Defect as exc:
        raise ValueError(f"{func}: `{name}` has inconsistent sparse index arrays ({exc}); build it "
                         "from consistent arrays (torch.sparse.check_sparse_tensor_invariants names "
                         "the defect).") from None


def contiguous_csr(A):
    """``A`` (CSR) with C-contiguous arrays and one index dtype (what the compiled kernels take)."""
    arrays = (A.data, A.indices, A.indptr)
    if all(a.flags.c_contiguous for a in arrays) and A.indices.dtype == A.indptr.dtype:
        return A
    index = np.promote_types(A.indices.dtype, A.indptr.dtype)
    return sp.csr_array((np.ascontiguousarray(A.data), np.ascontiguousarray(A.indices, dtype=index),
                         np.ascontiguousarray(A.indptr, dtype=index)), shape=A.shape)


def as_csr(A, func, name="A", *, square=True, finite=True):
    """Return ``A`` as canonical CSR (sorted, no duplicates) of float32/64.

    Raises ValueError naming ``func`` and ``name`` for inconsistent index arrays,
    non-2-D, non-square, non-floating or non-finite input.
    """
    if sp.issparse(A):
        check_structure(A, func, name)
        A = contiguous_csr(sp.csr_array(A))
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
    if min(A.shape) == 0:
        raise ValueError(f"{func}: `{name}` is empty (shape {A.shape}); pass a matrix with at least "
                         "one row and column.")
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
    T = A.T.tocsr()  # sorted rows: SciPy's transpose is a counting sort
    if (A.has_canonical_format and np.array_equal(A.indptr, T.indptr)
            and np.array_equal(A.indices, T.indices)):  # symmetric pattern: compare the values
        err = float(np.abs(A.data - T.data).max()) if A.nnz else 0.0
    else:
        diff = A - T
        err = float(abs(diff).max()) if diff.nnz else 0.0
    scale = float(np.abs(A.data).max()) if A.nnz else 1.0
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

