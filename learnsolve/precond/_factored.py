"""Triangular-factor preconditioners ``M = L Lᵀ``: IC(0), IC(k), relaxed MIC(0), SSOR."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr, check_symmetric, positive_diagonal
from ..ops import SHIFTS, FactorizationBreakdown, TriangularSolver, ichol0_shifted, with_fill
from ._base import Preconditioner, timed
from ._device import accepts_device


def factored(L, *, name, setup_time=0.0, info=None):
    """:class:`Preconditioner` applying ``(L Lᵀ)⁻¹`` for a sparse lower ``L``.

    Two compiled triangular solves per apply (see :class:`learnsolve.ops.TriangularSolver`).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.precond import factored
    >>> L = sp.csr_array(np.array([[2.0, 0], [1, 3]]))
    >>> z = factored(L, name="demo") @ np.array([1.0, 1.0])
    >>> bool(np.allclose((L @ L.T) @ z, [1, 1]))
    True
    """
    L = sp.csr_array(L)
    lower = TriangularSolver(L, lower=True)
    upper = TriangularSolver(sp.csr_array(L.T), lower=False)

    def apply(r):
        return upper.solve(lower.solve(r))

    info = dict(info or {}, nnz_L=int(L.nnz), levels=lower.n_levels)
    P = Preconditioner(apply, L.shape, L.dtype, name=name, setup_time=setup_time, info=info)
    P.recipe = ("llt", L)
    return P


def _spd_input(A, func):
    A = as_csr(A, func)
    check_symmetric(A, func)
    positive_diagonal(A, func)
    return A


def _incomplete_cholesky(A, omega, func, name, pattern="A"):
    with timed() as t:
        A = _spd_input(A, func)
        try:
            L, shift = ichol0_shifted(with_fill(A, pattern), omega=omega)
        except FactorizationBreakdown as err:
            raise ValueError(
                f"{func}: incomplete factorization broke down even with a diagonal shift of "
                f"{SHIFTS[-1]}·diag(A) ({err}); `A` is probably not positive definite."
            ) from err
        if shift:
            warnings.warn(
                f"{func}: factorization broke down; used A + {shift:g}·diag(A) instead "
                "(a weaker but valid SPD preconditioner).",
                RuntimeWarning,
                stacklevel=3,
            )
        P = factored(L, name=name, info={"shift": shift, "omega": omega})
    P.setup_time = t[0]
    return P


@accepts_device("llt")
def ic0(A):
    """Incomplete Cholesky IC(0) on A's lower pattern: ``M = L Lᵀ``.

    On breakdown (non-positive pivot) the factorization is retried on
    ``A + s·diag(A)`` for growing ``s`` with a warning; ``info['shift']`` says which.

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.diffusion(64, contrast=1e4, seed=0)
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.ic0(p.A), rtol=1e-8)
    >>> info
    0
    """
    return _incomplete_cholesky(A, 0.0, "learnsolve.precond.ic0", "ic0")


@accepts_device("llt")
def ick(A, level=1):
    """Incomplete Cholesky with level-of-fill ``level``, IC(k): ``M = L Lᵀ`` on the pattern
    of :func:`learnsolve.ops.with_fill` ``(A, f'ic{level}')``.

    On a 5-point grid matrix IC(1) adds one diagonal to ``L`` (4 entries per row
    instead of 3) and IC(2) two more; on ConDiff diffusion they take about 0.5×
    and 0.4× IC(0)'s CG iterations.  Breakdown handling as in :func:`ic0`.

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.
    level : {1, 2, 3}

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.diffusion(64, contrast=1e4, seed=0)
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.ick(p.A, 2), rtol=1e-8)
    >>> info
    0
    """
    if level not in (1, 2, 3):
        raise ValueError(f"learnsolve.precond.ick: `level` must be 1, 2 or 3, got {level!r} "
                         "(level 0 is ic0).")
    return _incomplete_cholesky(A, 0.0, "learnsolve.precond.ick", f"ic{level}", pattern=f"ic{level}")


@accepts_device("llt")
def mic0(A, omega=0.97):
    """Relaxed modified incomplete Cholesky MIC(0): dropped fill × ``omega`` goes to the diagonal.

    ``omega = 0`` is IC(0); ``omega = 1`` preserves row sums (``L Lᵀ e = A e``).
    Values just below 1 usually give far fewer CG iterations than IC(0) on
    diffusion problems (see docs/learned-factors.md).

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.
    omega : float
        Relaxation in ``[0, 1]``.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((64, 64))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.mic0(p.A), rtol=1e-8)
    >>> info
    0
    """
    if not 0.0 <= float(omega) <= 1.0:
        raise ValueError(
            f"learnsolve.precond.mic0: `omega` must be in [0, 1], got {omega!r}; 0.95-0.99 is typical."
        )
    return _incomplete_cholesky(A, float(omega), "learnsolve.precond.mic0", "mic0")


@accepts_device("llt")
def ssor(A, omega=1.0):
    """Symmetric SOR preconditioner ``M = ω/(2-ω) (D/ω + L) (D/ω)⁻¹ (D/ω + L)ᵀ``.

    Applied as ``(F Fᵀ)⁻¹`` with ``F = sqrt(ω/(2-ω)) (D/ω + L) (D/ω)^{-1/2}``.

    Parameters
    ----------
    A : sparse matrix
        Symmetric with a positive diagonal.
    omega : float
        Relaxation in ``(0, 2)``; 1 is symmetric Gauss-Seidel.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.ssor(p.A, 1.5), rtol=1e-8)
    >>> info
    0
    """
    func = "learnsolve.precond.ssor"
    if not 0.0 < float(omega) < 2.0:
        raise ValueError(f"{func}: `omega` must be in (0, 2), got {omega!r}.")
    with timed() as t:
        A = _spd_input(A, func)
        d = A.diagonal()
        E = sp.csr_array(sp.tril(A, k=-1, format="csr") + sp.diags_array(d / omega, format="csr"))
        scale = np.sqrt(omega / (2.0 - omega)) * np.sqrt(omega / d)
        E = sp.csr_array(E @ sp.diags_array(scale.astype(A.dtype), format="csr"))
        P = factored(E, name="ssor", info={"omega": omega})
    P.setup_time = t[0]
    return P
