"""Learned smoothers for a grid V-cycle, and the V-cycle itself in torch (differentiable).

The network maps each cell's diagonally scaled stencil ``a_po / sqrt(a_pp a_oo)``
to a 3^d smoother stencil ``K`` (scaled back by ``1/sqrt(a_pp a_oo)``), cell by
cell and level by level, so one set of weights serves every grid size and
coefficient field.  The V-cycle is linear in its right-hand side whatever the
network does: the network only sees the matrix.  Pre-smoothing is
``x += K (b - A x)``, post-smoothing uses ``Kᵀ``, so the cycle is symmetric.

:class:`TorchHierarchy` runs the same V-cycle as
:meth:`learnsolve.ops.GridHierarchy.vcycle` with torch tensors (a batch of
problems of one grid size); it is used for training and as the reference
the numba kernels are tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..problems._stencil import interior_slices, offsets, padded_shape


def _sl(dim, P, o=(0, 0, 0)):
    """Slices of the interior of a padded ``(Pz, Py, Px)`` grid shifted by offset ``o``."""
    return interior_slices(dim, P, o)


def _pad(x, dim):
    return F.pad(x, (1, 1, 1, 1, 1, 1) if dim == 3 else (1, 1, 1, 1))


def shifted(x, dim, o):
    """``x[p + o]`` for interior cells ``p`` of padded ``x`` (..., Pz, Py, Px)."""
    return x[(Ellipsis,) + _sl(dim, x.shape[-3:], o)]


def stencil_matvec(S, x, dim):
    """``S x`` for padded stencils ``S`` (B, m, Pz, Py, Px) and ``x`` (B, Pz, Py, Px)."""
    offs = offsets(dim)
    inner = _sl(dim, x.shape[-3:])
    y = 0
    for k, o in enumerate(offs):
        y = y + S[(slice(None), k) + inner] * shifted(x, dim, o)
    return _pad(y, dim)


def stencil_rmatvec(S, x, dim):
    """``Sᵀ x``."""
    offs = offsets(dim)
    m = len(offs)
    y = 0
    for k, o in enumerate(offs):
        y = y + shifted(S[:, m - 1 - k] * x, dim, o)
    return _pad(y, dim)


def scaled_stencil(S, dim):
    """``(Ŝ, d)``: ``Ŝ[o, p] = S[o, p] / sqrt(d_p d_{p+o})`` (0 on ghosts) and ``1/sqrt(d)``."""
    offs = offsets(dim)
    c = len(offs) // 2
    d = S[:, c]
    inv = torch.where(d > 0, torch.rsqrt(torch.where(d > 0, d, torch.ones_like(d))),
                      torch.zeros_like(d))
    inner = _sl(dim, S.shape[-3:])
    out = []
    for k, o in enumerate(offs):
        out.append(S[(slice(None), k) + inner] * inv[(slice(None),) + inner] * shifted(inv, dim, o))
    return torch.stack(out, 1), inv


class SmootherNet(torch.nn.Module):
    """Per-cell MLP: scaled stencil (3^d − 1 values) → smoother stencil (3^d values).

    Starts (last layer zero) at damped Jacobi ``K = omega / a_pp``.

    Parameters
    ----------
    dim : {2, 3}
    hidden : int
    layers : int
        Hidden layers.
    omega : float
        Jacobi damping the output is a correction of.

    Examples
    --------
    >>> import torch
    >>> from learnsolve.problems import poisson, grid_stencil
    >>> net = SmootherNet(2)
    >>> S, _ = grid_stencil(poisson((8, 8)).A)
    >>> with torch.no_grad():
    ...     K = net.smoother(torch.as_tensor(S)[None])
    >>> K.shape, round(float(K[0, 4, 0, 3, 3]), 4)
    (torch.Size([1, 9, 1, 10, 10]), 0.1625)
    """

    def __init__(self, dim, hidden=32, layers=2, omega=0.65):
        super().__init__()
        self.dim = int(dim)
        m = len(offsets(self.dim))
        self.omega = float(omega)
        sizes = [m - 1] + [hidden] * layers
        mods = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            mods += [torch.nn.Linear(a, b), torch.nn.GELU()]
        last = torch.nn.Linear(sizes[-1], m)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        self.mlp = torch.nn.Sequential(*mods, last)

    def _mlp(self, feats, chunk=16384):
        """The MLP over cells; in inference, in chunks that keep activations in cache (3-4× faster)."""
        if torch.is_grad_enabled() or feats[..., 0].numel() <= chunk:
            return self.mlp(feats)
        flat = feats.reshape(-1, feats.shape[-1])
        out = torch.cat([self.mlp(flat[i:i + chunk]) for i in range(0, flat.shape[0], chunk)])
        return out.reshape(feats.shape[:-1] + (out.shape[-1],))

    def smoother(self, S):
        """Padded smoother stencil ``K`` (B, m, Pz, Py, Px) for padded stencils ``S``."""
        dim = self.dim
        offs = offsets(dim)
        m = len(offs)
        c = m // 2
        Sh, inv = scaled_stencil(S, dim)
        feats = torch.cat([Sh[:, :c], Sh[:, c + 1:]], 1).movedim(1, -1)
        kappa = self._mlp(feats.to(next(self.parameters()).dtype)).to(S.dtype).movedim(-1, 1)
        kappa = kappa + self.omega * F.one_hot(torch.tensor(c), m).to(S.device, S.dtype).view(1, m, 1, 1, 1)
        inner = _sl(dim, S.shape[-3:])
        out = []
        for k, o in enumerate(offs):
            scale = inv[(slice(None),) + inner] * shifted(inv, dim, o)
            out.append(kappa[:, k] * scale)
        return _pad(torch.stack(out, 1), dim)


class TorchHierarchy:
    """A batch of :class:`~learnsolve.ops.GridHierarchy` (same grid) as torch tensors.

    Parameters
    ----------
    hierarchies : list of GridHierarchy
        Built on grids of one shape (so their levels match).
    dtype : torch.dtype
    """

    def __init__(self, hierarchies, dtype=torch.float64):
        import numpy as np
        import scipy.linalg as sla

        from ..problems._stencil import stencil_to_csr

        h0 = hierarchies[0]
        self.dim = h0.dim
        self.shapes = [lvl.shape for lvl in h0.levels]
        self.padded = [lvl.padded for lvl in h0.levels]
        m = len(offsets(self.dim))

        def stack(get):
            return torch.as_tensor(np.stack([get(h) for h in hierarchies]), dtype=dtype)

        self.S = [stack(lambda h, i=i: h.levels[i].S.reshape((m,) + self.padded[i]))
                  for i in range(len(self.shapes))]
        self.Pc = [stack(lambda h, i=i: h.levels[i].Pc.reshape((m,) + self.padded[i + 1]))
                   for i in range(len(self.shapes) - 1)]
        inv = []
        for h in hierarchies:
            lvl = h.levels[-1]
            Ac = stencil_to_csr(lvl.S.reshape((m,) + lvl.padded), lvl.shape).toarray()
            inv.append(sla.inv(Ac))
        self.coarse_inv = torch.as_tensor(np.stack(inv), dtype=dtype)

    @classmethod
    def from_levels(cls, stencils, interps, shapes, coarse_inv):
        """One hierarchy from per-level tensors (:func:`learnsolve.ops.hierarchy_torch`), batch of 1."""
        self = cls.__new__(cls)
        self.dim = len(shapes[0])
        self.shapes = [tuple(s) for s in shapes]
        self.padded = [padded_shape(s) for s in self.shapes]
        self.S = [S[None] for S in stencils]
        self.Pc = [P[None] for P in interps]
        self.coarse_inv = coarse_inv[None]
        return self

    def pad(self, x):
        """(B, n) interior vectors → padded (B, Pz, Py, Px) fine-grid tensors."""
        B = x.shape[0]
        shape = (B,) + ((1,) if self.dim == 2 else ()) + tuple(self.shapes[0])
        return _pad(x.reshape(shape), self.dim)

    def unpad(self, x):
        return x[(slice(None),) + _sl(self.dim, x.shape[-3:])].reshape(x.shape[0], -1)

    def restrict(self, l, r):
        Pc = self.Pc[l]
        offs = offsets(self.dim)
        cint = _sl(self.dim, Pc.shape[-3:])
        nz, ny, nx = (Pc[(slice(None), 0) + cint]).shape[-3:]
        y = 0
        for q, o in enumerate(offs):
            z = slice(2 + o[0], 2 + o[0] + 2 * nz, 2) if self.dim == 3 else slice(0, 1)
            fsl = (z, slice(2 + o[1], 2 + o[1] + 2 * ny, 2), slice(2 + o[2], 2 + o[2] + 2 * nx, 2))
            y = y + Pc[(slice(None), q) + cint] * r[(slice(None),) + fsl]
        return _pad(y, self.dim)

    def prolong(self, l, e):
        Pc = self.Pc[l]
        offs = offsets(self.dim)
        cint = _sl(self.dim, Pc.shape[-3:])
        ec = e[(slice(None),) + cint]
        nz, ny, nx = ec.shape[-3:]
        out = torch.zeros((e.shape[0],) + tuple(self.padded[l]), dtype=e.dtype, device=e.device)
        for q, o in enumerate(offs):
            z = slice(2 + o[0], 2 + o[0] + 2 * nz, 2) if self.dim == 3 else slice(0, 1)
            fsl = (slice(None), z, slice(2 + o[1], 2 + o[1] + 2 * ny, 2),
                   slice(2 + o[2], 2 + o[2] + 2 * nx, 2))
            out[fsl] = out[fsl] + Pc[(slice(None), q) + cint] * ec
        # cells beyond the fine interior (ghosts) must stay zero
        mask = torch.zeros(tuple(self.padded[l]), dtype=e.dtype, device=e.device)
        mask[_sl(self.dim, self.padded[l])] = 1
        return out * mask

    def smoothers(self, net):
        """Smoother stencils for every level but the coarsest."""
        return [net.smoother(S) for S in self.S[:-1]]

    def vcycle(self, b, K, nu=1, l=0):
        """One V-cycle on padded ``b`` with smoother stencils ``K`` (list per level)."""
        dim = self.dim
        S = self.S[l]
        if l == len(self.S) - 1:
            B = b.shape[0]
            bi = b[(slice(None),) + _sl(dim, b.shape[-3:])]
            x = torch.einsum("bij,bj->bi", self.coarse_inv, bi.reshape(B, -1))
            return _pad(x.reshape(bi.shape), dim)
        x = torch.zeros_like(b)
        for _ in range(nu):
            x = x + stencil_matvec(K[l], b - stencil_matvec(S, x, dim), dim)
        r = b - stencil_matvec(S, x, dim)
        ec = self.vcycle(self.restrict(l, r), K, nu, l + 1)
        x = x + self.prolong(l, ec)
        for _ in range(nu):
            x = x + stencil_rmatvec(K[l], b - stencil_matvec(S, x, dim), dim)
        return x

    def error_reduction(self, K, e, nu=1, steps=3):
        """``log(‖(I − M A)^steps e‖_A / ‖e‖_A) / steps`` per batch entry (padded ``e``)."""
        S = self.S[0]

        def anorm(v):
            return torch.sqrt((v * stencil_matvec(S, v, self.dim)).sum((1, 2, 3)))

        n0 = anorm(e)
        for _ in range(steps):
            e = e - self.vcycle(stencil_matvec(S, e, self.dim), K, nu)
        return torch.log(anorm(e) / n0) / steps
