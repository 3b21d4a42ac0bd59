"""PyAMG smoothed aggregation and Ruge-Stuben V-cycles as preconditioners."""

from __future__ import annotations

import time
import warnings

import scipy.sparse as sp

from .._validation import as_csr, check_symmetric, positive_diagonal
from ._base import Preconditioner, timed

KINDS = ("sa", "rs")


def amg(A, kind="sa", cycle="V", **kwargs):
    """One PyAMG multigrid cycle as ``M`` (symmetric smoothing: SPD for SPD ``A``).

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite.
    kind : {'sa', 'rs'}
        ``smoothed_aggregation_solver`` or ``ruge_stuben_solver``.
    cycle : str
        PyAMG cycle type.
    **kwargs
        Passed to the PyAMG solver constructor.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((64, 64))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.amg(p.A), rtol=1e-8)
    >>> info
    0
    """
    import pyamg

    func = "learnsolve.precond.amg"
    from ._device import NoDevicePath, device_kind

    if device_kind(A) is not None:
        raise NoDevicePath(f"{func}: PyAMG builds and applies its hierarchy on the host only; pass a "
                         "SciPy matrix (learnsolve.ops.to_device(A, 'scipy')), or use gmg / "
                         "vcycle-2d/3d for a multilevel preconditioner on the device.")
    if kind not in KINDS:
        raise ValueError(f"{func}: unknown `kind`={kind!r}; use one of {KINDS}.")
    with timed() as t:
        A = as_csr(A, func)
        check_symmetric(A, func)
        positive_diagonal(A, func)
        build = pyamg.smoothed_aggregation_solver if kind == "sa" else pyamg.ruge_stuben_solver
        ml = build(sp.csr_matrix(A), **kwargs)
        M = ml.aspreconditioner(cycle=cycle)
    info = {"levels": len(ml.levels), "operator_complexity": float(ml.operator_complexity())}
    return Preconditioner(M.matvec, A.shape, A.dtype, name=f"amg-{kind}",
                          setup_time=t[0], info=info)


def sa_fallback(A, why, func, t0):
    """Warn that ``func``'s cycle is unusable (``why``) and return PyAMG SA for ``A`` instead, with
    ``info["fallback"]`` and its set-up time counted from ``t0`` (the multigrid cycles' last
    resort)."""
    warnings.warn(f"{func}: {why}; falling back to PyAMG smoothed aggregation.", RuntimeWarning,
                  stacklevel=4)
    P = amg(A, "sa")
    P.info["fallback"] = why
    P.setup_time = time.perf_counter() - t0
    return P
