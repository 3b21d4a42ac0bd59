"""Argument handling and array-namespace helpers shared by cg, fcg and dcdm.

The solvers are written against the array namespace of ``b`` (NumPy, CuPy or
torch, through ``array_api_compat``); NumPy inputs get the compiled SpMV and
single-threaded BLAS inside the loop (multi-threaded BLAS on tiny vector ops
costs milliseconds per call on a loaded 2-core machine).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.sparse as sp
from array_api_compat import array_namespace, is_numpy_namespace

from .. import _backend
from .._backend import blas_single_thread
from .._validation import check_structure, check_torch_sparse


def check_tolerances(func, rtol, atol):
    """Validate ``rtol``/``atol`` with SciPy's wording."""
    for name, val in (("rtol", rtol), ("atol", atol)):
        try:
            ok = float(val) >= 0  # NaN fails; inf is allowed, as in SciPy
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"'{func}' called with invalid `{name}`={val!r}; "
                f"if set, `{name}` must be a real, non-negative number."
            )


class System:
    """A prepared ``A x = b``: namespace, matvec, preconditioner, start vector, tolerance."""

    def __init__(self, func, A, b, x0, rtol, atol, maxiter, M):
        check_tolerances(func, rtol, atol)
        if not hasattr(A, "shape") or len(A.shape) != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(
                f"'{func}': `A` must be a square matrix or LinearOperator, got shape "
                f"{getattr(A, 'shape', None)}."
            )
        n = int(A.shape[0])
        xp = array_namespace(b)
        self.xp = xp
        self.is_numpy = is_numpy_namespace(xp)
        if tuple(b.shape) not in ((n,), (n, 1)):
            raise ValueError(
                f"'{func}': `b` has shape {tuple(b.shape)} but `A` has shape {tuple(A.shape)}; "
                f"pass a right-hand side of length {n}."
            )
        a_dtype = getattr(A, "dtype", None)
        if self.is_numpy:
            dtype = np.result_type(b.dtype, a_dtype if a_dtype is not None else b.dtype)
            if dtype.kind not in "fc":  # integers, booleans: float64; complex stays complex
                dtype = np.dtype(np.float64)
            b = np.asarray(b, dtype=dtype).reshape(-1)
            if not np.all(np.isfinite(b)):
                raise ValueError(f"'{func}': `b` contains NaN or Inf; pass a finite right-hand side.")
        else:
            b = xp.reshape(b, (-1,))
            dtype = b.dtype
            if a_dtype is not None and type(A).__module__.split(".")[0] == type(b).__module__.split(".")[0]:
                dtype = xp.result_type(b.dtype, a_dtype)  # a complex A makes the solve complex
                b = xp.astype(b, dtype)
        self.dtype = dtype
        self.complex = xp.isdtype(dtype, "complex floating")
        self.n = n
        self.b = b
        self.matvec = self._make_matvec(func, A, dtype)
        self.psolve = vector_preconditioner(M, tuple(A.shape), func)
        if x0 is None:
            x = xp.zeros_like(b)
        elif isinstance(x0, str):
            if x0 != "Mb":
                raise ValueError(f"'{func}': `x0` must be an array or 'Mb' (start from M b), got "
                                 f"{x0!r}.")
            x = self.precondition(b)
        else:
            if tuple(x0.shape) not in ((n,), (n, 1)):
                raise ValueError(f"'{func}': `x0` has shape {tuple(x0.shape)}; expected ({n},).")
            x = (np.array(x0, dtype=dtype).reshape(-1) if self.is_numpy
                 else xp.reshape(xp.asarray(x0, copy=True), (-1,)))
        self.x = x
        self.bnrm2 = float(self.norm(b))
        self.atol = max(float(atol), float(rtol) * self.bnrm2)
        self.maxiter = 10 * n if maxiter is None else int(maxiter)
        if self.maxiter < 0:
            raise ValueError(f"'{func}': `maxiter` must be non-negative, got {maxiter!r}.")

    @staticmethod
    def _make_matvec(func, A, dtype):
        if sp.issparse(A):
            check_structure(A, f"'{func}'")
            A = sp.csr_array(A)
            if not np.all(np.isfinite(A.data)):
                raise ValueError(f"'{func}': `A` contains NaN or Inf entries.")
            if A.dtype != dtype:
                A = A.astype(dtype)
            if _backend.compiled() is not None and np.dtype(dtype).kind == "f":
                from ..ops import CSRMatrix

                return CSRMatrix(A, func=func).matvec
            return lambda x: A @ x
        if type(A).__module__.startswith("torch") and "sparse" in str(A.layout):
            check_torch_sparse(A, f"'{func}'")
        if hasattr(A, "matvec"):
            return A.matvec
        return lambda x: A @ x

    def norm(self, v):
        if self.is_numpy:
            return np.linalg.norm(v)
        return self.xp.linalg.vector_norm(v)

    def dot(self, u, v):
        """``uᴴ v`` (the first argument conjugated, as SciPy's solvers do for complex systems)."""
        if self.is_numpy:
            return np.vdot(u, v)
        return self.xp.vecdot(u, v)

    def real(self, v):
        """The real part of a scalar (0-d array or tensor) as a Python float."""
        return float(self.xp.real(v)) if self.complex else float(v)

    def precondition(self, r):
        if self.psolve is None:
            return self.xp.asarray(r, copy=True)
        z = self.psolve(r)
        if self.is_numpy:
            return np.asarray(z, dtype=self.dtype).reshape(-1)
        return self.xp.reshape(z, (-1,))

    def converged(self, r, rnorm):
        """SciPy's test on the recursive residual, confirmed on the true residual.

        Returns ``(done, r)``: when the recursive residual passes but the true
        one does not (rounding drift), the true residual replaces ``r``.
        """
        if not (rnorm < self.atol or rnorm == 0.0):
            return False, r
        r_true = self.b - self.matvec(self.x)
        true_norm = float(self.norm(r_true))
        if true_norm < self.atol or true_norm == 0.0:
            return True, r
        return False, r_true

    def initial_residual(self):
        """``b - A x0`` (a copy of ``b`` when ``x0`` is zero)."""
        xp = self.xp
        if bool(xp.any(self.x != 0)):
            return self.b - self.matvec(self.x)
        return xp.asarray(self.b, copy=True)

    def check(self, r, residuals):
        """Record ``‖r‖`` and run :meth:`converged`; returns ``(done, r, ‖r‖)``."""
        rnorm = float(self.norm(r))
        if residuals is not None:
            residuals.append(rnorm)
        done, r = self.converged(r, rnorm)
        return done, r, rnorm

    def finish(self, r, residuals):
        """``(x, info)`` after the last iteration: 0 if converged, else ``maxiter``."""
        done, _, _ = self.check(r, residuals)
        return self.x, (0 if done else self.maxiter)

    def loop_context(self):
        return blas_single_thread() if self.is_numpy else contextlib.nullcontext()


def cg_direction(xp, p, z, rho_cur, rho_prev):
    """CG's next search direction ``z + (ρ/ρ_prev) p`` (in place), or a copy of ``z`` at the start
    (``p`` is ``None``): one update for :func:`~learnsolve.krylov.cg` and
    :func:`~learnsolve.krylov.rcg`, so that an empty recycle space gives CG's iterates."""
    if p is None:
        return xp.asarray(z, copy=True)
    p *= rho_cur / rho_prev
    p += z
    return p


def warn_nonlinear(func, M):
    """Warn when a preconditioner declared nonlinear is handed to plain CG."""
    if M is not None and getattr(M, "is_linear", True) is False:
        warnings.warn(
            f"'{func}': the preconditioner {getattr(M, 'name', M)!r} is declared nonlinear "
            "(is_linear=False); CG's short recurrence assumes a fixed SPD M. Use "
            "learnsolve.krylov.fcg or learnsolve.krylov.dcdm instead.",
            RuntimeWarning,
            stacklevel=3,
        )


def to_host(a):
    """A small CuPy/torch/NumPy array as a NumPy array (per-column scalars, Gram matrices)."""
    if hasattr(a, "get"):  # CuPy
        return a.get()
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    return np.asarray(a)


def vector_preconditioner(M, shape, func):
    """``r ↦ M r`` for one vector (``M.matvec``, a callable, or ``M @ r`` for a matrix, as SciPy's
    ``aslinearoperator`` takes it), or ``None`` for no ``M``; ``shape`` is the system matrix's."""
    if M is None:
        return None
    n = int(shape[0])
    if tuple(getattr(M, "shape", (n, n))) != (n, n):
        raise ValueError(f"'{func}': matrix and preconditioner have different shapes "
                         f"({tuple(shape)} and {tuple(M.shape)}).")
    if hasattr(M, "matvec"):
        return M.matvec
    if callable(M):
        return M
    return lambda r: M @ r
