"""Learned smoothers for an algebraic V-cycle: a message-passing network on each level's graph.

For a level matrix ``A`` with diagonal ``D`` the network sees only the
scale-invariant ``Ã = D^-1/2 A D^-1/2`` (six numbers per row, their
``|ã|``-weighted mean over the row's neighbours and the neighbours' largest
Gershgorin radius: one round of message passing) and predicts two numbers per
row, ``(u, v)``.  The smoother is then a sparse matrix on ``A``'s pattern,

    K̃_ii = g(λ_i) e^{u_i},   K̃_ij = ã_ij (h_i + h_j) / 2,   h_i = η(λ_i) e^{v_i},
    K = D^-1/2 K̃ D^-1/2,

with ``λ_i = 1 + Σ_j |ã_ij|`` (the row's Gershgorin bound) and ``g, η`` the
coefficients of the degree-1 Chebyshev polynomial ``p(Ã) = g I + η Ã`` that
damps ``[λ r, λ]`` (:func:`chebyshev_coefficients`; ``r = 1/8`` by default).  So a zero output is the
classical local-Chebyshev smoother, and the network learns where to deviate
from it.  ``K`` is symmetric; pre- and post-smoothing with it keep the cycle
linear and symmetric, and the network never sees the right-hand side.
"""

from __future__ import annotations

import torch
from torch_geometric.nn import MessagePassing


def chebyshev_coefficients(lam, ratio=1 / 8):
    """``(g, η)``: the smoother ``K̃ = g I + η Ã_off`` (``Ã_off`` the off-diagonal part of a
    unit-diagonal ``Ã``) that equals ``p(Ã)`` with ``1 − x p(x)`` the degree-2 Chebyshev residual
    polynomial on ``[λ ratio, λ]`` (NumPy arrays or torch tensors).

    Examples
    --------
    >>> import numpy as np
    >>> g, eta = chebyshev_coefficients(np.array([2.0]))
    >>> x = np.linspace(0.25, 2.0, 50)           # eigenvalues of Ã in [λ/8, λ]
    >>> p = (g - eta) + eta * x                   # K̃ = (g − η) I + η Ã
    >>> round(float(np.abs(1 - x * p).max()), 4)  # 1 / T₂(9/7)
    0.4336
    """
    lmin = lam * ratio
    centre, half = (lam + lmin) / 2, (lam - lmin) / 2
    t2 = 2 * (centre / half) ** 2 - 1
    a2 = 2 / (half**2 * t2)
    a1 = -4 * centre / (half**2 * t2)
    return -a1 - a2, -a2


class _WeightedSum(MessagePassing):
    """``m_i = Σ_j w_ji x_j`` over the edges ``j → i``."""

    def __init__(self):
        super().__init__(aggr="add")

    def forward(self, x, edge_index, weight):
        return self.propagate(edge_index, x=x, weight=weight)

    def message(self, x_j, weight):
        return weight[:, None] * x_j


class _NeighbourMax(MessagePassing):
    """``m_i = max_j x_j`` over the edges ``j → i`` (0 for a row without neighbours)."""

    def __init__(self):
        super().__init__(aggr="max")

    def forward(self, x, edge_index):
        return self.propagate(edge_index, x=x)


class AMGSmootherNet(torch.nn.Module):
    """Per-row MLP after one round of message passing: ``Ã``'s row features → ``(u, v)``.

    Parameters
    ----------
    inputs : int
        Row features (six: ``Σ|ã|, Σã, max|ã|, Σ max(ã, 0), Σã², log(1 + degree)``
        over the row's off-diagonal entries; the first must be ``Σ|ã|``).
    hidden : int
    layers : int
        Hidden layers of the MLP (ReLU; the output ``2 tanh``).
    ratio : float
        The Chebyshev interval's lower end over its upper end.

    Examples
    --------
    >>> import torch
    >>> net = AMGSmootherNet()
    >>> x = torch.rand(3, 6, dtype=torch.float64)
    >>> edges = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> net.double()(x, edges, torch.full((4,), 0.5, dtype=torch.float64)).abs().max().item()
    0.0
    """

    def __init__(self, inputs=6, hidden=16, layers=2, ratio=1 / 8):
        super().__init__()
        self.inputs_, self.hidden, self.layers = int(inputs), int(hidden), int(layers)
        self.ratio = float(ratio)
        self.mean = _WeightedSum()
        self.max = _NeighbourMax()
        sizes = [2 * self.inputs_ + 1] + [self.hidden] * self.layers
        self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = torch.nn.Linear(self.hidden, 2)
        torch.nn.init.zeros_(self.out.weight)  # start at the local-Chebyshev smoother
        torch.nn.init.zeros_(self.out.bias)

    def inputs(self, x, edge_index, weight):
        """The MLP's inputs: ``[x, Σ_j w_ji x_j, max_j x_j0]`` per row."""
        return torch.cat([x, self.mean(x, edge_index, weight),
                          self.max(x[:, :1], edge_index)], dim=1)

    def forward(self, x, edge_index, weight):
        """``(u, v)`` per row, each in ``(−2, 2)``.

        ``x``: (n, inputs) row features; ``edge_index``: (2, E) off-diagonal
        entries as ``j → i`` (source ``j`` = column, target ``i`` = row);
        ``weight``: ``|ã_ij| / Σ_j |ã_ij|`` per edge.
        """
        z = self.inputs(x, edge_index, weight)
        for lin in self.linears:
            z = torch.relu(lin(z))
        return 2 * torch.tanh(self.out(z))

    def coefficients(self, x, edge_index, weight):
        """``(g, h)`` per row: the smoother's scaled diagonal and half-sum weights."""
        uv = self(x, edge_index, weight)
        g, eta = chebyshev_coefficients(1 + x[:, 0], self.ratio)
        return g * torch.exp(uv[:, 0]), eta * torch.exp(uv[:, 1])
