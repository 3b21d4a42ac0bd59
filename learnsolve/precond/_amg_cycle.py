"""The algebraic V-cycle as a preconditioner: any SPD matrix, classical or learned smoothers.

Set-up: validation, the smoothed-aggregation levels of
:func:`learnsolve.multigrid.aggregation_hierarchy` (PyAMG's coarsening, the
Galerkin products here, a sparse LU on the coarsest level), a sparse smoother
``K`` on every level's pattern — the classical local-Chebyshev one
(:func:`amg_chebyshev`) or the one a network predicts
(:class:`LearnedAMG`) — and a check that the cycle contracts.  The apply is
sparse products only: one with ``K`` per smoothing sweep, ``A``, ``R``, ``P``
per level (compiled when ``learnsolve._C`` is there), so the same cycle runs on
a device after a host set-up.  ``K`` is symmetric and serves as pre- and
post-smoother, so the cycle is linear and symmetric: plain CG accepts it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import as_csr, check_symmetric, positive_diagonal
from ..multigrid import (
    MAX_COARSE,
    STRENGTH,
    Hierarchy,
    Level,
    SparseLU,
    aggregation_hierarchy,
    classical_hierarchy,
    contraction,
)
from ..ops import galerkin
from ._amg import sa_fallback
from ._amg_smoother import smoother as level_smoother
from ._base import Preconditioner
from ._device import accepts_device

#: ``ρ(I − M A)`` estimates at or above this fail the check (as for the grid cycles).
RHO_FAIL = 0.995
#: The coarsenings: smoothed aggregation (strength ``theta`` default ``STRENGTH``) or classical
#: Ruge–Stüben (strength 0.25), both PyAMG's.
COARSENINGS = ("sa", "rs")


def _compiled(H):
    """The hierarchy with its sparse matrices as :class:`learnsolve.ops.CSRMatrix` (compiled
    products when ``learnsolve._C`` is there) and its smoothers kept."""
    from ..ops import CSRMatrix

    levels = []
    for lvl in H.levels:
        new = Level(CSRMatrix(lvl.A), coarse_solver=lvl.coarse_solver)
        if lvl.P is not None:
            new.P, new.R = CSRMatrix(lvl.P), CSRMatrix(lvl.R)
        levels.append(new)
    return Hierarchy(levels)


def amg_hierarchy(A, smoother, *, coarsening="sa", theta=None, max_coarse=MAX_COARSE, sweeps=1,
                  func):
    """``(host hierarchy, SciPy hierarchy, smoothers)`` of validated CSR ``A``: the levels, the
    smoother ``smoother(A_l)`` of every level but the coarsest, set on a compiled copy."""
    if coarsening == "sa":
        H = aggregation_hierarchy(A, theta=STRENGTH if theta is None else theta,
                                  max_coarse=max_coarse, func=func)
    else:
        H = classical_hierarchy(A, theta=0.25 if theta is None else theta, max_coarse=max_coarse,
                                func=func)
    fast, K = _smoothed(H, smoother, sweeps)
    return fast, H, K


def _smoothed(H, smoother, sweeps):
    """``(compiled copy of H with smoother(A_l) on every level but the coarsest, [K_l])``."""
    from ..ops import CSRMatrix

    K = [smoother(lvl.A) for lvl in H.levels[:-1]]
    Kc = [CSRMatrix(k) for k in K]
    return _compiled(H).with_stencils(Kc, Kc, sweeps=sweeps), K


def _rho(A, H):
    from ..ops import CSRMatrix

    e = np.random.default_rng(0).standard_normal(A.shape[0])
    return contraction(CSRMatrix(A).matvec, H.apply, e)


def _warn_if_row_sums_vanish(A, func):
    """Warn when every row of ``A`` sums to zero: ``A 1 = 0``, a singular matrix (pure Neumann, an
    ungrounded graph Laplacian) that no SPD preconditioner makes solvable for every ``b``."""
    if A.shape[0] > 1 and np.abs(A @ np.ones(A.shape[0])).max() <= 1e-10 * A.diagonal().max():
        warnings.warn(f"{func}: the rows of `A` sum to zero, so `A` is singular (constants are in "
                      "its null space: a pure-Neumann problem or an ungrounded graph Laplacian); "
                      "CG converges only if `b` sums to zero — pin one value or add a Dirichlet "
                      "condition.", RuntimeWarning, stacklevel=4)


@accepts_device("hierarchy")
def amg_cycle(A, smoother=None, *, coarsening="sa", theta=None, max_coarse=MAX_COARSE, sweeps=1,
              check=True, name="amg-chebyshev", func="learnsolve.precond.amg_chebyshev", info=None):
    """The algebraic V-cycle of SPD ``A`` with smoother ``smoother(A_l) -> K_l`` as ``M``.

    ``smoother`` defaults to the local-Chebyshev one (:func:`chebyshev_smoother`);
    ``coarsening`` is one
    of :data:`COARSENINGS` (``theta``: its strength threshold, ``None`` for its
    default).  With ``check`` the
    set-up estimates ``ρ(I − M A)`` (4 power steps in the ``A``-norm); at
    ``RHO_FAIL`` or above it warns and falls back: a learned smoother to the
    local-Chebyshev one on the same levels, that one to PyAMG smoothed
    aggregation (``info["fallback"]`` says why).  A matrix whose rows all sum
    to zero (singular: pure Neumann) gets a warning; CG then stops with
    ``info != 0`` unless ``b`` sums to zero.

    The preconditioner's ``refresh(A_new)`` is the numeric part of the set-up
    again for a changed matrix of the same size: the same ``P_l`` and ``R_l``
    (no new coarsening), new Galerkin products, coarsest LU and smoothers, and
    the same check; it returns ``None`` when the refreshed cycle fails the
    check (then build anew).  :class:`learnsolve.Sequence` uses it before a
    full rebuild.
    """
    t0 = time.perf_counter()
    if coarsening not in COARSENINGS:
        raise ValueError(f"{func}: unknown `coarsening`={coarsening!r}; use one of {COARSENINGS}.")
    A = _validated(A, func)
    _warn_if_row_sums_vanish(A, func)
    learned = smoother is not None
    fast, H, K = amg_hierarchy(A, smoother or level_smoother, coarsening=coarsening,
                               theta=theta, max_coarse=max_coarse, sweeps=sweeps, func=func)
    info = dict(info or {}, levels=len(H), coarsening=coarsening, sweeps=sweeps,
                operator_complexity=round(H.operator_complexity, 3),
                sizes=[int(lvl.A.shape[0]) for lvl in H.levels])
    if check and len(H) > 1:
        rho = _rho(A, fast)
        if not rho < RHO_FAIL and learned:
            why = (f"the learned smoothers do not give a convergent SPD cycle for this matrix "
                   f"(estimated ρ(I − M A) = {rho:.3g})")
            warnings.warn(f"{func}: {why}; falling back to the local-Chebyshev smoother on the same "
                          "levels.", RuntimeWarning, stacklevel=3)
            fast, K = _smoothed(H, level_smoother, sweeps)
            info["fallback"] = why
            name = "amg-chebyshev"
            rho = _rho(A, fast)
        if not rho < RHO_FAIL:
            why = (f"the algebraic V-cycle is not a convergent SPD preconditioner for this matrix "
                   f"(estimated ρ(I − M A) = {rho:.3g})")
            return sa_fallback(A, why, func, t0)
        info["rho"] = round(float(rho), 4)
    smoother = smoother if learned and "fallback" not in info else level_smoother
    return _preconditioner(fast, H, K, (smoother, sweeps, check, name, func, info), t0)


def _validated(A, func):
    A = as_csr(A, func)
    check_symmetric(A, func)
    positive_diagonal(A, func)
    return A.astype(np.float64) if A.dtype != np.float64 else A


def _preconditioner(fast, H, K, how, t0):
    """The :class:`Preconditioner` applying cycle ``fast`` (levels ``H``, smoothers ``K``), with
    ``refresh``; ``how`` is ``(smoother, sweeps, check, name, func, info)``."""
    _, sweeps, _, name, _, info = how
    A = H.levels[0].A
    P = Preconditioner(fast.apply, A.shape, np.float64, name=name, info=info)
    P.accepts_blocks = True  # sparse products and a sparse LU: blocks of vectors go through
    P.hierarchy = H
    P.recipe = ("hierarchy", H, K, sweeps)
    P.refresh = lambda A_new: _refresh(A_new, H, how)
    P.setup_time = time.perf_counter() - t0
    return P


def _refresh(A, H, how):
    """The cycle of ``H``'s transfers with ``A``'s numbers (see :func:`amg_cycle`), or ``None``."""
    smoother, sweeps, check, name, func, info = how
    t0 = time.perf_counter()
    A = _validated(A, f"{func} (refresh)")
    if A.shape != H.levels[0].A.shape:
        raise ValueError(f"{func} (refresh): `A` is {A.shape[0]}×{A.shape[1]} but the cycle was "
                         f"built for {H.levels[0].A.shape[0]} unknowns; build a new preconditioner.")
    levels, Al = [], A
    for lvl in H.levels[:-1]:  # the same P_l and R_l; new Galerkin products R_l A_l P_l
        levels.append(Level(Al, P=lvl.P, R=lvl.R))
        Al = galerkin(Al, lvl.P, lvl.R)
    levels.append(Level(Al, coarse_solver=SparseLU(Al, func)))
    H = Hierarchy(levels)
    fast, K = _smoothed(H, smoother, sweeps)
    info = dict(info, setup="refresh")
    if check and len(H) > 1:
        rho = _rho(A, fast)
        if not rho < RHO_FAIL:
            return None
        info["rho"] = round(float(rho), 4)
    return _preconditioner(fast, H, K, how[:5] + (info,), t0)


def amg_chebyshev(A, *, coarsening="sa", theta=None, max_coarse=MAX_COARSE, sweeps=1, check=True):
    """Algebraic V-cycle with local-Chebyshev smoothing (classical, one ``K`` product per sweep)
    as ``M``.

    The levels are :func:`learnsolve.multigrid.aggregation_hierarchy`'s (PyAMG's
    aggregation with strength threshold ``theta``, default ``0.02``; for
    ``coarsening="rs"`` :func:`learnsolve.multigrid.classical_hierarchy`'s,
    which suits strong anisotropy); every level's smoother is
    :func:`chebyshev_smoother` (``K = D^-1/2 p(Ã) D^-1/2``, no eigenvalue
    estimate).  The baseline of the learned smoothers (:class:`LearnedAMG`).
    A matrix with at most ``max_coarse`` rows is solved directly.  Takes a
    cupyx or torch CSR matrix too (set-up on the host, cycle on the device).

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.fem_diffusion(64, contrast=1e4)
    >>> M = learnsolve.precond.amg_chebyshev(p.A)
    >>> M.info["levels"], M.is_spd
    (3, True)
    >>> x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    >>> info
    0
    """
    return amg_cycle(A, None, coarsening=coarsening, theta=theta, max_coarse=max_coarse,
                     sweeps=sweeps, check=check, name=f"amg-chebyshev{':rs' if coarsening == 'rs' else ''}")


__all__ = ["COARSENINGS", "RHO_FAIL", "amg_chebyshev", "amg_cycle", "amg_hierarchy"]
