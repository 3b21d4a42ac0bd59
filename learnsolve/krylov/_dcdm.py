"""Deep Conjugate Direction Method iteration (Kaneda et al., 2023)."""

from __future__ import annotations

from ._flexible import flexible_solve

FUNC = "learnsolve.krylov.dcdm"


def dcdm(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
         residuals=None, k=2):
    """Deep Conjugate Direction iteration with SciPy's signature.

    The search direction is ``M(r / ‖r‖)`` — typically a network approximating
    the action of ``A⁻¹`` on a normalized residual — A-orthogonalized against
    the last ``k`` directions, followed by an exact line search.  Stopping
    rule, ``info`` and ``residuals`` as in :func:`learnsolve.krylov.cg`.

    Parameters
    ----------
    M : callable or LinearOperator
        Direction map; ``None`` uses the residual itself.
    k : int
        Number of previous directions to orthogonalize against.

    Examples
    --------
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> M = learnsolve.precond.ic0(p.A)
    >>> x, info = learnsolve.krylov.dcdm(p.A, p.b, rtol=1e-8, M=M, k=2)
    >>> info
    0
    """
    return flexible_solve(FUNC, A, b, x0, rtol, atol, maxiter, M, callback, residuals,
                          m=k, variant="orth", normalize=True)
