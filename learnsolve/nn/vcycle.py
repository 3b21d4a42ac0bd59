"""Learned smoothers for a grid V-cycle (a per-cell MLP on the scaled stencil).

The network maps each cell's diagonally scaled stencil ``a_po / sqrt(a_pp a_oo)``
to a 3^d smoother stencil ``K`` (scaled back by ``1/sqrt(a_pp a_oo)``), cell by
cell and level by level, so one set of weights serves every grid size and
coefficient field.  The V-cycle (:mod:`learnsolve.multigrid`) is linear in its
right-hand side whatever the network does: the network only sees the matrix.
Pre-smoothing is ``x += K (b - A x)``, post-smoothing uses ``Kᵀ``, so the cycle
is symmetric.  Tensors use the padded grid layout of :mod:`learnsolve.multigrid`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..multigrid import interior_slices, offsets, pad_grid, shifted


def scaled_stencil(S, dim):
    """``(Ŝ, d)``: ``Ŝ[o, p] = S[o, p] / sqrt(d_p d_{p+o})`` (0 on ghosts) and ``1/sqrt(d)``."""
    offs = offsets(dim)
    c = len(offs) // 2
    d = S[:, c]
    inv = torch.where(d > 0, torch.rsqrt(torch.where(d > 0, d, torch.ones_like(d))),
                      torch.zeros_like(d))
    inner = interior_slices(dim, tuple(S.shape[-3:]))
    out = []
    for k, o in enumerate(offs):
        out.append(S[(slice(None), k) + inner] * inv[(slice(None),) + inner] * shifted(inv, dim, o))
    return torch.stack(out, 1), inv


def live_offsets(S):
    """``(m,)`` bool: the offsets where padded stencils ``S`` (B, m, Pz, Py, Px) are nonzero
    somewhere (the rows a :class:`learnsolve.multigrid.GridOperator` keeps as ``active``)."""
    return (S != 0).flatten(2).any(-1).any(0)


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
    pattern : bool
        Keep ``K`` on ``A``'s pattern: offsets where a level's stencils are zero
        everywhere (the corners of a 5/7-point fine matrix) get no smoother entry,
        so the fine-level smoothing reads 5/7 values per cell instead of 9/27.

    Examples
    --------
    >>> import torch
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_stencil
    >>> net = SmootherNet(2)
    >>> S, _ = grid_stencil(poisson((8, 8)).A)
    >>> with torch.no_grad():
    ...     K = net.smoother(torch.as_tensor(S)[None])
    >>> K.shape, round(float(K[0, 4, 0, 3, 3]), 4)
    (torch.Size([1, 9, 1, 10, 10]), 0.1625)
    """

    def __init__(self, dim, hidden=32, layers=2, omega=0.65, pattern=False):
        super().__init__()
        self.dim = int(dim)
        m = len(offsets(self.dim))
        self.omega = float(omega)
        self.pattern = bool(pattern)
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
        if self.pattern:  # no entry where the level's stencils are zero on every cell
            kappa = kappa * live_offsets(S).to(S.dtype).view(1, m, 1, 1, 1)
        inner = interior_slices(dim, tuple(S.shape[-3:]))
        out = []
        for k, o in enumerate(offs):
            scale = inv[(slice(None),) + inner] * shifted(inv, dim, o)
            out.append(kappa[:, k] * scale)
        return pad_grid(torch.stack(out, 1), dim)
