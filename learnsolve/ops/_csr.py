"""Validated CSR handles: checks run once at construction, never per apply."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .. import _backend
from .._validation import as_csr, check_structure, contiguous_csr

INDEX_DTYPES = (np.int32, np.int64)
VALUE_DTYPES = (np.float32, np.float64)


def check_csr_arrays(indptr, indices, data, shape, func="learnsolve.ops"):
    """Validate raw CSR arrays; raise ValueError naming ``func`` on any defect.

    Checks dtypes (int32/int64 indices of one kind, float32/float64 values),
    1-D contiguity, ``len(indptr) == n_rows + 1``, ``indptr[0] == 0``, monotone
    ``indptr`` ending at ``nnz`` and column indices in ``[0, n_cols)``.
    """
    n_rows, n_cols = shape
    for name, arr in (("indptr", indptr), ("indices", indices), ("data", data)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1:
            raise ValueError(f"{func}: CSR `{name}` must be a 1-D NumPy array.")
    if indptr.dtype not in INDEX_DTYPES or indices.dtype != indptr.dtype:
        raise ValueError(
            f"{func}: CSR `indptr`/`indices` must share an int32 or int64 dtype, got "
            f"{indptr.dtype}/{indices.dtype}; cast both with .astype(np.int32)."
        )
    if data.dtype not in VALUE_DTYPES:
        raise ValueError(
            f"{func}: CSR `data` must be float32 or float64, got {data.dtype}; "
            "cast with .astype(np.float64)."
        )
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(
            f"{func}: CSR `indptr` has {indptr.shape[0]} entries, expected n_rows + 1 = {n_rows + 1}."
        )
    nnz = indices.shape[0]
    if data.shape[0] != nnz:
        raise ValueError(
            f"{func}: CSR `indices` ({nnz}) and `data` ({data.shape[0]}) differ in length."
        )
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
        raise ValueError(
            f"{func}: malformed CSR `indptr`: it must start at 0, never decrease and end at "
            f"nnz = {nnz}; pass a canonical scipy.sparse.csr_array."
        )
    if nnz and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(
            f"{func}: CSR column index out of bounds [0, {n_cols}); check `indices`."
        )


class CSRMatrix:
    """A checked CSR matrix with a fast ``matvec`` (OpenMP C++ or SciPy).

    Parameters
    ----------
    A : sparse matrix or tuple ``(data, indices, indptr)`` with ``shape``
        The matrix; converted to canonical CSR.
    shape : tuple, optional
        Required when ``A`` is a tuple of arrays.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import CSRMatrix
    >>> A = sp.random_array((50, 40), density=0.1, random_state=0, format="csr")
    >>> x = np.ones(40)
    >>> bool(np.allclose(CSRMatrix(A).matvec(x), A @ x))
    True
    """

    def __init__(self, A, shape=None, func="learnsolve.ops.CSRMatrix"):
        if isinstance(A, tuple):
            if shape is None:
                raise ValueError(f"{func}: `shape` is required with raw (data, indices, indptr).")
            data, indices, indptr = (np.ascontiguousarray(a) for a in A)
            check_csr_arrays(indptr, indices, data, shape, func)
            A = sp.csr_array((data, indices, indptr), shape=shape)
        else:
            if not sp.issparse(A):
                raise TypeError(f"{func}: `A` must be a SciPy sparse matrix or (data, indices, indptr) "
                                f"arrays with `shape`, got {type(A).__name__}.")
            check_structure(A, func)
            A = contiguous_csr(sp.csr_array(A))
            if A.dtype not in VALUE_DTYPES:
                if A.dtype.kind == "c":
                    raise ValueError(f"{func}: `A` is complex ({A.dtype}); the compiled kernels "
                                     "take float32/float64 matrices.")
                A = A.astype(np.float64)
            check_csr_arrays(A.indptr, A.indices, A.data, A.shape, func)
        self.A = A
        self.shape = A.shape
        self.dtype = A.dtype

    @property
    def nnz(self):
        return self.A.nnz

    def __matmul__(self, x):
        """``A @ x``: the compiled product for a vector of the matrix's dtype, the parallel
        block product (:meth:`matmat`) for a C-ordered block of them, SciPy's otherwise."""
        if isinstance(x, np.ndarray) and x.dtype == self.dtype:
            if x.shape == (self.shape[1],):
                return self.matvec(x)
            if x.ndim == 2 and x.shape[0] == self.shape[1] and x.flags.c_contiguous:
                return self.matmat(x)
        return self.A @ x

    def _is_block(self, X, rows):
        return (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] == rows
                and X.dtype == self.dtype and X.flags.c_contiguous)

    def residual(self, b, x):
        """``b − A x``; one fused pass for C-ordered blocks (no ``A x`` temporary)."""
        if self._is_block(x, self.shape[1]) and self._is_block(b, self.shape[0]) \
                and b.shape[1] == x.shape[1]:
            out = np.empty_like(b)
            _residual_block(self.A.indptr, self.A.indices, self.A.data, x, b, out)
            return out
        return b - self @ x

    def prolong_add(self, x, e):
        """``x + A e``: in place in ``x`` for C-ordered blocks, a new vector otherwise."""
        if self._is_block(e, self.shape[1]) and self._is_block(x, self.shape[0]) \
                and x.shape[1] == e.shape[1]:
            _add_block(self.A.indptr, self.A.indices, self.A.data, e, x)
            return x
        return x + self @ e

    def matmat(self, X, out=None):
        """Return ``A @ X`` for a C-ordered ``(n_cols, s)`` block of the matrix's dtype.

        Rows in parallel (numba), each row's entries applied to all ``s``
        columns at once, so the matrix is read once per block: on the
        201,601-row FEM matrix of ``benchmarks/sequences.py`` a block of 16
        costs about a third of 16 products with one vector.  SciPy's
        ``A @ X`` is the reference it is tested against.
        """
        A = self.A
        if X.ndim != 2 or X.shape[0] != A.shape[1] or X.dtype != A.dtype:
            raise ValueError(
                f"learnsolve.ops.CSRMatrix.matmat: `X` must be a ({A.shape[1]}, s) block of "
                f"{A.dtype}, got shape {X.shape} and dtype {X.dtype}."
            )
        X = np.ascontiguousarray(X)
        if out is None:
            out = np.empty((A.shape[0], X.shape[1]), dtype=A.dtype)
        _spmm(A.indptr, A.indices, A.data, X, out)
        return out

    def matvec(self, x, out=None):
        """Return ``A @ x`` for a 1-D array ``x`` of the matrix's dtype."""
        A = self.A
        if x.shape != (A.shape[1],):
            raise ValueError(
                f"learnsolve.ops.CSRMatrix.matvec: `x` has shape {x.shape}, expected "
                f"({A.shape[1]},)."
            )
        if x.dtype != A.dtype:
            raise ValueError(
                f"learnsolve.ops.CSRMatrix.matvec: `x` is {x.dtype} but the matrix is {A.dtype}; "
                f"cast with x.astype(np.{A.dtype})."
            )
        if out is None:
            out = np.empty(A.shape[0], dtype=A.dtype)
        C = _backend.compiled()
        if C is not None:
            C.spmv(A.shape[1], A.indptr, A.indices, A.data, np.ascontiguousarray(x), out)
        else:
            out[:] = A @ x
        return out


def spmv(A, x, out=None):
    """Return ``A @ x`` with the compiled kernel (one-off; validates ``A`` each call).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import spmv
    >>> A = sp.eye_array(3, format="csr") * 2.0
    >>> spmv(A, np.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
    """
    return CSRMatrix(A, func="learnsolve.ops.spmv").matvec(x, out)


@numba.njit(parallel=True, cache=True)
def _spmm(indptr, indices, data, X, out):  # pragma: no cover - jitted
    """``out = A @ X`` for CSR ``A`` and a C-ordered block ``X`` (rows in parallel)."""
    s = X.shape[1]
    for i in numba.prange(out.shape[0]):
        row = out[i]
        row[:] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            xj = X[indices[p]]
            for c in range(s):
                row[c] += a * xj[c]


@numba.njit(parallel=True, cache=True)
def _residual_block(indptr, indices, data, X, B, out):  # pragma: no cover - jitted
    """``out = B − A @ X`` (rows in parallel)."""
    s = X.shape[1]
    for i in numba.prange(out.shape[0]):
        row = out[i]
        row[:] = B[i]
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            xj = X[indices[p]]
            for c in range(s):
                row[c] -= a * xj[c]


@numba.njit(parallel=True, cache=True)
def _add_block(indptr, indices, data, E, X):  # pragma: no cover - jitted
    """``X += A @ E`` in place (rows in parallel)."""
    s = E.shape[1]
    for i in numba.prange(X.shape[0]):
        row = X[i]
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            ej = E[indices[p]]
            for c in range(s):
                row[c] += a * ej[c]


@numba.njit(cache=True)
def _find_entry(indptr, indices, i, j):  # pragma: no cover - jitted
    """Position of ``(i, j)`` in canonical CSR arrays, or -1 (binary search in row ``i``)."""
    lo, hi = indptr[i], indptr[i + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < indptr[i + 1] and indices[lo] == j else -1


def lookup(A, rows, cols):
    """Values of sparse ``A`` at ``(rows[k], cols[k])`` (0 where not stored), by binary search.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import lookup
    >>> A = sp.csr_array(np.array([[4.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 4.0]]))
    >>> lookup(A, np.array([0, 1, 2]), np.array([1, 1, 0])).tolist()
    [-1.0, 4.0, 0.0]
    """
    func = "learnsolve.ops.lookup"
    A = as_csr(A, func, square=False, finite=False)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    if rows.shape != cols.shape or rows.ndim != 1:
        raise ValueError(f"{func}: `rows` and `cols` must be 1-D and of one length.")
    if rows.size and (rows.min() < 0 or rows.max() >= A.shape[0] or cols.min() < 0
                      or cols.max() >= A.shape[1]):
        raise ValueError(f"{func}: an entry of `rows`/`cols` is outside the matrix {A.shape}.")
    return _lookup(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                   A.data.astype(np.float64), rows, cols)


@numba.njit(parallel=True, cache=True)
def _lookup(indptr, indices, data, rows, cols):  # pragma: no cover - jitted
    out = np.zeros(rows.size)
    for k in numba.prange(rows.size):
        p = _find_entry(indptr, indices, rows[k], cols[k])
        if p >= 0:
            out[k] = data[p]
    return out


def split_columns(indptr, indices, data, lo, hi, index_dtype=np.int64):
    """Split CSR rows at the column range ``[lo, hi)``: ``((dptr, dcols, dvals), (optr, ocols,
    ovals))``, the entries inside it with columns shifted by ``-lo`` and the others with their
    columns as they are, each part keeping the rows' column order.

    The diagonal and off-diagonal blocks of a row-distributed matrix (PETSc's
    ``MatCreateMPIAIJWithSplitArrays``); indices come out as ``index_dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.ops import split_columns
    >>> (dp, dc, dv), (op, oc, ov) = split_columns(np.array([0, 2, 4]), np.array([0, 3, 2, 3]),
    ...                                            np.array([1.0, 2.0, 3.0, 4.0]), 2, 4)
    >>> dp.tolist(), dc.tolist(), op.tolist(), oc.tolist()
    ([0, 1, 3], [1, 0, 1], [0, 1, 1], [0])
    """
    func = "learnsolve.ops.split_columns"
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices, data = np.ascontiguousarray(indices), np.ascontiguousarray(data)
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1 or indptr.size == 0:
        raise ValueError(f"{func}: `indptr`, `indices` and `data` must be 1-D CSR arrays, `indptr` "
                         "with n_rows + 1 entries.")
    if indices.dtype.kind not in "iu" or data.dtype not in VALUE_DTYPES:
        raise ValueError(f"{func}: `indices` must be integers and `data` float32/float64, got "
                         f"{indices.dtype}/{data.dtype}.")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or not indptr[-1] == indices.size == data.size:
        raise ValueError(f"{func}: `indptr` must start at 0, not decrease and end at len(indices) == "
                         f"len(data); got indptr[-1] = {indptr[-1]}, {indices.size} indices, "
                         f"{data.size} values.")
    if not lo <= hi:
        raise ValueError(f"{func}: the column range [lo, hi) must have lo <= hi, got [{lo}, {hi}).")
    n = indptr.size - 1
    count = np.empty(n, dtype=np.int64)
    _count_inside(indptr, indices, lo, hi, count)
    dptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(count, out=dptr[1:])
    optr = (indptr - dptr).astype(index_dtype)
    d, o = int(dptr[-1]), int(optr[-1])
    dcols, ocols = np.empty(d, dtype=index_dtype), np.empty(o, dtype=index_dtype)
    dvals, ovals = np.empty(d, dtype=data.dtype), np.empty(o, dtype=data.dtype)
    _split_fill(indptr, indices, data, lo, hi, dptr, optr, dcols, dvals, ocols, ovals)
    return (dptr, dcols, dvals), (optr, ocols, ovals)


@numba.njit(parallel=True, cache=True)
def _count_inside(indptr, indices, lo, hi, count):  # pragma: no cover - jitted
    for i in numba.prange(count.shape[0]):
        c = 0
        for p in range(indptr[i], indptr[i + 1]):
            c += lo <= indices[p] < hi
        count[i] = c


@numba.njit(parallel=True, cache=True)
def _split_fill(indptr, indices, data, lo, hi, dptr, optr, dcols, dvals, ocols,
                ovals):  # pragma: no cover - jitted
    for i in numba.prange(dptr.shape[0] - 1):
        a, b = dptr[i], optr[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if lo <= j < hi:
                dcols[a] = j - lo
                dvals[a] = data[p]
                a += 1
            else:
                ocols[b] = j
                ovals[b] = data[p]
                b += 1
