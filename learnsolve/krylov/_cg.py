"""Preconditioned conjugate gradients with SciPy's signature and iterates."""

from __future__ import annotations

from ._common import System, cg_direction, warn_nonlinear

FUNC = "learnsolve.krylov.cg"


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
       residuals=None):
    """Solve ``A x = b`` by preconditioned CG, as ``scipy.sparse.linalg.cg``.

    Same recurrence and stopping rule as SciPy (``‖r‖ < max(atol, rtol‖b‖)``
    on the unpreconditioned residual), so the iterates agree with SciPy's for
    a linear SPD ``M``.  Before reporting success the true residual
    ``b - A x`` is checked; if rounding drift left it above the tolerance the
    iteration continues from it.  NumPy, CuPy and torch arrays are accepted.

    Parameters
    ----------
    A : sparse matrix, array or LinearOperator
        Symmetric (Hermitian, when complex) positive definite system matrix.
    b : array
        Right-hand side, shape ``(n,)`` or ``(n, 1)``.
    x0 : array or 'Mb', optional
        Start vector (not modified); ``'Mb'`` starts from ``M b``, as in SciPy.
    rtol, atol : float
        Tolerances as in SciPy.
    maxiter : int, optional
        Default ``10 n``.
    M : LinearOperator, matrix or callable, optional
        SPD preconditioner approximating ``A⁻¹``.  A preconditioner declared
        nonlinear (``M.is_linear is False``) triggers a warning.
    callback : callable, optional
        ``callback(xk)`` after each iteration.
    residuals : list, optional
        Receives ``‖r_k‖`` (recursive residual) at every convergence check.

    Returns
    -------
    x : array
    info : int
        0 converged; ``> 0`` iterations done without convergence; ``-1``
        breakdown (``pᵀAp ≤ 0`` or non-finite: ``A`` or ``M`` is not SPD).

    Examples
    --------
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=learnsolve.precond.ic0(p.A))
    >>> info, bool(learnsolve.relative_residual(p.A, x, p.b) < 1e-8)
    (0, True)
    """
    warn_nonlinear(FUNC, M)
    s = System(FUNC, A, b, x0, rtol, atol, maxiter, M)
    xp, x = s.xp, s.x
    if s.bnrm2 == 0.0:
        return xp.zeros_like(s.b), 0
    r = s.initial_residual()
    rho_prev, p = None, None
    with s.loop_context():
        for _ in range(s.maxiter):
            done, r, _ = s.check(r, residuals)
            if done:
                return x, 0
            z = s.precondition(r)
            rho_cur = s.dot(r, z)
            p = cg_direction(xp, p, z, rho_cur, rho_prev)
            q = s.matvec(p)
            pq = s.dot(p, q)
            if not (s.real(pq) > 0.0 and float(abs(rho_cur)) < float("inf")):
                return x, -1
            alpha = rho_cur / pq
            x += alpha * p
            r -= alpha * q
            rho_prev = rho_cur
            if callback is not None:
                callback(x)
        return s.finish(r, residuals)
