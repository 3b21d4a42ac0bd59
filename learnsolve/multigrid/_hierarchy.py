"""One multilevel structure for every method: a :class:`Hierarchy` of :class:`Level` s, one cycle.

As in PyAMG's ``MultilevelSolver``, each level holds its operator ``A``,
the interpolation ``P`` from the next coarser level, the restriction
``R = Pᵀ`` to it and the pre-/post-smoothers; the coarsest holds a direct
solver.  Grid set-up (stencils, black-box interpolation, stencil Galerkin)
and algebraic set-up (PyAMG's coarsening) fill the same type, on the host
(NumPy, numba stencil kernels, SciPy sparse matrices) or on a device
(torch tensors); :func:`vcycle` is written once against what a level's
parts provide:

- ``A @ x``, and optionally ``A.residual(b, x)`` (a fused ``b − A x``);
- ``R @ r``; ``P @ e``, and optionally ``P.prolong_add(x, e)`` (``x + P e``);
- ``presmoother(A, b, x)`` / ``postsmoother(A, b, x)`` returning the smoothed
  iterate (``x`` is ``None`` for a zero initial guess);
- ``coarse_solver(b)`` on the coarsest level.

So NumPy, CuPy and torch vectors (and SciPy, CuPy or torch sparse matrices)
go through the same code; a level part may work in place on buffers it owns
(the host grid kernels do) as long as what it returns is valid until the
cycle has used it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Level:
    """One level of a :class:`Hierarchy` (see the module docstring for what each part provides).

    Attributes
    ----------
    A : operator
        The level's matrix.
    P, R : operator or None
        Interpolation from the next coarser level and restriction to it
        (``R = Pᵀ``); ``None`` on the coarsest level.
    presmoother, postsmoother : callable or None
        ``smoother(A, b, x) -> x``; the post-smoother is the pre-smoother's
        adjoint, so the cycle is symmetric.
    coarse_solver : callable or None
        ``b -> A⁻¹ b``, on the coarsest level only.
    """

    A: Any
    P: Any = None
    R: Any = None
    presmoother: Callable | None = None
    postsmoother: Callable | None = None
    coarse_solver: Callable | None = None


def residual(A, b, x):
    """``b − A x``, fused when the operator provides it."""
    fused = getattr(A, "residual", None)
    return fused(b, x) if fused is not None else b - A @ x


def prolong_add(P, x, e):
    """``x + P e``, fused (possibly in place) when the operator provides it."""
    fused = getattr(P, "prolong_add", None)
    return fused(x, e) if fused is not None else x + P @ e


def vcycle(levels, b, l=0):
    """One V-cycle ``x ≈ A⁻¹ b`` on ``levels[l:]``, from a zero initial guess.

    Pre-smoothing, residual, restriction, the coarser cycle, interpolation,
    post-smoothing; the coarsest level is solved directly.  With the
    post-smoother the adjoint of the pre-smoother the cycle is a symmetric
    linear operator, positive definite when it converges.
    """
    lvl = levels[l]
    if l == len(levels) - 1:
        return lvl.coarse_solver(b)
    x = lvl.presmoother(lvl.A, b, None)
    e = vcycle(levels, lvl.R @ residual(lvl.A, b, x), l + 1)
    x = prolong_add(lvl.P, x, e)
    return lvl.postsmoother(lvl.A, b, x)


class Hierarchy:
    """A list of :class:`Level` s, finest first, and the V-cycle over them.

    When the finest operator works on vectors of its own layout (the grid
    levels' padded arrays) it provides ``pad(b)`` and ``unpad(x)``, and
    :meth:`apply` maps the caller's flat vectors through them.  The host grid
    levels work in buffers they own, so one hierarchy must not be applied
    from two threads at once.

    Parameters
    ----------
    levels : list of Level

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_hierarchy
    >>> p = poisson((64, 64))
    >>> H = grid_hierarchy(p.A).with_jacobi(0.65)
    >>> [lvl.A.grid for lvl in H.levels]
    [(64, 64), (32, 32), (16, 16), (8, 8)]
    >>> H.apply(p.b).shape
    (4096,)
    """

    def __init__(self, levels):
        self.levels = list(levels)

    @property
    def layout(self):
        """The finest operator when it maps flat vectors to a layout of its own, else ``None``."""
        A = self.levels[0].A
        return A if hasattr(A, "pad") else None

    def __len__(self):
        return len(self.levels)

    def __repr__(self):
        return f"<Hierarchy of {len(self.levels)} levels: {[lvl.A.shape for lvl in self.levels]}>"

    def cycle(self, b):
        """One V-cycle on a vector in the finest level's own layout (padded for grids)."""
        return vcycle(self.levels, b)

    def apply(self, b):
        """One V-cycle on a flat vector of the finest level's unknowns (a new array)."""
        layout = self.layout
        if layout is None:
            return self.cycle(b)
        return layout.unpad(self.cycle(layout.pad(b))).reshape(b.shape)

    __call__ = apply

    def set_smoothers(self, pre, post):
        """Set the smoothers of every level but the coarsest (lists, finest first); returns self."""
        for lvl, a, b in zip(self.levels[:-1], pre, post):
            lvl.presmoother, lvl.postsmoother = a, b
        return self

    def with_stencils(self, K, KT=None, *, sweeps=1):
        """Smoothers ``x += K (b − A x)`` (pre) and ``x += Kᵀ (b − A x)`` (post) per level.

        ``K[l]`` is in the form level ``l``'s operator takes (a padded smoother
        stencil on grid levels, a sparse matrix otherwise); ``KT[l]``, when given,
        is ``K[l]ᵀ`` in that form (the host grid kernels read it contiguously).
        Returns self.
        """
        KT = KT or [None] * len(K)
        pairs = [_smoother_pair(lvl.A, k, kt, sweeps) for lvl, k, kt in zip(self.levels, K, KT)]
        return self.set_smoothers([a for a, _ in pairs], [b for _, b in pairs])

    def with_jacobi(self, omega, *, sweeps=1):
        """Damped-Jacobi smoothers ``K = ω D⁻¹`` on every level; returns self."""
        return self.with_stencils([_jacobi(lvl.A, omega) for lvl in self.levels[:-1]], sweeps=sweeps)

    def astype(self, dtype):
        """A copy whose operators and interpolations are stored in ``dtype``, without smoothers.

        The cycle then computes in ``dtype``; a coarsest solver keeps its own
        factor's precision.
        """
        levels = []
        for lvl in self.levels:
            new = Level(lvl.A.astype(dtype))
            if lvl.P is not None:
                new.P = lvl.P.astype(dtype)
                new.R = new.P.T
            if lvl.coarse_solver is not None:
                new.coarse_solver = lvl.coarse_solver.astype(dtype)
            levels.append(new)
        return Hierarchy(levels)

    @property
    def dtype(self):
        return self.levels[0].A.dtype

    @property
    def operator_complexity(self):
        """Stored entries of all levels' operators over those of the finest."""
        sizes = [_size(lvl.A) for lvl in self.levels]
        return sum(sizes) / sizes[0]


def _size(A):
    size = getattr(A, "stored", None)
    return size if size is not None else A.nnz


def _smoother_pair(A, K, KT, sweeps):
    make = getattr(A, "smoothers", None)
    if make is not None:
        return make(K, KT, sweeps)
    return SparseSmoother(K, sweeps), SparseSmoother(K.T if KT is None else KT, sweeps)


def _jacobi(A, omega):
    make = getattr(A, "jacobi", None)
    if make is not None:
        return make(omega)
    import scipy.sparse as sp

    return sp.diags_array(omega / A.diagonal()).tocsr()


class SparseSmoother:
    """``sweeps`` of ``x += K (b − A x)`` with a matrix ``K`` (any ``@``-capable operator)."""

    def __init__(self, K, sweeps=1):
        self.K, self.sweeps = K, int(sweeps)

    def __call__(self, A, b, x):
        for _ in range(self.sweeps):
            x = self.K @ b if x is None else x + self.K @ residual(A, b, x)
        return x


def contraction(matvec, apply, e, *, steps=4):
    """Estimate ``ρ(I − M A)`` by power iteration in the ``A``-norm from ``e`` (``nan`` if it blew up).

    ``e`` may be a NumPy array or a torch tensor (``matvec``/``apply`` act on it).

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.multigrid import contraction
    >>> A = np.diag([1.0, 2.0, 4.0])
    >>> round(contraction(lambda v: A @ v, lambda r: 0.4 * r, np.ones(3), steps=30), 3)
    0.6
    """
    rate = np.nan
    Ae = matvec(e)
    norm = float((e * Ae).sum()) ** 0.5
    for _ in range(steps):
        e = e - apply(Ae)
        Ae = matvec(e)
        new = max(float((e * Ae).sum()), 0.0) ** 0.5
        if not np.isfinite(new) or norm == 0:
            return np.nan
        rate, norm = new / norm, new
        if norm == 0:
            return 0.0
    return rate
