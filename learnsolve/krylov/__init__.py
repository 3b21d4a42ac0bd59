"""Krylov solvers with SciPy's signature: ``f(A, b, x0=None, *, rtol, atol, maxiter, M,
callback) -> (x, info)``, plus an optional ``residuals`` list."""

from ._batch import batch_cg
from ._cg import cg
from ._dcdm import dcdm
from ._fcg import fcg
from ._guess import SolutionSpace
from ._rcg import RecycleSpace, rcg

__all__ = ["RecycleSpace", "SolutionSpace", "batch_cg", "cg", "dcdm", "fcg", "rcg"]
