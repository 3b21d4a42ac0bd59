"""Identity and Jacobi (diagonal) preconditioners."""

from __future__ import annotations

import numpy as np

from .._validation import as_csr, positive_diagonal
from ._base import Preconditioner, timed
from ._device import accepts_device


@accepts_device("identity")
def identity(A):
    """The identity map as a :class:`Preconditioner` (no preconditioning).

    Parameters
    ----------
    A : sparse matrix, array or int
        The system matrix (only its shape and dtype are used) or ``n``.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.precond import identity
    >>> identity(3) @ np.array([1.0, 2.0, 3.0])
    array([1., 2., 3.])
    """
    if isinstance(A, (int, np.integer)):
        n, dtype = int(A), np.float64
    else:
        n, dtype = A.shape[0], (A.dtype if A.dtype in (np.float32, np.float64) else np.float64)
    P = Preconditioner(lambda r: r.copy(), (n, n), dtype, name="identity")
    P.recipe = ("identity",)
    return P


@accepts_device("diag")
def jacobi(A):
    """Jacobi preconditioner ``M⁻¹ = diag(A)⁻¹``.

    Parameters
    ----------
    A : sparse matrix
        Square with a positive diagonal.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.jacobi(p.A), rtol=1e-8)
    >>> info
    0
    """
    func = "learnsolve.precond.jacobi"
    with timed() as t:
        A = as_csr(A, func)
        inv_d = (1.0 / positive_diagonal(A, func)).astype(A.dtype)
    P = Preconditioner(lambda r: r * inv_d, A.shape, A.dtype, name="jacobi", setup_time=t[0])
    P.recipe = ("diag", inv_d)
    return P
