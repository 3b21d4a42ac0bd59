"""Incomplete Cholesky factors IC(0) and relaxed MIC(0) on A's lower pattern."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _backend
from .._validation import as_csr


class FactorizationBreakdown(ValueError):
    """A non-positive pivot appeared; ``row`` says where."""

    def __init__(self, func, row):
        super().__init__(
            f"{func}: non-positive pivot at row {row}; the incomplete factorization broke "
            "down (shift the diagonal or use another preconditioner)."
        )
        self.row = row


def ichol0(A, omega=0.0, tol=1e-12):
    """Incomplete Cholesky ``L`` (CSR, lower, positive diagonal) with ``A ≈ L Lᵀ``.

    Computed as IKJ ILU(0) on A's symmetric pattern (compiled kernel when
    available): ``A ≈ L₁ D L₁ᵀ`` with unit ``L₁``, so ``L = L₁ D^{1/2}``.  With
    ``omega > 0`` the dropped fill times ``omega`` is moved to the diagonal
    (relaxed MIC(0); ``omega = 1`` keeps ``A e = L Lᵀ e``).

    Parameters
    ----------
    A : csr_array
        Canonical CSR (sorted indices), symmetric, diagonal stored.
    omega : float
        Relaxation of the modified factorization, 0 for plain IC(0).
    tol : float
        A pivot below ``tol * |a_ii|`` is a breakdown.

    Raises
    ------
    FactorizationBreakdown
        On a non-positive pivot.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import ichol0
    >>> A = sp.csr_array(sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(5, 5)))
    >>> L = ichol0(A)          # tridiagonal: IC(0) is the exact Cholesky factor
    >>> bool(np.allclose((L @ L.T).toarray(), A.toarray()))
    True
    """
    func = "learnsolve.ops.ichol0"
    A = as_csr(A, "learnsolve.ops.ichol0")
    work = A.data.astype(np.float64, copy=True)
    indptr, indices = A.indptr, A.indices
    C = _backend.compiled()
    if C is not None:
        status, row = C.ilu0(indptr, indices, work, float(omega), float(tol))
    else:
        from . import _numba

        status, row = _numba.ilu0(indptr.astype(np.int64), indices.astype(np.int64), work,
                                  float(omega), float(tol))
    if status == 4:
        raise FactorizationBreakdown(func, row)
    if status:
        what = {1: "malformed CSR `indptr`", 2: "CSR column index out of bounds",
                3: "no diagonal entry; store the diagonal explicitly"}.get(status, "bad input")
        raise ValueError(f"{func}: row {row}: {what}; pass a canonical CSR matrix.")
    F = sp.csr_array((work, indices, indptr), shape=A.shape)
    d = F.diagonal()
    sqrt_d = np.sqrt(d)
    L = sp.csr_array(sp.tril(F, k=-1, format="csr"))
    L.data *= sqrt_d[L.indices]  # L[i, k] = l_ik * sqrt(d_k)
    L = sp.csr_array(L + sp.diags_array(sqrt_d, format="csr"))
    L.sort_indices()
    return L.astype(A.dtype)


# Diagonal shifts tried, in units of diag(A), when IC(0)/MIC(0) breaks down.
SHIFTS = (0.0, 1e-3, 1e-2, 1e-1, 1.0)


def ichol0_shifted(A, omega=0.0, shifts=SHIFTS):
    """:func:`ichol0` of ``A + s·diag(A)`` for the first ``s`` in ``shifts`` that does not break down.

    Returns
    -------
    L : csr_array
    shift : float
        The shift used (0 when plain ``A`` factored).

    Raises
    ------
    FactorizationBreakdown
        When every shift broke down.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> K = [[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]]  # Kershaw: SPD,
    >>> L, shift = ichol0_shifted(sp.csr_array(np.array(K)))               # but IC(0) breaks down
    >>> shift
    1.0
    """
    A = as_csr(A, "learnsolve.ops.ichol0_shifted")
    d = A.diagonal()
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    on_diag = A.indices == rows
    for shift in shifts:
        As = A
        if shift:  # add to the stored diagonal in place of a copy: keeps explicit zeros (fill)
            As = A.copy()
            As.data[on_diag] += shift * d[rows[on_diag]]
        try:
            return ichol0(As, omega=omega), shift
        except FactorizationBreakdown as exc:
            err = exc
    raise err
