"""Recycling (deflated) conjugate gradients for sequences of SPD systems.

Deflated PCG (Saad, Yeung, Erhel, Guyomarc'h 2000): with a basis ``W`` of a
subspace, ``A W`` and ``E = Wᵀ A W``, the start vector is corrected so that
``Wᵀ r₀ = 0`` and every search direction is made ``A``-orthogonal to ``W``
(``p = z + β p − W E⁻¹ (A W)ᵀ z``), so CG works on the complement of ``W`` and
the eigenvalues of ``M A`` that ``W`` captures no longer slow it down.  After a
solve the space is renewed from ``[W, P]`` (``P`` the first search directions of
that solve, folded in a run at a time): Ritz (or harmonic Ritz) vectors of ``M A``
in the ``A``-inner product, the ``k`` with the smallest values.  ``M A P`` comes free from the
solve (``A p_j = (r_j − r_{j+1})/α_j``, so ``M A p_j = (z_j − z_{j+1})/α_j``);
``M A W`` is carried along with ``W``.  When ``A`` changes, ``A W`` is
recomputed once (``k`` products with ``A``); ``M A W`` is then an estimate,
which only affects which vectors are kept, never the correctness of the solve.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ._common import System, cg_direction, warn_nonlinear

FUNC = "learnsolve.krylov.rcg"


class RecycleSpace:
    """The subspace :func:`rcg` deflates, renewed after every solve it is passed to.

    Parameters
    ----------
    k : int
        Vectors kept between solves (0 keeps none: :func:`rcg` is then CG).
    collect : int, optional
        The space is renewed from itself and each run of ``collect`` search
        directions of a solve, as they come (default ``2 k``).
    kind : {'ritz', 'harmonic'}
        Keep the Ritz vectors of ``M A`` in the ``A``-inner product
        (``(A Z)ᵀ M (A Z) y = θ Zᵀ A Z y``, no extra work), or its harmonic Ritz
        vectors (``(M A Z)ᵀ A (M A Z) y = θ (A Z)ᵀ M (A Z) y``, one more product
        with ``A`` per vector).  Either way the smallest ``θ`` are kept.  On rough
        128² diffusion with IC(0), Ritz vectors found values 10× smaller and saved
        more iterations (711 → 470–500 against 560–590).
    folds : int, optional
        At most this many runs folded in per solve (default: all; after them a
        solve collects nothing).  Each fold costs about ``3 n (k + collect)²``
        flops and each deflated iteration about ``4 n k``: with Jacobi on a 22k
        FEM matrix, recycling 8 vectors halved CG's iterations (15,883 → 7,841
        over 20 right-hand sides) but took 2.9× CG's time; folding only the
        first 4 runs kept 98 % of the iterations (``benchmarks/sequences_krypy.py``).

    Attributes
    ----------
    W : ndarray or None
        ``(n, m)`` basis, ``m ≤ k`` (``A``-orthonormal for the matrix it was made with).
    theta : ndarray or None
        The (harmonic) Ritz values of ``M A`` the vectors belong to (smallest first).

    Examples
    --------
    >>> import learnsolve
    >>> p = learnsolve.problems.diffusion(48, contrast=1e4, seed=0)
    >>> space = learnsolve.krylov.RecycleSpace(8)
    >>> M = learnsolve.precond.jacobi(p.A)
    >>> _, info1 = learnsolve.krylov.rcg(p.A, p.b, rtol=1e-8, M=M, recycle=space)
    >>> first, again = [], []
    >>> _ = learnsolve.krylov.cg(p.A, p.b[::-1].copy(), rtol=1e-8, M=M, residuals=first)
    >>> _ = learnsolve.krylov.rcg(p.A, p.b[::-1].copy(), rtol=1e-8, M=M, recycle=space,
    ...                          residuals=again)
    >>> info1, space.size, len(again) < len(first)
    (0, 8, True)
    """

    def __init__(self, k=8, *, collect=None, kind="ritz", folds=None):
        if int(k) != k or k < 0:
            raise ValueError(f"learnsolve.krylov.RecycleSpace: `k` must be a non-negative "
                             f"integer, got {k!r}.")
        if kind not in ("ritz", "harmonic"):
            raise ValueError(f"learnsolve.krylov.RecycleSpace: `kind` must be 'ritz' or "
                             f"'harmonic', got {kind!r}.")
        self.k = int(k)
        self.kind = kind
        self.folds = np.inf if folds is None else int(folds)
        self.collect = 2 * self.k if collect is None else int(collect)
        self.W = self.AW = self.MAW = self.theta = None
        self._A = None

    def __repr__(self):
        return f"<RecycleSpace k={self.k} size={self.size}>"

    @property
    def size(self):
        """Vectors held now."""
        return 0 if self.W is None else int(self.W.shape[1])

    def clear(self):
        """Forget the space (the next :func:`rcg` is plain CG)."""
        self.W = self.AW = self.MAW = self.theta = None
        self._A = None

    def _prepare(self, A, matvec, n, dtype):
        """``(W, AW, E⁻¹ factor)`` for this solve, or ``None`` when empty; checks the size."""
        if self.W is None or self.k == 0:
            return None
        if self.W.shape[0] != n:
            raise ValueError(f"'{FUNC}': the recycle space holds vectors of length "
                             f"{self.W.shape[0]} but `A` is {n}×{n}; pass a new RecycleSpace "
                             f"or call .clear() before a system of another size.")
        if A is not self._A:  # a new matrix: A W once (k products), M A W kept as an estimate
            self.AW = np.column_stack([matvec(w) for w in self.W.T]).astype(dtype, copy=False)
            self._A = A
        E = self.W.T @ self.AW
        E = 0.5 * (E + E.T)
        vals, vecs = np.linalg.eigh(E)
        keep = vals > vals.max() * 1e-10 if vals.size and vals.max() > 0 else np.zeros(0, bool)
        if not keep.any():
            self.clear()
            return None
        if not keep.all():  # drop dependent directions (non-finite ones cleared the space above)
            vecs = vecs[:, keep]
            self.W, self.AW = self.W @ vecs, self.AW @ vecs
            self.MAW = None if self.MAW is None else self.MAW @ vecs
            E = self.W.T @ self.AW
            E = 0.5 * (E + E.T)
        return self.W, self.AW, sla.cho_factor(E)

    def _renew(self, matvec, P, Q, Zs, alphas):
        """Compress ``[W, P]`` into the new ``W``: the ``k`` (harmonic) Ritz vectors of ``M A``
        (in the ``A``-inner product) with the smallest values."""
        if self.k == 0 or not P:
            return
        P = np.column_stack(P)
        AP = np.column_stack(Q)
        MAP = np.column_stack([(Zs[j] - Zs[j + 1]) / alphas[j] for j in range(P.shape[1])])
        if self.W is not None and self.MAW is not None:
            Z, AZ, MAZ = (np.hstack([self.W, P]), np.hstack([self.AW, AP]),
                          np.hstack([self.MAW, MAP]))
        else:
            Z, AZ, MAZ = P, AP, MAP
        if self.kind == "harmonic":
            AMAZ = np.column_stack([matvec(v) for v in MAZ.T])
            H1 = MAZ.T @ AMAZ  # (M A Z)ᵀ A (M A Z)
            H2 = AZ.T @ MAZ  # (M A Z)ᵀ A Z = (A Z)ᵀ M (A Z)
        else:  # Ritz: (A Z)ᵀ M (A Z) y = θ Zᵀ A Z y
            H1 = AZ.T @ MAZ
            H2 = Z.T @ AZ
        H1, H2 = 0.5 * (H1 + H1.T), 0.5 * (H2 + H2.T)
        # restrict to the directions where H2 is safely positive definite
        d, V = np.linalg.eigh(H2)
        ok = d > d.max() * 1e-12 if d.size and d.max() > 0 else np.zeros(0, bool)
        if not ok.any():
            return
        T = V[:, ok] / np.sqrt(d[ok])
        theta, Y = np.linalg.eigh(T.T @ H1 @ T)
        Y = T @ Y[:, : min(self.k, Y.shape[1])]
        W, AW, MAW = Z @ Y, AZ @ Y, MAZ @ Y
        # A-orthonormalize (E = Wᵀ A W = I): Cholesky of the small Gram matrix
        G = W.T @ AW
        G = 0.5 * (G + G.T)
        try:
            L = np.linalg.cholesky(G)
        except np.linalg.LinAlgError:
            return
        R = np.linalg.inv(L).T
        self.W, self.AW, self.MAW = W @ R, AW @ R, MAW @ R
        self.theta = theta[: Y.shape[1]]


class _Collector:
    """The search directions of one :func:`rcg` solve, folded into a space every ``chunk``.

    The space being solved with stays fixed; a copy of it (``space``) absorbs
    each chunk of ``chunk`` directions as soon as the ``z`` after its last one
    is known, so long solves renew from all their directions, not only the first.
    """

    def __init__(self, recycle, matvec):
        self.space = RecycleSpace(recycle.k, collect=recycle.collect, kind=recycle.kind)
        self.left = recycle.folds  # folds still to do in this solve
        self.space.W, self.space.AW, self.space.MAW = recycle.W, recycle.AW, recycle.MAW
        self.chunk, self.matvec = max(1, recycle.collect), matvec
        self.P, self.Q, self.Zs, self.alphas = [], [], [], []

    def z(self, z):
        """Record ``z_j = M r_j`` (the iteration's preconditioned residual)."""
        if self.left <= 0:
            return
        if len(self.Zs) == len(self.P):
            self.Zs.append(z.copy())
        if len(self.P) == self.chunk:  # the chunk is complete: fold it in, start the next
            self._fold()
            if self.left > 0:
                self.Zs.append(z.copy())

    def direction(self, p, q, alpha):
        if self.left <= 0:
            return
        self.P.append(p.copy())
        self.Q.append(q.copy())
        self.alphas.append(alpha)

    def _fold(self):
        self.left -= 1
        self.space._renew(self.matvec, self.P, self.Q, self.Zs, self.alphas)
        self.P, self.Q, self.Zs, self.alphas = [], [], [], []

    def finish(self, recycle, A):
        if len(self.Zs) == len(self.P):  # the solve stopped before z_{j+1} of the last one
            self.P, self.Q, self.alphas = self.P[:-1], self.Q[:-1], self.alphas[:-1]
        if self.P and self.left > 0:
            self._fold()
        sp = self.space
        if sp.W is not None:
            recycle.W, recycle.AW, recycle.MAW, recycle.theta = sp.W, sp.AW, sp.MAW, sp.theta
            recycle._A = A


def rcg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
        residuals=None, recycle=None):
    """Solve ``A x = b`` by deflated PCG with a :class:`RecycleSpace`, renewed afterwards.

    With an empty space (``recycle=None``, a new :class:`RecycleSpace` or
    ``k = 0``) the iterates are CG's (:func:`learnsolve.krylov.cg`, SciPy's);
    with vectors ``W`` the start vector is corrected to ``Wᵀ r₀ = 0`` and the
    search directions are kept ``A``-orthogonal to ``W``.  The stopping rule is
    SciPy's on the unpreconditioned residual, confirmed on the true residual
    before ``info = 0``.  NumPy arrays only.

    Parameters
    ----------
    A, b, x0, rtol, atol, maxiter, M, callback, residuals
        As :func:`learnsolve.krylov.cg` (``M`` linear SPD).
    recycle : RecycleSpace, optional
        Deflated in this solve and renewed from it (in place); reuse it for the
        next system of a sequence.  A space for another size raises ``ValueError``.

    Returns
    -------
    x : ndarray
    info : int
        As :func:`learnsolve.krylov.cg`.

    Examples
    --------
    >>> import numpy as np
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> x1, _ = learnsolve.krylov.rcg(p.A, p.b, rtol=1e-8)
    >>> x2, _ = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8)
    >>> bool(np.array_equal(x1, x2))
    True
    """
    warn_nonlinear(FUNC, M)
    if not isinstance(b, np.ndarray):
        raise TypeError(f"'{FUNC}': NumPy arrays only (the recycle space is kept on the host), "
                        f"got `b` of type {type(b).__module__}.{type(b).__name__}; use "
                        "learnsolve.krylov.cg for CuPy/torch arrays.")
    s = System(FUNC, A, b, x0, rtol, atol, maxiter, M)
    xp, x = s.xp, s.x
    if s.bnrm2 == 0.0:
        return np.zeros_like(s.b), 0
    deflate = None if recycle is None else recycle._prepare(A, s.matvec, s.n, s.dtype)
    r = s.initial_residual()
    if deflate is not None:  # Galerkin start: Wᵀ r₀ = 0
        W, AW, fac = deflate
        x += W @ sla.cho_solve(fac, W.T @ r)
        r = s.b - s.matvec(x)
    col = None if recycle is None or recycle.k == 0 else _Collector(recycle, s.matvec)
    rho_prev, p, info = None, None, None
    with s.loop_context():
        for _ in range(s.maxiter):
            done, r, _ = s.check(r, residuals)
            if done:
                info = 0
                break
            z = s.precondition(r)
            if col is not None:
                col.z(z)
            rho_cur = s.dot(r, z)
            p = cg_direction(xp, p, z, rho_cur, rho_prev)
            if deflate is not None:
                p -= W @ sla.cho_solve(fac, AW.T @ z)
            q = s.matvec(p)
            pq = s.dot(p, q)
            if not (s.real(pq) > 0.0 and float(abs(rho_cur)) < float("inf")):
                return x, -1
            alpha = rho_cur / pq
            if col is not None:
                col.direction(p, q, alpha)
            x += alpha * p
            r -= alpha * q
            rho_prev = rho_cur
            if callback is not None:
                callback(x)
        if info is None:
            x, info = s.finish(r, residuals)
    if col is not None:
        col.finish(recycle, A)
    return x, info
