"""Initial guesses for a sequence of systems from the span of earlier solutions.

Fischer's projection ("Projection techniques for iterative solution of Ax = b
with successive right-hand sides", CMAME 1998): with ``X`` the last ``k``
solutions, the start of the next solve is the Galerkin (``A``-norm best)
approximation of ``A⁻¹ b`` in ``span X``, ``x₀ = X (Xᵀ A X)⁺ Xᵀ b``; the
pseudo-inverse (eigenvalues of ``Xᵀ A X`` under ``1e-12`` of the largest
dropped) copes with solutions that are nearly parallel, as successive time
steps are.  Its ``A``-norm error is never larger than that of
a zero start or of any earlier solution (all are in the span), and when the
solutions drift smoothly — implicit time steps, a slowly varying parameter —
it is an extrapolation of high order at the price of ``k`` products with each
new ``A``.  Any start is valid for CG, so a stale or poor guess costs
iterations, never correctness.  CuPy and torch vectors keep the space on their
device (``array_api_compat``); only the ``k × k`` Gram matrix goes to the host.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_namespace

from ._common import System, to_host

FUNC = "learnsolve.krylov.SolutionSpace"


class SolutionSpace:
    """The last ``k`` solutions of a sequence and the start vectors they give.

    Parameters
    ----------
    k : int
        Solutions kept (oldest dropped first); 0 keeps none.

    Attributes
    ----------
    X : ndarray, shape (size, n)
        The kept solutions scaled to unit length, one per row (in no order).

    Examples
    --------
    >>> import numpy as np
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> space = learnsolve.krylov.SolutionSpace(4)
    >>> x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-10)
    >>> space.add(x)
    >>> x0 = space.guess(p.A, 2.0 * p.b)        # the solution of 2 b is in the span
    >>> bool(np.linalg.norm(2.0 * p.b - p.A @ x0) < 1e-8 * np.linalg.norm(p.b))
    True
    """

    def __init__(self, k=4):
        if int(k) != k or k < 0:
            raise ValueError(f"{FUNC}: `k` must be a non-negative integer, got {k!r}.")
        self.k = int(k)
        self.clear()

    def __repr__(self):
        return f"<SolutionSpace k={self.k} size={self.size}>"

    @property
    def size(self):
        """Solutions held now (at most ``k``)."""
        return self._m

    @property
    def X(self):
        return self._X[: self._m]

    def clear(self):
        """Forget every solution (the next :meth:`guess` is ``None``)."""
        self._X = self._AX = self._valid = self._xp = None
        self._m, self._A, self._matvec = 0, None, None
        self._order = []  # slots, oldest first

    def _check_length(self, n):
        if self._X is not None and self._X.shape[1] != n:
            raise ValueError(f"{FUNC}: the space holds solutions of length {self._X.shape[1]} "
                             f"but this system has {n} unknowns; call .clear() before a system "
                             "of another size.")

    def add(self, x):
        """Add solution ``x`` (a real vector: NumPy, CuPy or torch), dropping the oldest when ``k``
        are held.  The space stays in the array library and on the device of its first vector;
        a vector of another library or device clears it first."""
        if self.k == 0:
            return
        xp = array_namespace(x)
        if is_numpy_namespace(xp):
            x = np.asarray(x, dtype=np.float64).reshape(-1)
        else:
            x = xp.reshape(xp.astype(x, xp.float64), (-1,))
        if self._X is not None and (self._xp is not xp or device(self._X) != device(x)):
            self.clear()
        self._check_length(int(x.shape[0]))
        nx = float(xp.linalg.vector_norm(x)) if not is_numpy_namespace(xp) else np.linalg.norm(x)
        if not np.isfinite(nx):
            raise ValueError(f"{FUNC}.add: `x` contains NaN or Inf.")
        if nx == 0.0:
            return
        if self._X is None:
            n = int(x.shape[0])
            self._xp = xp
            self._X = xp.empty((self.k, n), dtype=xp.float64, device=device(x))
            self._AX = xp.empty((self.k, n), dtype=xp.float64, device=device(x))
            self._valid = np.zeros(self.k, bool)
        if self._m < self.k:
            slot = self._m
            self._m += 1
        else:  # overwrite the oldest
            slot = self._order.pop(0)
        self._X[slot, ...] = x * (1.0 / nx)
        self._valid[slot] = False
        self._order.append(slot)

    def guess(self, A, b):
        """The start vector for ``A x = b``: ``X (Xᵀ A X)⁻¹ Xᵀ b``, or ``None`` while empty.

        ``A X`` is computed for a matrix it has not seen (``A is`` the last one
        passed keeps it: a matrix changed in place gives a slightly worse
        start, never a wrong solve).  Directions with ``Xᵀ A X`` eigenvalues
        below ``1e-12`` of the largest (or not positive) are left out.
        """
        xp = array_namespace(b)
        if self._m == 0 or xp.isdtype(b.dtype, "complex floating") or xp is not self._xp:
            return None
        n = int(A.shape[0])
        self._check_length(n)
        if tuple(b.shape) not in ((n,), (n, 1)):
            raise ValueError(f"{FUNC}.guess: `b` has shape {tuple(b.shape)}; expected ({n},).")
        if device(b) != device(self._X):
            return None
        if A is not self._A:
            self._A = A
            self._matvec = System._make_matvec(f"{FUNC}.guess", A, np.float64)
            self._valid[:] = False
        for i in np.flatnonzero(~self._valid[: self._m]):
            self._AX[int(i), ...] = self._matvec(self._X[int(i), ...])
        self._valid[: self._m] = True
        X, AX = self.X, self._AX[: self._m]
        b = xp.reshape(xp.astype(b, xp.float64), (-1,))
        G, Xb = to_host(X @ xp.matrix_transpose(AX)), to_host(X @ b)  # k × k and k numbers
        vals, vecs = np.linalg.eigh(0.5 * (G + G.T))
        keep = vals > 1e-12 * max(vals.max(), 0.0)
        if not keep.any():
            return None
        vecs = vecs[:, keep]
        y = vecs @ ((vecs.T @ Xb) / vals[keep])
        x0 = xp.asarray(y, device=device(X)) @ X
        return x0 if bool(xp.all(xp.isfinite(x0))) else None


__all__ = ["SolutionSpace"]
