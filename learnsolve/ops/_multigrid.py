"""Geometric multigrid hierarchy on a grid: black-box interpolation, Galerkin coarse stencils.

:class:`GridHierarchy` holds, per level, the padded stencil and the
interpolation to it from the next coarser level, plus a dense Cholesky
factor of the coarsest operator.  :meth:`GridHierarchy.vcycle` applies one
symmetric V-cycle with caller-supplied smoother stencils ``K`` (pre-smoothing
``x += K (b - A x)``, post-smoothing with ``Kᵀ``): for SPD ``A`` and
convergent smoothers it is an SPD operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..problems._stencil import interior, offsets, padded_shape, stencil_to_csr
from . import _stencil as K_


@dataclass
class GridLevel:
    """One level: padded stencil ``S`` (m, N) on ``shape``; ``Pc`` interpolates from the next."""

    S: np.ndarray
    shape: tuple
    Pc: np.ndarray | None = None

    @property
    def dim(self):
        return len(self.shape)

    @property
    def padded(self):
        return padded_shape(self.shape)

    @property
    def n(self):
        return int(np.prod(self.shape))

    def bounds(self):
        """``(z0, z1, Py, Px)`` of the interior loop."""
        Pz, Py, Px = self.padded
        return ((1, Pz - 1) if self.dim == 3 else (0, 1)) + (Py, Px)

    def delta(self):
        Pz, Py, Px = self.padded
        o = offsets(self.dim)
        return o[:, 0] * Py * Px + o[:, 1] * Px + o[:, 2]


def coarse_shape(shape):
    return tuple(s // 2 for s in shape)


def mirror(dim):
    """Index of ``-o`` for each offset ``o``."""
    m = len(offsets(dim))
    return np.arange(m)[::-1].copy()


class GridHierarchy:
    """Levels from ``shape`` down to a coarsest grid of at most ``coarsest`` cells.

    Parameters
    ----------
    S : numpy.ndarray
        Padded fine stencil ``(3^d, Pz, Py, Px)`` (see :func:`learnsolve.problems.grid_stencil`).
    shape : tuple of int
    coarsest : int
        Stop coarsening when the grid has at most this many cells or an axis
        has fewer than 3 cells.

    Examples
    --------
    >>> from learnsolve.problems import poisson, grid_stencil
    >>> S, shape = grid_stencil(poisson((64, 64)).A)
    >>> [lvl.shape for lvl in GridHierarchy(S, shape).levels]
    [(64, 64), (32, 32), (16, 16), (8, 8)]
    """

    def __init__(self, S, shape, *, coarsest=64):
        shape = tuple(shape)
        dim = len(shape)
        self.dim = dim
        offs = offsets(dim)
        self._offs = offs
        self._mirror = mirror(dim)
        self._plan = K_.boxmg_plan(offs)
        scale = np.array([2 if dim == 3 else 0, 2, 2])
        self._terms = K_.galerkin_terms(offs, scale)
        levels = [GridLevel(np.ascontiguousarray(S.reshape(len(offs), -1), dtype=np.float64), shape)]
        while levels[-1].n > coarsest and min(levels[-1].shape) >= 3:
            fine = levels[-1]
            cshape = coarse_shape(fine.shape)
            fine.Pc, Sc = self._coarsen(fine, cshape)
            levels.append(GridLevel(Sc, cshape))
        self.levels = levels
        # loop bounds, stencil offsets and coarse geometry per level, computed once for vcycle()
        self._loops = [(lvl.bounds(), lvl.delta(),
                        self._geometry(lvl, levels[l + 1].shape) if l + 1 < len(levels) else None)
                       for l, lvl in enumerate(levels)]
        self._residual_stencils()
        self._coarse = sla.cho_factor(self.matrix(len(levels) - 1).toarray(), lower=True)

    def _residual_stencils(self):
        """Per level, the stencil rows that are not all zero (and their offsets), for residuals.

        A 5-/7-point fine matrix is stored on 3^d offsets; its residuals then touch 5 or 7
        of the 9/27 rows instead of all of them.  (Galerkin coarse levels are full.)
        """
        self._resid = []
        for lvl, (_, delta, _) in zip(self.levels, self._loops):
            active = np.flatnonzero(np.any(lvl.S != 0, axis=1))
            self._resid.append((np.ascontiguousarray(lvl.S[active]), np.ascontiguousarray(delta[active])))

    def with_transposes(self, smoothers):
        """``[(K_l, K_lᵀ)]``: smoothers with their transposed stencils, for a faster :meth:`vcycle`.

        Examples
        --------
        >>> from learnsolve.problems import poisson, grid_stencil
        >>> S, shape = grid_stencil(poisson((16, 16)).A)
        >>> H = GridHierarchy(S, shape)
        >>> K = [0.2 * (lvl.S[4:5] != 0) * np.eye(9)[:, 4:5] for lvl in H.levels[:-1]]
        >>> b = np.ones(256)
        >>> bool(np.allclose(H.vcycle(b, H.with_transposes(K)), H.vcycle(b, K)))
        True
        """
        out = []
        for Kl, (bounds, delta, _) in zip(smoothers, self._loops):
            KT = np.zeros_like(Kl)
            K_.transpose_stencil(Kl, delta, self._mirror, KT, *bounds)
            out.append((Kl, KT))
        return out

    def _geometry(self, fine, cshape):
        cPz, cPy, cPx = padded_shape(cshape)
        fPz, fPy, fPx = fine.padded
        cz0, cz1 = (1, cPz - 1) if self.dim == 3 else (0, 1)
        sz = 2 if self.dim == 3 else 0
        return cz0, cz1, cPy, cPx, fPz, fPy, fPx, sz

    def _coarsen(self, fine, cshape):
        m = len(self._offs)
        cz0, cz1, cPy, cPx, fPz, fPy, fPx, sz = self._geometry(fine, cshape)
        Nc = int(np.prod(padded_shape(cshape)))
        Pc = np.zeros((m, Nc))
        order, num_o, num_t, den_o = self._plan
        K_.boxmg_prolongation(fine.S, self._offs, order, num_o, num_t, den_o, Pc, cz0, cz1, cPy, cPx,
                              fPz, fPy, fPx, sz, self.dim == 3)
        Sc = np.zeros((m, Nc))
        cdelta = GridLevel(Sc, cshape).delta()
        active = np.any(fine.S != 0, axis=1)  # a 5-/7-point fine stencil: skip its zero rows
        terms = self._terms[active[self._terms[:, 3]]]
        K_.galerkin(fine.S, Pc, terms, np.flatnonzero(active), fine.delta(), cdelta, Sc,
                    cz0, cz1, cPy, cPx, fPy, fPx, sz)
        return Pc, Sc

    def astype(self, dtype):
        """A copy whose stencils and interpolation weights are stored in ``dtype``.

        A float32 hierarchy halves the memory traffic of :meth:`vcycle` (which
        then computes in float32); the coarsest solve stays float64.
        """
        import copy

        H = copy.copy(self)
        H.levels = [GridLevel(lvl.S.astype(dtype), lvl.shape,
                              None if lvl.Pc is None else lvl.Pc.astype(dtype)) for lvl in self.levels]
        H._residual_stencils()
        return H

    def matrix(self, l):
        """Level ``l``'s operator as a SciPy CSR array (``l = 0`` is the fine matrix)."""
        lvl = self.levels[l]
        return stencil_to_csr(lvl.S.reshape((len(self._offs),) + lvl.padded), lvl.shape)

    def prolongation(self, l):
        """The interpolation ``P`` from level ``l + 1`` to level ``l`` as a SciPy CSR array.

        ``self.matrix(l + 1)`` equals ``Pᵀ @ self.matrix(l) @ P`` (Galerkin), to round-off.

        Examples
        --------
        >>> from learnsolve.problems import poisson, grid_stencil
        >>> H = GridHierarchy(*grid_stencil(poisson((31, 31)).A))
        >>> P = H.prolongation(0)
        >>> P.shape
        (961, 225)
        >>> float(abs(P.T @ H.matrix(0) @ P - H.matrix(1)).max()) < 1e-12
        True
        """
        fine, coarse = self.levels[l], self.levels[l + 1]
        cshape = (1,) * (3 - self.dim) + coarse.shape
        fshape = (1,) * (3 - self.dim) + fine.shape
        lo = 1 if self.dim == 3 else 0  # padded z index of the first interior cell
        Pc = fine.Pc.reshape((len(self._offs),) + coarse.padded)
        cz, cy, cx = np.meshgrid(*(np.arange(s) for s in cshape), indexing="ij")
        col = np.ravel_multi_index((cz, cy, cx), cshape).ravel()
        sz = 2 if self.dim == 3 else 1
        rows, cols, vals = [], [], []
        for q, (oz, oy, ox) in enumerate(self._offs):
            # fine interior index of coarse cell c's neighbour q: fine centre 2c + 1 (+ offset)
            f = (sz * cz + (sz - 1) + oz, 2 * cy + 1 + oy, 2 * cx + 1 + ox)
            w = Pc[q, cz + lo, cy + 1, cx + 1]
            keep = (w != 0) & np.all([(a >= 0) & (a < s) for a, s in zip(f, fshape)], axis=0)
            rows.append(np.ravel_multi_index(tuple(a[keep] for a in f), fshape))
            cols.append(col[keep.ravel()])
            vals.append(w[keep])
        return sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(fine.n, coarse.n))

    @property
    def dtype(self):
        return self.levels[0].S.dtype

    @property
    def operator_complexity(self):
        """Stored stencil entries of all levels over those of the finest."""
        return sum(lvl.n for lvl in self.levels) / self.levels[0].n

    # ------------------------------------------------------------------ apply
    def vcycle(self, b, smoothers, nu=1):
        """One V-cycle ``x ≈ A⁻¹ b`` for a flat interior vector ``b``.

        ``smoothers[l]`` is a padded ``(m, N_l)`` stencil ``K`` for level ``l``
        (all but the coarsest, in the hierarchy's dtype), or the pair ``(K, Kᵀ)`` from
        :meth:`with_transposes` (the same cycle, faster): ``nu`` sweeps ``x += K (b - A x)``
        before the coarse correction and ``nu`` sweeps with ``Kᵀ`` after it.
        """
        lvl = self.levels[0]
        bp = np.zeros(int(np.prod(lvl.padded)), dtype=self.dtype)
        interior(bp.reshape(lvl.padded), self.dim)[...] = b.reshape(
            (1,) * (3 - self.dim) + lvl.shape)
        x = self._cycle(0, bp, smoothers, nu)
        return interior(x.reshape(lvl.padded), self.dim).reshape(-1).copy()

    def vcycle_padded(self, b, smoothers, nu=1):
        """:meth:`vcycle` on a flat padded fine-grid vector (ghosts zero); returns padded ``x``."""
        return self._cycle(0, b, smoothers, nu)

    def residual_padded(self, b, x):
        """``b − A x`` on the finest grid for flat padded vectors (ghosts of the result zero)."""
        bounds, delta, _ = self._loops[0]
        r = np.zeros_like(b)
        S, delta = self._resid[0]
        K_.residual(S, delta, b, x, r, *bounds)
        return r

    def _cycle(self, l, b, smoothers, nu):
        lvl = self.levels[l]
        if l == len(self.levels) - 1:
            x = np.zeros_like(b)
            xi, bi = (interior(v.reshape(lvl.padded), self.dim) for v in (x, b))
            xi[...] = sla.cho_solve(self._coarse, bi.reshape(-1)).reshape(xi.shape)
            return x
        bounds, delta, (cz0, cz1, cPy, cPx, fPz, fPy, fPx, sz) = self._loops[l]
        Kl, KTl = smoothers[l] if isinstance(smoothers[l], tuple) else (smoothers[l], None)
        Sr, dr = self._resid[l]
        x = np.zeros_like(b)
        r = np.zeros_like(b)
        for s in range(nu):
            if s == 0:
                K_.add_matvec(Kl, delta, b, x, *bounds)
            else:
                K_.residual(Sr, dr, b, x, r, *bounds)
                K_.add_matvec(Kl, delta, r, x, *bounds)
        K_.residual(Sr, dr, b, x, r, *bounds)
        bc = np.zeros(self.levels[l + 1].S.shape[1], dtype=b.dtype)
        K_.restrict(lvl.Pc, delta, r, bc, cz0, cz1, cPy, cPx, fPy, fPx, sz)
        ec = self._cycle(l + 1, bc, smoothers, nu)
        K_.prolong_add(lvl.Pc, self._offs, ec, x, bounds[0], bounds[1], fPy, fPx, cPy, cPx,
                       self.dim == 3)
        for _ in range(nu):
            K_.residual(Sr, dr, b, x, r, *bounds)
            if KTl is None:
                K_.add_rmatvec(Kl, delta, self._mirror, r, x, *bounds)
            else:
                K_.add_matvec(KTl, delta, r, x, *bounds)
        return x
