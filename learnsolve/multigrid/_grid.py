"""Grid levels on the host: padded stencils applied by the numba kernels of :mod:`learnsolve.ops`.

:func:`host_grid_hierarchy` builds the levels from a fine stencil: black-box
(operator-dependent) interpolation, Galerkin coarse stencils ``Pᵀ A P`` by
stencil arithmetic, a direct solve on the coarsest grid (:func:`coarsest_cells`
decides where coarsening stops: dense Cholesky up to 64 cells, a sparse LU
above).  Each
level part owns the buffer it writes (the residual, the restricted
right-hand side, the smoothed iterate, the coarse solution): a cycle
allocates nothing, and ghost cells stay zero because every kernel writes
interior cells only.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..ops import stencil as kernels
from ._hierarchy import Hierarchy, Level
from ._layout import (
    GridLevel,
    GridTransfer,
    coarse_shape,
    flat_offsets,
    interior,
    loop_bounds,
    mirror,
    offsets,
    padded_shape,
)
from ._stencil import stencil_to_csr


class GridOperator(GridLevel):
    """A level's matrix as padded stencils ``S`` (``(m, N)``, ``N`` padded cells) on ``grid``.

    ``residual(b, x)`` and ``A @ x`` act on flat padded vectors; ``pad``/``unpad``
    map flat interior vectors to them and back.  Smoother stencils for this level
    (:meth:`smoothers`) are cell-major, ``(N, m)``.
    """

    def __init__(self, S, grid):
        super().__init__(grid)
        self.S = np.ascontiguousarray(np.asarray(S).reshape(3 ** self.dim, -1))
        self.bounds = loop_bounds(self.grid)
        self.delta = flat_offsets(self.grid)
        # residuals read the rows that are not all zero (5/7 of 9/27 on a fine 5/7-point
        # matrix), cell by cell (the cycle's kernels take cell-major stencils)
        self.active = np.flatnonzero(kernels.nonzero_rows(self.S))
        self._Sr = np.ascontiguousarray(self.S[self.active].T)
        self._dr = np.ascontiguousarray(self.delta[self.active])
        self._r = self._b = None  # buffers, made on first use

    def _buffer(self):
        return np.zeros(self.S.shape[1], dtype=self.dtype)

    def astype(self, dtype):
        return GridOperator(self.S.astype(dtype), self.grid)

    def residual(self, b, x):
        """``b − A x`` (into this operator's buffer)."""
        if self._r is None:
            self._r = self._buffer()
        kernels.residual(self._Sr, self._dr, b, x, self._r, *self.bounds)
        return self._r

    def __matmul__(self, x):
        y = np.zeros_like(x)
        kernels.matvec(self._Sr, self._dr, x, y, *self.bounds, False)
        return y

    def pad(self, b):
        """A flat vector of the grid's cells in this operator's padded buffer (ghosts zero)."""
        if self._b is None:
            self._b = self._buffer()
        interior(self._b.reshape(self.padded), self.dim)[...] = b.reshape(
            (1,) * (3 - self.dim) + self.grid)
        return self._b

    def unpad(self, x):
        """The interior of a flat padded vector as a new flat array."""
        return interior(x.reshape(self.padded), self.dim).reshape(-1).copy()

    def stencil(self):
        """``S`` as ``(m, Pz, Py, Px)``."""
        return self.S.reshape((self.S.shape[0],) + self.padded)

    def tocsr(self):
        """The level's matrix as a SciPy CSR array."""
        return stencil_to_csr(self.stencil(), self.grid)

    def jacobi(self, omega):
        """The damped-Jacobi smoother ``ω / a_pp`` as a centre-only stencil ``(N, 1)``."""
        d = self.S[len(self.delta) // 2]
        return np.where(d > 0, omega / np.where(d > 0, d, 1.0), 0.0)[:, None]

    def mirror_of(self, live):
        """For offsets ``live`` (indices into the ``m`` offsets, closed under ``o → −o``): the
        position in ``live`` of each one's mirror."""
        where = np.full(len(self.delta), -1, dtype=np.int64)
        where[live] = np.arange(len(live))
        return where[mirror(self.dim)[live]]

    def smoothers(self, K, KT=None, sweeps=1):
        """``(pre, post)`` smoothers for a cell-major smoother stencil ``K``: ``(N, m)`` (every
        offset), ``(N, a)`` (the ``a`` offsets of this level's pattern, :attr:`active`), or
        ``(N, 1)`` for the centre alone; ``KT``, when given, is ``Kᵀ``'s, of ``K``'s shape."""
        K = np.ascontiguousarray(K)
        widths = {1: None, len(self.delta): np.arange(len(self.delta)), len(self.active): self.active}
        if K.ndim != 2 or K.shape[0] != self.S.shape[1] or K.shape[1] not in widths:
            raise ValueError(f"learnsolve.multigrid: a host grid smoother stencil is cell-major "
                             f"({self.S.shape[1]}, {len(self.delta)}), ({self.S.shape[1]}, "
                             f"{len(self.active)}) (A's pattern) or ({self.S.shape[1]}, 1); "
                             f"got shape {K.shape}.")
        if K.shape[1] == 1:  # a diagonal smoother is its own transpose
            delta = np.zeros(1, dtype=np.int64)  # the centre offset
            return (StencilSmoother(self, K, delta, sweeps),
                    StencilSmoother(self, K, delta, sweeps))
        live = widths[K.shape[1]]
        delta = np.ascontiguousarray(self.delta[live])
        if KT is None:
            KT = np.zeros_like(K)
            kernels.transpose_stencil(K, delta, self.mirror_of(live), KT, *self.bounds)
        return (StencilSmoother(self, K, delta, sweeps),
                StencilSmoother(self, np.ascontiguousarray(KT), delta, sweeps))


class StencilSmoother:
    """``sweeps`` of ``x += K (b − A x)`` with a cell-major padded smoother stencil ``K``.

    From a zero initial guess the first sweep is ``x = K b`` (into this
    smoother's buffer).
    """

    def __init__(self, A, K, delta, sweeps=1):
        self.K, self.delta, self.sweeps = K, np.ascontiguousarray(delta), int(sweeps)
        self.bounds = A.bounds
        self._x = None  # the iterate's buffer (from a zero initial guess), made on first use

    def __call__(self, A, b, x):
        sweeps = self.sweeps
        if x is None:
            if self._x is None:
                self._x = A._buffer()
            x = self._x
            kernels.matvec(self.K, self.delta, b, x, *self.bounds, False)
            sweeps -= 1
        for _ in range(sweeps):
            kernels.matvec(self.K, self.delta, A.residual(b, x), x, *self.bounds, True)
        return x


class GridInterpolation(GridTransfer):
    """Interpolation ``P`` from a coarse grid, stored per coarse cell (``Pc``, ``(m, Nc)``)."""

    def __init__(self, Pc, fine_grid, coarse_grid):
        super().__init__(Pc, fine_grid, coarse_grid)
        self._offs = offsets(self.dim)
        cPz, cPy, cPx = padded_shape(self.coarse)
        fPz, fPy, fPx = padded_shape(self.fine)
        self._fine_bounds = loop_bounds(self.fine)
        self._delta = flat_offsets(self.fine)
        self._geometry = ((1, cPz - 1) if self.dim == 3 else (0, 1)) + (cPy, cPx, fPy, fPx,
                                                                         2 if self.dim == 3 else 0)

    def astype(self, dtype):
        return GridInterpolation(self.Pc.astype(dtype), self.fine, self.coarse)

    def prolong_add(self, x, e):
        """``x += P e`` in place (flat padded vectors); returns ``x``."""
        z0, z1, fPy, fPx = self._fine_bounds
        _, _, cPy, cPx, _, _, _ = self._geometry
        kernels.prolong_add(self.Pc, e, x, z0, z1, fPy, fPx, cPy, cPx, self.dim == 3)
        return x

    def __matmul__(self, e):
        return self.prolong_add(np.zeros(int(np.prod(padded_shape(self.fine))), dtype=e.dtype), e)

    def tocsr(self):
        """``P`` as a SciPy CSR array (``n_fine × n_coarse``).

        Examples
        --------
        >>> from learnsolve.problems import poisson
        >>> from learnsolve.multigrid import grid_hierarchy
        >>> H = grid_hierarchy(poisson((31, 31)).A)
        >>> P = H.levels[0].P.tocsr()
        >>> P.shape
        (961, 225)
        >>> A0, A1 = H.levels[0].A.tocsr(), H.levels[1].A.tocsr()
        >>> float(abs(P.T @ A0 @ P - A1).max()) < 1e-12
        True
        """
        dim = self.dim
        cshape = (1,) * (3 - dim) + self.coarse
        fshape = (1,) * (3 - dim) + self.fine
        lo = 1 if dim == 3 else 0  # padded z index of the first interior cell
        Pc = self.Pc.reshape((len(self._offs),) + padded_shape(self.coarse))
        cz, cy, cx = np.meshgrid(*(np.arange(s) for s in cshape), indexing="ij")
        col = np.ravel_multi_index((cz, cy, cx), cshape).ravel()
        sz = 2 if dim == 3 else 1
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
                            shape=self.shape)


class GridRestriction:
    """``R = Pᵀ`` of a :class:`GridInterpolation`; ``R @ r`` writes into its own buffer."""

    def __init__(self, P):
        self.P = P
        self.shape = P.shape[::-1]
        self._rc = None  # the coarse right-hand side's buffer, made on first use

    @property
    def T(self):
        return self.P

    def __matmul__(self, r):
        P = self.P
        cz0, cz1, cPy, cPx, fPy, fPx, sz = P._geometry
        if self._rc is None:
            self._rc = np.zeros(int(np.prod(padded_shape(P.coarse))), dtype=P.dtype)
        kernels.restrict(P.Pc, P._delta, r, self._rc, cz0, cz1, cPy, cPx, fPy, fPx, sz)
        return self._rc


GridInterpolation.restriction = GridRestriction


#: Coarsest grids up to this many cells get a dense Cholesky factor, larger ones a sparse LU.
DENSE_CELLS = 64


def coarsest_cells(shape):
    """How many cells the coarsest grid of a host hierarchy on ``shape`` may have.

    ``max(64, n / 256)`` in 2D and ``max(64, n / 512)`` in 3D, capped at
    16,384 and 4,096 cells: coarsening stops four (2D) or three (3D) halvings
    of every axis below the fine grid at the latest, and the coarsest grid is
    solved directly (a sparse LU above 64 cells).  Coefficient jumps of a size the coarse grids can no longer
    resolve are then still exact on the coarsest one: on 1024² fields of
    16×16 blocks of contrast 1e4 the learned cycle takes 9 iterations with a
    64×64 coarsest grid against 25 with 8×8, while the LU costs 10 ms of
    set-up and a small part of a fine-level sweep per cycle.  Smooth fields
    take the same iterations either way.

    Examples
    --------
    >>> from learnsolve.multigrid import coarsest_cells
    >>> coarsest_cells((1024, 1024)), coarsest_cells((100, 100, 100)), coarsest_cells((64, 64))
    (4096, 1953, 64)
    >>> coarsest_cells((8192, 8192)), coarsest_cells((512, 512, 512))
    (16384, 4096)
    """
    n = int(np.prod(shape))
    if len(shape) == 2:
        return min(max(DENSE_CELLS, n // 256), 16384)
    return min(max(DENSE_CELLS, n // 512), 4096)


def coarse_solver(A):
    """The direct solver of coarsest grid operator ``A``: dense Cholesky or a sparse LU."""
    return DenseCoarseSolver(A) if A.n <= DENSE_CELLS else SparseCoarseSolver(A)


class _CoarseSolver:
    """``b ↦ A⁻¹ b`` on the coarsest grid from a float64 factor of ``A`` (output in ``dtype``),
    in the padded layout of the grid levels; subclasses give ``_factor`` and ``_solve``."""

    def __init__(self, A, dtype=None):
        self.grid, self.dim, self.padded = A.grid, A.dim, A.padded
        self.factor = self._factor(A)
        self._x = np.zeros(int(np.prod(self.padded)), dtype=dtype or A.dtype)

    def astype(self, dtype):
        new = copy.copy(self)  # the factor is shared
        new._x = np.zeros_like(self._x, dtype=dtype)
        return new

    def __call__(self, b):
        xi = interior(self._x.reshape(self.padded), self.dim)
        bi = interior(b.reshape(self.padded), self.dim)
        rhs = np.ascontiguousarray(bi, dtype=np.float64).reshape(-1)
        xi[...] = self._solve(rhs).reshape(xi.shape)
        return self._x


class SparseCoarseSolver(_CoarseSolver):
    """The coarsest grid solved by a sparse LU (SuperLU)."""

    @staticmethod
    def _factor(A):
        try:
            return spla.splu(A.tocsr().tocsc())
        except RuntimeError:  # exactly singular
            raise ValueError("learnsolve.multigrid.grid_hierarchy: the coarsest grid's operator is "
                             "singular, so `A` is not SPD; pass an SPD matrix.") from None

    def _solve(self, rhs):
        return self.factor.solve(rhs)


class DenseCoarseSolver(_CoarseSolver):
    """The coarsest grid solved by a dense Cholesky factor."""

    @staticmethod
    def _factor(A):
        try:
            return sla.cho_factor(A.tocsr().toarray(), lower=True)
        except np.linalg.LinAlgError:
            raise ValueError("learnsolve.multigrid.grid_hierarchy: the coarsest grid's operator "
                             "is not positive definite, so `A` is not SPD; pass an SPD "
                             "matrix.") from None

    def _solve(self, rhs):
        return sla.cho_solve(self.factor, rhs)


def prolongation(fine, cshape, plan=None):
    """Black-box interpolation weights ``Pc`` (``(m, Nc)``, per padded coarse cell) to grid
    operator ``fine`` from the grid ``cshape`` (coarse cell ``c`` on fine cell ``2c + 1``)."""
    dim = fine.dim
    cPz, cPy, cPx = padded_shape(cshape)
    fPz, fPy, fPx = fine.padded
    cz0, cz1 = (1, cPz - 1) if dim == 3 else (0, 1)
    Pc = np.zeros((3 ** dim, cPz * cPy * cPx))
    order, num_o, num_t, den_o = plan if plan is not None else kernels.boxmg_plan(offsets(dim))
    kernels.boxmg_prolongation(fine.S, offsets(dim), order, num_o, num_t, den_o, Pc, cz0, cz1, cPy,
                               cPx, fPz, fPy, fPx, 2 if dim == 3 else 0, dim == 3)
    return Pc


def _coarsen(fine, cshape, plan, terms):
    """Black-box interpolation ``Pc`` to ``fine`` from ``cshape`` and the Galerkin stencil ``Sc``."""
    dim = fine.dim
    m = 3 ** dim
    cPz, cPy, cPx = padded_shape(cshape)
    fPz, fPy, fPx = fine.padded
    cz0, cz1 = (1, cPz - 1) if dim == 3 else (0, 1)
    sz = 2 if dim == 3 else 0
    Nc = cPz * cPy * cPx
    Pc = prolongation(fine, cshape, plan)
    Sc = np.zeros((m, Nc))
    active = np.zeros(m, dtype=bool)
    active[fine.active] = True  # a 5-/7-point fine stencil: skip its zero rows
    kernels.galerkin(fine.S, Pc, terms[active[terms[:, 3]]], fine.active, fine.delta,
                     flat_offsets(cshape), Sc, cz0, cz1, cPy, cPx, fPy, fPx, sz)
    return Pc, Sc


def host_grid_hierarchy(S, shape, *, coarsest=None):
    """The grid :class:`Hierarchy` of padded float64 stencils ``S`` on ``shape`` (no smoothers yet).

    Levels halve every axis until the grid has at most ``coarsest`` cells
    (default :func:`coarsest_cells`) or an axis has fewer than 3 cells; the
    coarsest is solved directly (:func:`coarse_solver`).
    """
    shape = tuple(int(s) for s in shape)
    coarsest = coarsest_cells(shape) if coarsest is None else int(coarsest)
    dim = len(shape)
    offs = offsets(dim)
    plan = kernels.boxmg_plan(offs)
    terms = kernels.galerkin_terms(offs, np.array([2 if dim == 3 else 0, 2, 2]))
    ops = [GridOperator(np.asarray(S, dtype=np.float64), shape)]
    interps = []
    while ops[-1].n > coarsest and min(ops[-1].grid) >= 3:
        fine = ops[-1]
        cshape = coarse_shape(fine.grid)
        Pc, Sc = _coarsen(fine, cshape, plan, terms)
        interps.append(GridInterpolation(Pc, fine.grid, cshape))
        ops.append(GridOperator(Sc, cshape))
    levels = [Level(A, P=P, R=P.T) for A, P in zip(ops, interps)]
    levels.append(Level(ops[-1], coarse_solver=coarse_solver(ops[-1])))
    return Hierarchy(levels)
