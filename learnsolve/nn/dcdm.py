"""Nonlinear correction of a V-cycle search direction (the DCDM network).

The Deep Conjugate Direction Method (Kaneda et al., 2023) takes search
directions from a network approximating ``A⁻¹ r``.  Here the network is the
learned linear V-cycle ``v = V r`` plus a small convolutional correction that
sees the cell's scaled stencil, the normalized residual ``r``, the V-cycle
output ``v`` and what the V-cycle left, ``s = r − A v``::

    q = v + D^{-1/2} ς · CNN(Ŝ; r̂/σ, v̂/τ, ŝ/ς)

with ``D = diag(A)``, hats for the diagonally scaled quantities
(``r̂ = D^{-1/2} r``, ``v̂ = D^{1/2} v``, ``ŝ = D^{-1/2} s``, ``Ŝ`` the scaled
stencil) and ``σ, τ, ς`` their root-mean-squares.  So ``q(λ r) = λ q(r)``,
the network sees only scale-free inputs, and with its last layer at zero
(the initialization) ``q`` is exactly the V-cycle.  ``q`` is not linear in
``r``: use it with :func:`learnsolve.krylov.dcdm` or
:func:`learnsolve.krylov.fcg`, not plain CG.

All tensors use the padded ``(B, [C,] Pz, Py, Px)`` grid layout of
:mod:`learnsolve.multigrid` (ghost cells zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..multigrid import interior_slices, offsets, pad_grid
from .vcycle import scaled_stencil


def interior_mask(padded, dtype=torch.float32):
    """1 on interior cells of a padded ``(Pz, Py, Px)`` grid, 0 on ghosts."""
    mask = torch.zeros(tuple(padded), dtype=dtype)
    dim = 2 if padded[0] == 1 else 3
    mask[interior_slices(dim, tuple(padded))] = 1
    return mask


def _rms(x, mask):
    """Root-mean-square over interior cells, per batch entry, shaped to broadcast."""
    dims = tuple(range(1, x.ndim))
    n = mask.sum()
    val = torch.sqrt((x * x).sum(dims, keepdim=True) / n)
    return torch.where(val > 0, val, torch.ones_like(val))


class DirectionNet(torch.nn.Module):
    """Convolutional correction ``c`` of a V-cycle direction (see the module docstring).

    Three layers: a 1×1 convolution of the scaled stencil (computed once per
    matrix, :meth:`static`) added to a 1×1 convolution of the three dynamic
    channels, then a 3^d convolution and a 3^d convolution to one channel
    (zero-initialized), GELU between, ghost cells zeroed after each layer.

    Parameters
    ----------
    dim : {2, 3}
    hidden : int
        Channels of the hidden layers.

    Examples
    --------
    >>> import torch
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_stencil
    >>> net = DirectionNet(2)
    >>> S, _ = grid_stencil(poisson((8, 8)).A)
    >>> S = torch.as_tensor(S, dtype=torch.float32)[None]
    >>> r = torch.randn(1, *S.shape[2:])
    >>> q = net.direction(net.static(S), r, r, r)   # v = s = r for the example
    >>> bool(torch.equal(q, r)), net.is_zero   # zero last layer: the direction is v itself
    (True, True)
    """

    def __init__(self, dim, hidden=8):
        super().__init__()
        self.dim = int(dim)
        self.hidden = int(hidden)
        m = len(offsets(self.dim))
        conv = torch.nn.Conv2d if self.dim == 2 else torch.nn.Conv3d
        self.stencil_in = conv(m - 1, hidden, 1)
        self.dynamic_in = conv(3, hidden, 1, bias=False)
        self.mid = conv(hidden, hidden, 3, padding=1)
        self.out = conv(hidden, 1, 3, padding=1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    @property
    def is_zero(self):
        """Whether the last layer is exactly zero, so every correction is 0 and ``q = v``."""
        return not (torch.any(self.out.weight != 0) or torch.any(self.out.bias != 0))

    def _grid(self, x):
        """(B, C, Pz, Py, Px) → the conv layout ((B, C, Py, Px) in 2D)."""
        return x[:, :, 0] if self.dim == 2 else x

    def _ungrid(self, x):
        return x[:, :, None] if self.dim == 2 else x

    def static(self, S):
        """The per-matrix part: ``(h0, inv, sq, mask)`` for padded stencils ``S`` (B, m, Pz, Py, Px).

        ``h0`` is the stencil's contribution to the first layer, ``inv`` is
        ``D^{-1/2}`` and ``sq`` is ``D^{1/2}`` (padded, 0 on ghosts), ``mask``
        the interior indicator.
        """
        dim = self.dim
        m = len(offsets(dim))
        c = m // 2
        dtype = self.stencil_in.weight.dtype
        Sh, inv = scaled_stencil(S, dim)
        feats = pad_grid(torch.cat([Sh[:, :c], Sh[:, c + 1:]], 1), dim).to(dtype)
        mask = interior_mask(S.shape[-3:], dtype)
        h0 = self.stencil_in(self._grid(feats)) * self._grid(mask[None, None])
        sq = torch.where(inv > 0, 1 / torch.where(inv > 0, inv, torch.ones_like(inv)),
                         torch.zeros_like(inv))
        return h0, inv, sq, mask

    def correction(self, h0, mask, x):
        """``c`` for dynamic channels ``x`` (B, 3, Pz, Py, Px), all scale-free."""
        m = self._grid(mask[None, None])
        h = F.gelu(h0 + self.dynamic_in(self._grid(x))) * m
        h = F.gelu(self.mid(h)) * m
        return self._ungrid(self.out(h) * m)[:, 0]

    def direction(self, static, r, v, s):
        """``q`` for residuals ``r``, V-cycle outputs ``v`` and ``s = r − A v`` (padded, (B, Pz, Py, Px)).

        ``static`` is :meth:`static` of the matrix's padded stencils.
        """
        h0, inv, sq, mask = static
        dtype = h0.dtype
        rh, vh, sh = r * inv, v * sq, s * inv
        sig, tau, vs = _rms(rh, mask), _rms(vh, mask), _rms(sh, mask)
        x = torch.stack([rh / sig, vh / tau, sh / vs], 1).to(dtype)
        c = self.correction(h0, mask, x).to(v.dtype)
        return v + inv * vs * c
