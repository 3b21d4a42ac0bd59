"""Grid levels in torch, on any device and for a batch of problems of one grid size.

The same arithmetic as the host kernels of :mod:`learnsolve.ops` (their
reference: the tests compare the two), vectorized over all cells of a level
with strided slices of padded tensors, so a CUDA tensor never leaves the GPU
and the cycle is differentiable (training).  Stencils are
``(B, m, Pz, Py, Px)``, grid vectors ``(B, Pz, Py, Px)`` (padded, ghosts
zero); an interpolation ``Pc`` is ``(B, m, cPz, cPy, cPx)`` on the coarse
padded grid, ``Pc[q, c]`` the weight of coarse cell ``c`` at fine cell
``fine(c) + o_q`` with ``fine(c) = 2c`` (``z`` too in 3D) in padded
coordinates.  A smoother stencil with one row is centre-only (diagonal).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..ops import stencil as kernels
from ._hierarchy import Hierarchy, Level
from ._layout import GridLevel, GridTransfer, coarse_shape, interior_slices, offsets, padded_shape
from ._stencil import stencil_to_csr


def pad_grid(x, dim):
    """Zero ghost layers around ``(..., [z,] y, x)`` interior values."""
    return F.pad(x, (1, 1, 1, 1, 1, 1) if dim == 3 else (1, 1, 1, 1))


def shifted(x, dim, o):
    """``x[p + o]`` for the interior cells ``p`` of padded ``x`` (..., Pz, Py, Px)."""
    return x[(Ellipsis,) + interior_slices(dim, tuple(x.shape[-3:]), o)]


def stencil_matvec(S, x, dim):
    """``S x`` for padded stencils ``S`` (B, m, Pz, Py, Px) and ``x`` (B, Pz, Py, Px).

    ``S`` with one row (``m = 1``) is centre-only.
    """
    inner = interior_slices(dim, tuple(x.shape[-3:]))
    if S.shape[1] == 1:
        return pad_grid(S[(slice(None), 0) + inner] * x[(slice(None),) + inner], dim)
    y = 0
    for k, o in enumerate(offsets(dim)):
        y = y + S[(slice(None), k) + inner] * shifted(x, dim, o)
    return pad_grid(y, dim)


def stencil_rmatvec(S, x, dim):
    """``Sᵀ x`` for padded stencils ``S`` (B, m, Pz, Py, Px)."""
    if S.shape[1] == 1:
        return stencil_matvec(S, x, dim)
    m = S.shape[1]
    y = 0
    for k, o in enumerate(offsets(dim)):
        y = y + shifted(S[:, m - 1 - k] * x, dim, o)
    return pad_grid(y, dim)


def _fine_slices(dim, cpadded, off, step=2):
    """Padded-fine slices of ``fine(c) + off`` over all interior coarse cells ``c``."""
    cPz, cPy, cPx = cpadded
    ny, nx = cPy - 2, cPx - 2
    ys = slice(step + off[1], step + off[1] + step * ny, step)
    xs = slice(step + off[2], step + off[2] + step * nx, step)
    if dim == 2:
        return slice(0, 1), ys, xs
    nz = cPz - 2
    return slice(step + off[0], step + off[0] + step * nz, step), ys, xs


class TorchGridOperator(GridLevel):
    """A level's matrix as padded torch stencils ``S`` (B, m, Pz, Py, Px) on ``grid``."""

    def __init__(self, S, grid):
        super().__init__(grid)
        self.S = S

    def __repr__(self):
        return f"{super().__repr__()[:-1]} on {self.S.device}>"

    def astype(self, dtype):
        return TorchGridOperator(self.S.to(dtype), self.grid)

    def residual(self, b, x):
        return b - stencil_matvec(self.S, x, self.dim)

    def __matmul__(self, x):
        return stencil_matvec(self.S, x, self.dim)

    def pad(self, b):
        """``(n,)`` or ``(B, n)`` interior vectors -> padded ``(B, Pz, Py, Px)`` (a batch of 1 for
        a flat vector)."""
        b = b.reshape(-1, self.n)
        return pad_grid(b.reshape((b.shape[0],) + ((1,) if self.dim == 2 else ()) + self.grid),
                        self.dim)

    def unpad(self, x):
        """Padded ``(B, Pz, Py, Px)`` -> ``(B, n)`` interior vectors."""
        return x[(slice(None),) + interior_slices(self.dim, tuple(x.shape[-3:]))].reshape(
            x.shape[0], -1)

    def tocsr(self, i=0):
        """Batch entry ``i``'s matrix as a SciPy CSR array."""
        return stencil_to_csr(self.S[i].detach().cpu().double().numpy(), self.grid)

    def jacobi(self, omega):
        """Damped Jacobi ``ω / a_pp`` as a centre-only stencil ``(B, 1, Pz, Py, Px)``."""
        d = self.S[:, self.S.shape[1] // 2:self.S.shape[1] // 2 + 1]
        return torch.where(d > 0, omega / torch.where(d > 0, d, 1.0), 0.0)

    def smoothers(self, K, KT=None, sweeps=1):
        """``(pre, post)`` smoothers for stencils ``K`` (``Kᵀ`` applied on the fly)."""
        return TorchSmoother(K, self.dim, sweeps), TorchSmoother(K, self.dim, sweeps, transpose=True)


class TorchSmoother:
    """``sweeps`` of ``x += K (b − A x)`` (or with ``Kᵀ``), functional (differentiable)."""

    def __init__(self, K, dim, sweeps=1, transpose=False):
        self.K, self.dim, self.sweeps = K, dim, int(sweeps)
        self._apply = stencil_rmatvec if transpose else stencil_matvec

    def __call__(self, A, b, x):
        for _ in range(self.sweeps):
            x = self._apply(self.K, b, self.dim) if x is None else \
                x + self._apply(self.K, A.residual(b, x), self.dim)
        return x


class TorchInterpolation(GridTransfer):
    """Interpolation ``P`` from a coarse grid as per-coarse-cell weights ``Pc`` (B, m, cPz, cPy, cPx)."""

    def astype(self, dtype):
        return TorchInterpolation(self.Pc.to(dtype), self.fine, self.coarse)

    def _slices(self, o, nz, ny, nx):
        z = slice(2 + o[0], 2 + o[0] + 2 * nz, 2) if self.dim == 3 else slice(0, 1)
        return z, slice(2 + o[1], 2 + o[1] + 2 * ny, 2), slice(2 + o[2], 2 + o[2] + 2 * nx, 2)

    def __matmul__(self, e):
        Pc, dim = self.Pc, self.dim
        cint = interior_slices(dim, tuple(Pc.shape[-3:]))
        ec = e[(slice(None),) + cint]
        nz, ny, nx = ec.shape[-3:]
        fpadded = padded_shape(self.fine)
        out = torch.zeros((e.shape[0],) + fpadded, dtype=e.dtype, device=e.device)
        for q, o in enumerate(offsets(dim)):
            fsl = (slice(None),) + self._slices(o, nz, ny, nx)
            out[fsl] = out[fsl] + Pc[(slice(None), q) + cint] * ec
        # cells beyond the fine interior (ghosts) must stay zero
        mask = torch.zeros(fpadded, dtype=e.dtype, device=e.device)
        mask[interior_slices(dim, fpadded)] = 1
        return out * mask

    def prolong_add(self, x, e):
        return x + self @ e


class TorchRestriction:
    """``R = Pᵀ`` of a :class:`TorchInterpolation`."""

    def __init__(self, P):
        self.P = P
        self.shape = P.shape[::-1]

    @property
    def T(self):
        return self.P

    def __matmul__(self, r):
        P = self.P
        cint = interior_slices(P.dim, tuple(P.Pc.shape[-3:]))
        nz, ny, nx = P.Pc[(slice(None), 0) + cint].shape[-3:]
        y = 0
        for q, o in enumerate(offsets(P.dim)):
            y = y + P.Pc[(slice(None), q) + cint] * r[(slice(None),) + P._slices(o, nz, ny, nx)]
        return pad_grid(y, P.dim)


TorchInterpolation.restriction = TorchRestriction


class TorchDenseSolver:
    """``b ↦ A⁻¹ b`` on the coarsest grid with dense inverses (B, nc, nc)."""

    def __init__(self, inverse, grid):
        self.inverse, self.grid, self.dim = inverse, tuple(grid), len(grid)

    def astype(self, dtype):
        return TorchDenseSolver(self.inverse.to(dtype), self.grid)

    def __call__(self, b):
        bi = b[(slice(None),) + interior_slices(self.dim, tuple(b.shape[-3:]))]
        x = torch.einsum("bij,bj->bi", self.inverse, bi.reshape(b.shape[0], -1))
        return pad_grid(x.reshape(bi.shape), self.dim)


def boxmg_prolongation(S, dim, cshape):
    """Black-box interpolation ``Pc`` (m, cPz, cPy, cPx) from ``cshape`` to the level of ``S``.

    Vectorized form of :func:`learnsolve.ops.stencil.boxmg_prolongation`: for
    each offset ``q`` in its processing order, ``P[f, C] = -Σ S[o, f]·P[f + o|F, C]
    / Σ_{o|F = 0} S[o, f]`` at ``f = fine(C) + o_q`` for all coarse cells at once.
    """
    offs = offsets(dim)
    m = len(offs)
    order, num_o, num_t, den_o = kernels.boxmg_plan(offs)
    cpadded = padded_shape(cshape)
    Pc = torch.zeros((m,) + cpadded, dtype=S.dtype, device=S.device)
    inner = interior_slices(dim, cpadded)
    Pc[(m // 2,) + inner] = 1.0
    for q in order:
        Sq = S[(slice(None),) + _fine_slices(dim, cpadded, offs[q])]  # S at fine(C) + o_q, all C
        num = torch.zeros_like(Sq[0])
        for o, t in zip(num_o[q], num_t[q]):
            if o < 0:
                break
            num = num + Sq[o] * Pc[(t,) + inner]
        den = sum(Sq[o] for o in den_o[q] if o >= 0)  # ghost cells have S = 0, so den = 0 there
        Pc[(q,) + inner] = torch.where(den > 0, -num / torch.where(den > 0, den, 1.0), 0.0)
    return Pc


def galerkin(S, Pc, dim):
    """Coarse stencils ``Pᵀ S P`` (padded), by stencil arithmetic on ``S``'s device.

    One fused multiply-add per term ``(D, qa, qb, o)`` of
    :func:`learnsolve.ops.stencil.galerkin_terms` (terms on all-zero stencil
    rows skipped), each over all coarse cells.
    """
    offs = offsets(dim)
    m = len(offs)
    terms = kernels.galerkin_terms(offs, np.array([2 if dim == 3 else 0, 2, 2]))
    active = torch.any(S.reshape(m, -1) != 0, dim=1).cpu().numpy()
    terms = terms[active[terms[:, 3]]]
    cpadded = tuple(Pc.shape[1:])
    inner = interior_slices(dim, cpadded)
    Sc = torch.zeros_like(Pc)
    # W[qa][o] = P[qa, C] · S[o, fine(C) + o_qa], over the coarse interior
    W = [S[(slice(None),) + _fine_slices(dim, cpadded, offs[qa])] * Pc[(qa,) + inner]
         for qa in range(m)]
    for D in range(m):
        sel = terms[terms[:, 0] == D]
        if not len(sel):
            continue
        acc = torch.zeros_like(W[0][0])
        for _, qa, qb, o in sel:
            acc.addcmul_(W[qa][o], Pc[(qb,) + interior_slices(dim, cpadded, offs[D])])
        Sc[(D,) + inner] = acc
    return Sc


def dense(S, shape):
    """The dense matrix of padded stencils ``S`` (m, Pz, Py, Px) (a small coarsest level)."""
    dim = len(shape)
    n = int(np.prod(shape))
    padded = padded_shape(shape)
    inner = interior_slices(dim, padded)
    idx = torch.full(padded, -1, dtype=torch.int64, device=S.device)
    idx[inner] = torch.arange(n, device=S.device).reshape((1,) * (3 - dim) + tuple(shape))
    A = torch.zeros((n, n), dtype=S.dtype, device=S.device)
    rows = idx[inner].reshape(-1)
    for k, o in enumerate(offsets(dim)):
        cols = idx[interior_slices(dim, padded, o)].reshape(-1)
        vals = S[(k,) + inner].reshape(-1)
        keep = cols >= 0
        A[rows[keep], cols[keep]] += vals[keep]
    return A


def torch_grid_hierarchy(S, shape, *, coarsest=64):
    """The grid :class:`Hierarchy` of padded torch stencils ``S`` (m, Pz, Py, Px), built on their
    device (a batch of one; no smoothers yet)."""
    shape = tuple(int(s) for s in shape)
    dim = len(shape)
    ops, interps = [TorchGridOperator(S[None], shape)], []
    while ops[-1].n > coarsest and min(ops[-1].grid) >= 3:
        fine = ops[-1]
        cshape = coarse_shape(fine.grid)
        Pc = boxmg_prolongation(fine.S[0], dim, cshape)
        interps.append(TorchInterpolation(Pc[None], fine.grid, cshape))
        ops.append(TorchGridOperator(galerkin(fine.S[0], Pc, dim)[None], cshape))
    L, fail = torch.linalg.cholesky_ex(dense(ops[-1].S[0], ops[-1].grid))
    if int(fail):
        raise ValueError("learnsolve.multigrid.grid_hierarchy: the coarsest grid's operator is not "
                         "positive definite, so `A` is not SPD; pass an SPD matrix.")
    return _levels(ops, interps, torch.cholesky_inverse(L)[None])


def _levels(ops, interps, inverse):
    levels = [Level(A, P=P, R=P.T) for A, P in zip(ops, interps)]
    levels.append(Level(ops[-1], coarse_solver=TorchDenseSolver(inverse, ops[-1].grid)))
    return Hierarchy(levels)


def stack(hierarchies, dtype=None):
    """A batch of host grid hierarchies of one grid size as one torch :class:`Hierarchy`.

    Used for training (a batch of problems through one differentiable cycle)
    and as the reference the host kernels are tested against.

    Parameters
    ----------
    hierarchies : list of Hierarchy
        From :func:`learnsolve.multigrid.grid_hierarchy` on the host, all on one grid.
    dtype : torch.dtype, optional
        Default ``torch.float64``.
    """
    import scipy.linalg as sla

    first = hierarchies[0]
    dtype = dtype or torch.float64

    def batch(get):
        return torch.as_tensor(np.stack([get(H) for H in hierarchies]), dtype=dtype)

    ops, interps = [], []
    for l, lvl in enumerate(first.levels):
        ops.append(TorchGridOperator(batch(lambda H, l=l: H.levels[l].A.stencil()), lvl.A.grid))
        if lvl.P is not None:
            shape = (3 ** lvl.A.dim,) + padded_shape(lvl.P.coarse)
            Pc = batch(lambda H, l=l, shape=shape: H.levels[l].P.Pc.reshape(shape))
            interps.append(TorchInterpolation(Pc, lvl.P.fine, lvl.P.coarse))
    inverse = batch(lambda H: sla.inv(H.levels[-1].A.tocsr().toarray()))
    return _levels(ops, interps, inverse)
