"""Sequences of SPD systems: one preconditioner kept while it works, a recycled Krylov space.

:class:`Sequence` solves ``A_i x_i = b_i`` one after the other with a named
preconditioner of :func:`learnsolve.precond.build`.  It keeps the set-up while
the iterations stay within ``rebuild_ratio`` of those right after the last
build, rebuilds it when they grow past that, when the size changes or after a
failed solve; it deflates with a :class:`~learnsolve.krylov.RecycleSpace`
(NumPy arrays, :func:`learnsolve.krylov.rcg`) and starts each solve from the
best combination of the last solutions (``warm_start``, ``history``: Fischer's
projection, :class:`~learnsolve.krylov.SolutionSpace`).  Every solve leaves a
:class:`SolveRecord`.
:func:`order_by_similarity` orders a sweep given up front so that neighbours
are similar (the ordering idea of "Solving sequences of linear systems with
Krylov recycling", ICLR 2024).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
import scipy.sparse as sp
from array_api_compat import array_namespace

from . import precond
from .krylov import RecycleSpace, SolutionSpace, batch_cg, cg, rcg

FUNC = "learnsolve.Sequence"


@dataclasses.dataclass
class SolveRecord:
    """What one :meth:`Sequence.solve` did (times in seconds)."""

    index: int
    setup: str  # "full" (built), "kept" (reused), "refresh" (numeric part redone)
    reason: str
    setup_s: float
    solve_s: float
    iterations: int  # CG iterations, summed over the columns of a block of right-hand sides
    info: int
    recycled: int  # vectors deflated in this solve
    guessed: int = 0  # earlier solutions the start vector was projected on (0: none or x0 given)


class Sequence:
    """Solve a sequence of SPD systems with one preconditioner kept across them.

    Parameters
    ----------
    method : str
        A name :func:`learnsolve.precond.build` takes (``"vcycle-2d"``,
        ``"amg-learned"``, ``"ic0"``, ...).
    recycle : int
        Vectors of the recycled space (:class:`RecycleSpace`; 0: plain CG).
        NumPy arrays only; CuPy/torch systems are solved without it.
    rtol, atol, maxiter
        As :func:`learnsolve.krylov.cg`, for every solve.
    rebuild_ratio : float
        Rebuild the preconditioner before a solve when the previous one
        converged more than this times slower (iterations per decade of
        residual reduction) than the first solve after the last build.  From
        a zero start that is "took more than this times the iterations".
    warm_start : bool
        Start each solve (same size, no ``x0`` given) from the previous
        solutions, else from zero or the ``x0`` given.
    history : int
        With ``warm_start``, the start is the Galerkin projection of the
        solution on the span of the last ``history`` solutions
        (:class:`~learnsolve.krylov.SolutionSpace`, Fischer 1998): never worse in
        the ``A``-norm than the previous solution, an extrapolation when the
        solutions drift smoothly, at ``history`` products with every new ``A``.
        On the 512² heat sequence of ``benchmarks/sequences.py`` it cut
        ``vcycle-2d``'s iterations from 521 to 147.  0: the previous solution.
        NumPy, CuPy and torch vectors (the space stays on their device).
    recycle_from : int
        Deflate only while a solve takes at least this many iterations with a
        fresh set-up: each deflated iteration costs about ``4 k`` vector
        operations, more than it saves when a multigrid preconditioner needs
        5–20 iterations (measured in ``benchmarks/sequences.py``).
    drift_max : float or None
        Before keeping (or refreshing) a set-up for a new SciPy matrix of the
        same size, compare its diagonal with that of the matrix the set-up was
        built for: when ``max(r) / min(r)`` of the ratios ``r = diag(A_new) /
        diag(A_built)`` exceeds ``drift_max`` the set-up is built anew without
        trying the old one (a cheap test, one pass over the diagonal).  The
        default 1000 is far above the drift a kept set-up survives (25 over the
        whole 512² heat sequence of ``benchmarks/sequences.py``) and far below
        the neighbours of a contrast-1e4 sweep (4e7), on which a kept cycle does
        not converge in 300 iterations.  ``None`` turns the test off; matrices
        that scale their diagonal evenly (a growing shift ``A + c·diag(A)``)
        pass it and are left to the iteration rule.
    refresh : bool
        When the kept set-up no longer works, first redo only its numeric part
        for the new matrix where the preconditioner can (its ``refresh``: the
        algebraic cycles ``amg-learned``, ``amg-chebyshev`` keep their
        coarsening and recompute the Galerkin products, coarsest LU and
        smoothers), and build anew only when that does not bring the speed
        back within ``rebuild_ratio``.
    **build_options
        Passed to :func:`learnsolve.precond.build` (e.g. ``grid_shape``).

    Attributes
    ----------
    records : list of SolveRecord

    Examples
    --------
    >>> import numpy as np
    >>> import learnsolve
    >>> p = learnsolve.problems.diffusion(64, contrast=1e4, seed=0)
    >>> seq = learnsolve.Sequence("ic0", recycle=8, rtol=1e-8)
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(3):
    ...     x, info = seq.solve(p.A, rng.standard_normal(p.n))
    >>> [r.setup for r in seq.records], info
    (['full', 'kept', 'kept'], 0)
    """

    def __init__(self, method, *, recycle=8, rtol=1e-6, atol=0.0, maxiter=None,
                 rebuild_ratio=1.5, warm_start=True, history=4, recycle_from=40, refresh=True,
                 drift_max=1e3, **build_options):
        if not isinstance(method, str):
            raise TypeError(f"{FUNC}: `method` must be a preconditioner name (a str), got "
                            f"{type(method).__name__}; see learnsolve.precond.build.")
        if not rebuild_ratio >= 1:
            raise ValueError(f"{FUNC}: `rebuild_ratio` must be >= 1, got {rebuild_ratio!r}.")
        if drift_max is not None and not drift_max > 1:
            raise ValueError(f"{FUNC}: `drift_max` must be > 1 (or None to turn the drift test "
                             f"off), got {drift_max!r}.")
        self.drift_max = None if drift_max is None else float(drift_max)
        self._diag = None  # diag(A) of the matrix the set-up was built (or refreshed) for
        self.method, self.build_options = method, build_options
        self.rtol, self.atol, self.maxiter = rtol, atol, maxiter
        self.rebuild_ratio, self.warm_start = float(rebuild_ratio), bool(warm_start)
        self.space = RecycleSpace(recycle)
        self.guesses = SolutionSpace(history)
        self.records = []
        self.M = None
        self.recycle_from = int(recycle_from)
        self.refresh, self._stale, self._full_speed = bool(refresh), False, None
        self._n = self._baseline = self._x = None
        self._speed = self._last_speed = None  # decades of residual reduction per iteration
        self._work = 0  # CG iterations of the current solve, all columns of a block counted
        self._failed_keeps, self._skip = 0, 0  # back off from keeping after failed attempts

    def __repr__(self):
        return (f"<Sequence {self.method!r} solves={len(self.records)} "
                f"builds={sum(r.setup == 'full' for r in self.records)} recycle={self.space.k}>")

    def _why_rebuild(self, n):
        if self.M is None:
            return "first system" if not self.records else "after a failed solve"
        if n != self._n:
            return f"size changed ({self._n} → {n})"
        if self._speed is not None and self._last_speed * self.rebuild_ratio < self._speed:
            return (f"convergence slowed ({1 / self._last_speed:.3g} > {self.rebuild_ratio:g} × "
                    f"{1 / self._speed:.3g} iterations per decade)")
        if self._skip:
            self._skip -= 1
            return f"the kept set-up failed lately ({self._failed_keeps} in a row)"
        return None

    def _drift(self, A):
        """Why not to keep (or refresh) the set-up for ``A``: its diagonal moved more than
        ``drift_max`` from the built matrix's (``None``: it did not, or no test applies)."""
        if self.drift_max is None or self._diag is None:
            return None
        d = _diagonal(A)
        if d is None or d.shape != self._diag.shape:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            r = d / self._diag
        lo, hi = float(r.min()), float(r.max())
        if not (lo > 0 and math.isfinite(hi)):  # the solver reports a bad diagonal itself
            return None
        if hi > self.drift_max * lo:
            return (f"the matrix moved too far to keep the set-up (diagonal ratios spread "
                    f"{hi / lo:.3g} > drift_max {self.drift_max:g})")
        return None

    def _build(self, A):
        t0 = time.perf_counter()
        self.M = precond.build(self.method, A, **self.build_options)
        self._stale = False
        self._diag = _diagonal(A)
        return time.perf_counter() - t0

    def _refresh(self, A):
        """Redo the numeric part of the set-up for ``A`` (the preconditioner's ``refresh``);
        ``(seconds, done)``: not done where there is none, it failed its check, or the last
        refresh did not bring the speed back."""
        refresh = getattr(self.M, "refresh", None)
        if refresh is None or self._stale or not self.refresh:
            return 0.0, False
        t0 = time.perf_counter()
        M = refresh(A)
        if M is not None:
            self.M = M
            self._diag = _diagonal(A)
        return time.perf_counter() - t0, M is not None

    def _from_zero(self):
        """Iterations the last build would need from a zero start (its speed, ``rtol``)."""
        if self._speed is None:
            return self._baseline
        decades = -math.log10(self.rtol) if 0 < self.rtol < 1 else 6.0
        return max(self._baseline, math.ceil(decades / self._speed))

    def _solve(self, A, b, x0, maxiter):
        """``(x, info, iterations, seconds, recycled)``; a block's iterations are its slowest
        column's (all columns' go to ``self._work``)."""
        res = []
        numpy = isinstance(b, np.ndarray)
        if _is_block(b):
            t0 = time.perf_counter()
            x, info = batch_cg(A, b, x0, rtol=self.rtol, atol=self.atol, maxiter=maxiter,
                               M=self.M, residuals=res)
            self._last_speed = min(_speed(r) for r in res)
            self._work += sum(len(r) - 1 for r in res)
            return x, info, max(len(r) - 1 for r in res), time.perf_counter() - t0, 0
        kw = dict(rtol=self.rtol, atol=self.atol, maxiter=maxiter, M=self.M, residuals=res)
        deflate = numpy and self.space.k and (self._baseline is None
                                              or self._from_zero() >= self.recycle_from)
        recycled = self.space.size if deflate else 0
        t0 = time.perf_counter()
        if deflate:
            x, info = rcg(A, b, x0, recycle=self.space, **kw)
        else:
            x, info = cg(A, b, x0, **kw)
        self._last_speed = _speed(res)
        self._work += max(len(res) - 1, 0)
        return x, info, max(len(res) - 1, 0), time.perf_counter() - t0, recycled

    def _start(self, A, b, n):
        """``(x0, solutions projected on)`` for a solve given no ``x0``."""
        if not self.warm_start or self._x is None or self._n != n or _is_block(b):
            return None, 0
        if tuple(b.shape) in ((n,), (n, 1)) and self.guesses.size:
            x0 = self.guesses.guess(A, b)
            if x0 is not None:
                return x0, self.guesses.size
        return self._x, 0

    def solve(self, A, b, x0=None):
        """Solve ``A x = b`` as the next system of the sequence; returns ``(x, info)``.

        ``b`` may be an ``(n, s)`` block of right-hand sides (NumPy, CuPy or
        torch) for one matrix: they are solved together by :func:`learnsolve.krylov.batch_cg`
        (one CG per column, the products with ``A`` and ``M`` on the block),
        with no warm start or recycling; ``x`` is then ``(n, s)``.

        The set-up is tried in turn: kept (while it works), refreshed (its
        numeric part redone for ``A``, where the preconditioner has
        ``refresh`` and ``refresh=True``), built anew.  A kept or refreshed
        set-up may take at most ``2 · rebuild_ratio`` times the iterations
        after the last build (at least 10 more); if it has not converged by
        then the next one goes on from where it stopped.  A solve that fails
        with a fresh set-up is retried once from the start with another fresh
        set-up and no recycled vectors, with a warning; if that fails too,
        ``(x, info)`` is returned as it is (never ``info == 0`` with a wrong
        ``x``) and the next system starts afresh.  Bad input (NaN, a wrong
        shape) raises the solver's ``ValueError`` and records nothing.
        """
        n = int(A.shape[0])
        self._work = 0
        why = self._why_rebuild(n)
        if why is not None and n != self._n:
            self.space.clear()
            self.guesses.clear()
        guessed = 0
        if x0 is None:
            x0, guessed = self._start(A, b, n)
        setup_s, its, solve_s, recycled = 0.0, 0, 0.0, 0
        drift = self._drift(A) if self.M is not None and n == self._n else None
        plan = (["kept"] if why is None and drift is None else []) + \
            (["refresh"] if drift is None else []) + ["full"]
        if drift is not None:
            why = drift if why is None else f"{why}; {drift}"
        elif why is None:
            why = "preconditioner still works"
        for kind in plan:
            if kind == "refresh":
                if self.M is None or n != self._n:
                    continue
                dt, done = self._refresh(A)
                setup_s += dt
                if not done:
                    continue
                why = f"{why}; numeric refresh"
            elif kind == "full":
                setup_s += self._build(A)
            cap = self.maxiter if kind == "full" else self._budget()
            x, info, last, s, rec = self._solve(A, b, x0, cap)
            its, solve_s, recycled = its + last, solve_s + s, max(recycled, rec)
            if kind == "kept":
                self._failed_keeps = 0 if info == 0 else self._failed_keeps + 1
                self._skip = 0 if info == 0 else 2 ** min(self._failed_keeps, 5) - 1  # skip 1, 3, 7..
            if info == 0 or kind == "full":
                break
            if kind == "refresh":
                self._stale = True
            why = f"{kind} set-up too slow ({last} iterations without converging)"
            if info > 0:
                x0 = x  # go on from where it stopped
            else:
                self.space.clear()
        if info != 0:
            warnings.warn(f"{FUNC}: system {len(self.records)} did not converge with a new "
                          f"set-up (info={info}); rebuilding the preconditioner and retrying "
                          "from the start without recycled vectors.", RuntimeWarning,
                          stacklevel=2)
            self.space.clear()
            setup_s += self._build(A)
            why = f"retry after info={info}"
            x, info, last, s2, _ = self._solve(A, b, None, self.maxiter)
            its, solve_s = its + last, solve_s + s2
        self.records.append(SolveRecord(len(self.records), kind, why, setup_s, solve_s,
                                        self._work, int(info), recycled, guessed))
        if info != 0:  # the next system starts afresh
            self.M, self._x, self._baseline, self._speed = None, None, None, None
            self.space.clear()
            return x, info
        self._n = n
        if not _is_block(b):
            self._x = x
            if array_namespace(x).isdtype(x.dtype, "real floating"):
                self.guesses.add(x)
        if kind in ("full", "refresh"):  # judge the next systems by the speed with this set-up
            speed = self._last_speed if math.isfinite(self._last_speed) else None
            if kind == "full":
                self._full_speed = speed
            elif speed is None or self._full_speed is None or (
                    speed * self.rebuild_ratio < self._full_speed):
                self._stale = True  # it did not bring the speed back: build anew next time
            self._baseline, self._speed = max(last, 1), speed
        return x, info

    def _budget(self):
        """Iterations a kept or refreshed set-up may take before the next is tried."""
        cap = max(math.ceil(2 * self.rebuild_ratio * self._from_zero()), self._baseline + 10)
        return cap if self.maxiter is None else min(cap, int(self.maxiter))


def _diagonal(A):
    """``diag(A)`` as float64 for a SciPy sparse or dense NumPy matrix, else ``None``."""
    if sp.issparse(A):
        return np.asarray(A.diagonal(), dtype=np.float64)
    if isinstance(A, np.ndarray) and A.ndim == 2:
        return np.diagonal(A).astype(np.float64)
    return None


def _is_block(b):
    """Many right-hand sides at once: an ``(n, s)`` array (NumPy, CuPy, torch) with ``s > 1``."""
    return getattr(b, "ndim", 1) == 2 and b.shape[1] != 1


def _speed(residuals):
    """Decades of residual reduction per iteration of one solve (``inf`` after 0 iterations)."""
    its = len(residuals) - 1
    if its < 1 or residuals[-1] <= 0:
        return math.inf
    return max(math.log10(residuals[0] / residuals[-1]), 1e-3) / its


def order_by_similarity(features, start=0):
    """A visiting order of the systems in which each is close to the one before.

    Greedy nearest neighbour in the Euclidean distance of ``features`` (one row
    per system: a coefficient field, its logarithm, a parameter vector),
    starting at ``start``.

    Parameters
    ----------
    features : array_like, shape (m, d)
    start : int

    Returns
    -------
    order : ndarray of int, a permutation of ``range(m)``

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve import order_by_similarity
    >>> order_by_similarity(np.array([[0.0], [10.0], [1.0], [11.0]])).tolist()
    [0, 2, 1, 3]
    """
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2 or not np.all(np.isfinite(F)):
        raise ValueError("learnsolve.order_by_similarity: `features` must be a finite "
                         f"(m, d) array, got shape {F.shape}; flatten each system's field into a row.")
    m = F.shape[0]
    if not 0 <= start < max(m, 1):
        raise ValueError(f"learnsolve.order_by_similarity: `start` must be in [0, {m}), "
                         f"got {start!r}.")
    sq = (F * F).sum(1)
    left = np.ones(m, bool)
    order = [start]
    left[start] = False
    for _ in range(m - 1):
        last = order[-1]
        d = sq - 2.0 * (F @ F[last]) + sq[last]
        d[~left] = np.inf
        nxt = int(np.argmin(d))
        order.append(nxt)
        left[nxt] = False
    return np.array(order[:m], dtype=np.int64)
