"""The grid V-cycle's set-up in torch, on any device: stencils, black-box interpolation, Galerkin.

The same arithmetic as the numba kernels of :mod:`learnsolve.ops._stencil`
(their reference here: tests compare the two), vectorized over all cells of
a level with strided slices of padded tensors, so a CUDA tensor never
leaves the GPU.  Layouts match :class:`learnsolve.ops.GridHierarchy`: a
level's stencil is ``(m, Pz, Py, Px)`` (padded, ghosts zero) and its
interpolation ``Pc`` is ``(m, cPz, cPy, cPx)`` on the coarse padded grid,
``Pc[q, c]`` the weight of coarse cell ``c`` at fine cell ``fine(c) + o_q``
with ``fine(c) = 2c`` (``z`` too in 3D) in padded coordinates.
"""

from __future__ import annotations

import numpy as np

from ..problems._stencil import interior_slices as _inner
from ..problems._stencil import offsets, padded_shape
from . import _stencil as K_


def _slices(dim, cpadded, off, step=2):
    """Padded-fine slices of ``fine(c) + off`` over all interior coarse cells ``c``."""
    cPz, cPy, cPx = cpadded
    ny, nx = cPy - 2, cPx - 2
    ys = slice(step + off[1], step + off[1] + step * ny, step)
    xs = slice(step + off[2], step + off[2] + step * nx, step)
    if dim == 2:
        return slice(0, 1), ys, xs
    nz = cPz - 2
    return slice(step + off[0], step + off[0] + step * nz, step), ys, xs


def grid_stencil_torch(A, shape):
    """Padded stencils ``(3^d, Pz, Py, Px)`` of a torch sparse CSR matrix on ``shape``, on its device.

    Raises ``ValueError`` when a nonzero couples cells that are not neighbours.
    """
    import torch

    shape = tuple(int(s) for s in shape)
    dim = len(shape)
    dev, dtype = A.device, A.values().dtype
    crow, col, val = A.crow_indices(), A.col_indices(), A.values()
    n = int(np.prod(shape))
    row = torch.repeat_interleave(torch.arange(n, device=dev), crow[1:] - crow[:-1])
    grid = (1,) * (3 - dim) + shape

    def coords(i):
        return i // (grid[1] * grid[2]), (i // grid[2]) % grid[1], i % grid[2]

    (zi, yi, xi), (zj, yj, xj) = coords(row), coords(col)
    dz, dy, dx = zj - zi, yj - yi, xj - xi
    if bool(((dz.abs() > 1) | (dy.abs() > 1) | (dx.abs() > 1)).any()):
        raise ValueError(f"learnsolve.ops.grid_stencil_torch: `A` couples cells that are not "
                         f"neighbours on a {'×'.join(map(str, shape))} grid; pass the right `shape`.")
    if dim == 2:
        k = (dy + 1) * 3 + (dx + 1)
    else:
        k = (dz + 1) * 9 + (dy + 1) * 3 + (dx + 1)
    Pz, Py, Px = padded_shape(shape)
    flat = ((zi + (dim == 3)) * Py + (yi + 1)) * Px + (xi + 1)
    S = torch.zeros((3 ** dim, Pz * Py * Px), dtype=dtype, device=dev)
    S.index_put_((k, flat), val, accumulate=True)
    return S.reshape((3 ** dim, Pz, Py, Px))


def boxmg_prolongation_torch(S, dim, cshape):
    """Black-box interpolation ``Pc`` from the coarse grid ``cshape`` to the level of ``S``.

    Vectorized form of :func:`learnsolve.ops._stencil.boxmg_prolongation`: for
    each offset ``q`` in its processing order, ``P[f, C] = -Σ S[o, f]·P[f + o|F, C]
    / Σ_{o|F = 0} S[o, f]`` at ``f = fine(C) + o_q`` for all coarse cells at once.
    """
    import torch

    offs = offsets(dim)
    m = len(offs)
    order, num_o, num_t, den_o = K_.boxmg_plan(offs)
    cpadded = padded_shape(cshape)
    Pc = torch.zeros((m,) + cpadded, dtype=S.dtype, device=S.device)
    inner = _inner(dim, cpadded)
    Pc[(m // 2,) + inner] = 1.0
    for q in order:
        Sq = S[(slice(None),) + _slices(dim, cpadded, offs[q])]  # S at fine(C) + o_q, all C
        num = torch.zeros_like(Sq[0])
        for o, t in zip(num_o[q], num_t[q]):
            if o < 0:
                break
            num = num + Sq[o] * Pc[(t,) + inner]
        den = sum(Sq[o] for o in den_o[q] if o >= 0)  # ghost cells have S = 0, so den = 0 there
        Pc[(q,) + inner] = torch.where(den > 0, -num / torch.where(den > 0, den, 1.0), 0.0)
    return Pc


def galerkin_torch(S, Pc, dim):
    """Coarse stencils ``Pᵀ S P`` (padded), by stencil arithmetic on ``S``'s device.

    One fused multiply-add per term ``(D, qa, qb, o)`` of
    :func:`learnsolve.ops._stencil.galerkin_terms` (terms on all-zero stencil
    rows skipped), each over all coarse cells.
    """
    import torch

    offs = offsets(dim)
    m = len(offs)
    scale = np.array([2 if dim == 3 else 0, 2, 2])
    terms = K_.galerkin_terms(offs, scale)
    active = torch.any(S.reshape(m, -1) != 0, dim=1).cpu().numpy()
    terms = terms[active[terms[:, 3]]]
    cpadded = tuple(Pc.shape[1:])
    inner = _inner(dim, cpadded)
    Sc = torch.zeros_like(Pc)
    # W[qa][o] = P[qa, C] · S[o, fine(C) + o_qa], over the coarse interior
    W = [S[(slice(None),) + _slices(dim, cpadded, offs[qa])] * Pc[(qa,) + inner] for qa in range(m)]
    for D in range(m):
        sel = terms[terms[:, 0] == D]
        if not len(sel):
            continue
        acc = torch.zeros_like(W[0][0])
        for _, qa, qb, o in sel:
            acc.addcmul_(W[qa][o], Pc[(qb,) + _inner(dim, cpadded, offs[D])])
        Sc[(D,) + inner] = acc
    return Sc


def hierarchy_torch(S, shape, *, coarsest=64):
    """Levels of :class:`learnsolve.ops.GridHierarchy`, built in torch on ``S``'s device.

    Returns ``(stencils, interpolations, shapes, coarse_inv)``: padded stencils
    per level, ``Pc`` per level but the coarsest, the grid shapes, and the
    inverse of the coarsest operator (dense, via Cholesky).
    """
    import torch

    from ._multigrid import coarse_shape

    shape = tuple(shape)
    dim = len(shape)
    stencils, interps, shapes = [S], [], [shape]
    while int(np.prod(shapes[-1])) > coarsest and min(shapes[-1]) >= 3:
        cshape = coarse_shape(shapes[-1])
        Pc = boxmg_prolongation_torch(stencils[-1], dim, cshape)
        stencils.append(galerkin_torch(stencils[-1], Pc, dim))
        interps.append(Pc)
        shapes.append(cshape)
    Ac = _dense(stencils[-1], shapes[-1])
    L = torch.linalg.cholesky(Ac)
    coarse_inv = torch.cholesky_inverse(L)
    return stencils, interps, shapes, coarse_inv


def _dense(S, shape):
    """The dense matrix of padded stencils ``S`` (a small coarsest level)."""
    import torch

    dim = len(shape)
    offs = offsets(dim)
    n = int(np.prod(shape))
    padded = padded_shape(shape)
    inner = _inner(dim, padded)
    idx = torch.full(padded, -1, dtype=torch.int64, device=S.device)
    idx[inner] = torch.arange(n, device=S.device).reshape((1,) * (3 - dim) + tuple(shape))
    A = torch.zeros((n, n), dtype=S.dtype, device=S.device)
    rows = idx[inner].reshape(-1)
    for k, o in enumerate(offs):
        cols = idx[_inner(dim, padded, o)].reshape(-1)
        vals = S[(k,) + inner].reshape(-1)
        keep = cols >= 0
        A[rows[keep], cols[keep]] += vals[keep]
    return A
