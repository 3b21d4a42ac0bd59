"""PyAMG smoothed aggregation and Ruge-Stuben V-cycles as preconditioners."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr, check_symmetric, positive_diagonal
from ._base import Preconditioner, timed

KINDS = ("sa", "rs")


def amg(A, kind="sa", cycle="V", **kwargs):
    """One PyAMG multigrid cycle as ``M`` (symmetric smoothing: SPD for SPD ``A``).

    On a cupyx or torch CSR matrix PyAMG builds the hierarchy on the host,
    ``A_l``, ``P_l``, ``R_l`` move to the device once, and the V-cycle runs
    there with sparse products only: Gauss–Seidel does not run in parallel,
    so every level but the coarsest is smoothed by the local-Chebyshev
    smoother of :func:`amg_chebyshev` (one symmetric sparse ``K`` per
    level), and the coarsest by its dense inverse.  ``cycle`` must then be
    ``"V"``.

    Parameters
    ----------
    A : sparse matrix, cupyx or torch sparse CSR matrix
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
    from ._device import device_kind

    if kind not in KINDS:
        raise ValueError(f"{func}: unknown `kind`={kind!r}; use one of {KINDS}.")
    if device_kind(A) is not None:
        return _amg_on_device(A, kind, cycle, kwargs, func)
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


def _amg_on_device(A, kind, cycle, kwargs, func):
    """PyAMG's hierarchy of device matrix ``A`` with local-Chebyshev smoothers, cycled on the device."""
    import pyamg

    from ..multigrid import algebraic_hierarchy
    from ..ops import to_device
    from ._amg_smoother import chebyshev_smoother
    from ._device import on_device

    if cycle != "V":
        raise ValueError(f"{func}: on a device matrix the cycle is a V-cycle; got `cycle`={cycle!r}.")
    t0 = time.perf_counter()
    host = as_csr(to_device(A, "scipy"), func)
    check_symmetric(host, func)
    positive_diagonal(host, func)
    build = pyamg.smoothed_aggregation_solver if kind == "sa" else pyamg.ruge_stuben_solver
    ml = build(sp.csr_matrix(host, dtype=np.float64), **kwargs)
    H = algebraic_hierarchy(ml)
    K = [chebyshev_smoother(lvl.A) for lvl in H.levels[:-1]]
    H.with_stencils(K, K)
    info = {"levels": len(ml.levels), "operator_complexity": float(ml.operator_complexity()),
            "smoother": "local Chebyshev"}
    P = Preconditioner(H.apply, host.shape, np.float64, name=f"amg-{kind}", info=info)
    P.recipe = ("hierarchy", H, K, 1)
    P.setup_time = time.perf_counter() - t0
    return on_device(P, A, func=func)


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
