"""Flexible conjugate gradients for nonlinear or varying preconditioners."""

from __future__ import annotations

from ._flexible import flexible_solve

FUNC = "learnsolve.krylov.fcg"


def fcg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
        residuals=None, m=1, variant="orth"):
    """Flexible CG (Notay's FCG(m), or Polak–Ribière) with SciPy's signature.

    Valid when ``M`` is nonlinear or changes between calls (a neural network, an
    inner iterative solve): each new direction is explicitly A-orthogonalized
    against the last ``m`` (``variant='orth'``), or combined with the previous
    one by the Polak–Ribière β (``variant='pr'``); step lengths come from an
    exact line search.  With a fixed SPD ``M`` it matches CG in exact
    arithmetic.  Stopping rule, ``info`` and ``residuals`` as in
    :func:`learnsolve.krylov.cg`.

    Parameters
    ----------
    m : int
        Number of previous directions kept for orthogonalization.
    variant : {'orth', 'pr'}
        Orthogonalization or Polak–Ribière update.

    Examples
    --------
    >>> import numpy as np, learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> jittery = lambda r: r * (1.0 + 0.1 * np.cos(np.arange(r.size)))  # SPD but non-CG-friendly
    >>> x, info = learnsolve.krylov.fcg(p.A, p.b, rtol=1e-8, M=jittery, m=2)
    >>> info
    0
    """
    return flexible_solve(FUNC, A, b, x0, rtol, atol, maxiter, M, callback, residuals,
                          m=m, variant=variant, normalize=False)
