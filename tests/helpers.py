"""What the tests share: the repository and shared matrices' folders, an exact inverse, the
iteration-count helper."""

import os
import warnings

import numpy as np
import scipy.sparse as sp

import learnsolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "matrices"))


def exact_inverse(A):
    """M = A^{-1} as a LinearOperator (sparse LU)."""
    lu = sp.linalg.splu(sp.csc_matrix(A))
    return sp.linalg.LinearOperator(A.shape, matvec=lu.solve, dtype=np.float64)


def iterations(A, b, M, *, rtol=1e-6, solver="cg", maxiter=None, converged=True, quiet=False,
               **kw):
    """Iterations ``solver`` (``"cg"``, ``"fcg"``, ``"dcdm"``: :mod:`learnsolve.krylov`) takes with
    ``M`` on ``A x = b``; returns ``(its, info, x)``.

    With ``converged`` (default) it asserts ``info == 0`` and the true relative residual
    below ``rtol``; ``quiet`` silences the warnings the solver may issue (cg on a nonlinear
    ``M``).  ``A`` and ``b`` may be device arrays (the residual is then checked on the host).
    """
    solve = getattr(learnsolve.krylov, solver)
    res = []
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        x, info = solve(A, b, rtol=rtol, M=M, residuals=res, maxiter=maxiter, **kw)
    if converged:
        assert info == 0, f"{solver} did not converge (info={info}, {len(res) - 1} iterations)"
        Ah, bh, xh = (learnsolve.ops.to_device(A, "scipy") if not sp.issparse(A) else A,
                      _host(b), _host(x))
        assert learnsolve.relative_residual(Ah, xh, bh) <= rtol
    return len(res) - 1, info, x


def _host(v):
    if isinstance(v, np.ndarray):
        return v
    return v.get() if hasattr(v, "get") else v.detach().cpu().numpy()
