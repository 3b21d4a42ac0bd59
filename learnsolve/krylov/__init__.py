"""Krylov solvers with SciPy's signature: ``f(A, b, x0=None, *, rtol, atol, maxiter, M,
callback) -> (x, info)``, plus an optional ``residuals`` list."""

from ._cg import cg
from ._dcdm import dcdm
from ._fcg import fcg

__all__ = ["cg", "dcdm", "fcg"]
