"""GNN predicting a sparse lower-triangular factor on A's lower pattern (or a filled one)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .factor_conv import FactorConv

KINDS = ("ic", "correct", "fsai", "select")


class FactorGNN(torch.nn.Module):
    r"""Predicts ``L`` (``M = L Lᵀ``, kinds ``'ic'``/``'correct'``) or ``G``
    (``M⁻¹ = Gᵀ G``, kind ``'fsai'``) on the pattern of ``tril(A)``, or of a
    larger pattern from :func:`learnsolve.ops.with_fill` (``'ic1'``: IC(1)'s
    level-1 fill, ``'A2'``: ``A²``'s).  Message passing runs on that pattern's
    graph; fill edges carry ``ã_ij = 0``.

    Works on the diagonally scaled matrix ``Ã = D^{-1/2} A D^{-1/2}`` (inputs
    from :func:`learnsolve.problems.graph_features`), so a model trained at one
    size and contrast applies to others, and rescales at the end:
    ``L = D^{1/2} L̃`` or ``G = G̃ D^{-1/2}``.  The head predicts corrections of
    a sensible start:

    - ``'ic'``: ``L̃ = I + tril(Ã, -1) + f`` with diagonal ``exp(g)``;
    - ``'correct'``: ``L̃ = L̃_IC(0) + α f`` with ``α`` learned, starting at 0, so
      an untrained model *is* IC(0) (IC(0) is invariant under diagonal scaling);
    - ``'fsai'``: ``G̃ = I + f`` with diagonal ``exp(g)``, or with
      ``correction='scale'`` ``G̃ = G̃_FSAI · exp(α f)``, a correction of
      classical FSAI on the pattern (:func:`learnsolve.ops.fsai_factor`);
    - ``'select'`` (pattern ``'A3'``): a score per candidate entry of
      ``tril(A³)``; each row keeps as many of its best-scored candidates as
      ``tril(A²)`` has (:func:`learnsolve.ops.top_per_row`) and ``G`` is
      classical FSAI on that learned pattern, so its values are optimal for
      the pattern and only the pattern is learned.  Edge inputs are ``ã_ij``,
      ``(Ã²)_ij`` and ``(Ã³)_ij`` and ``-log10(|·| + 1e-6) / 6`` of each.

    Parameters
    ----------
    kind : {'ic', 'correct', 'fsai', 'select'}
    channels : int
        Width of node/edge states.
    layers : int
        Number of :class:`FactorConv` layers.
    pattern : {'A', 'ic1', 'ic2', 'ic3', 'A2', 'A3'}
        Pattern of the factor (``'A3'``, the candidates, for ``'select'``).
        For ``'correct'`` the base is the incomplete Cholesky factor on it
        (IC(0) for ``'A'``, IC(k) for ``'ick'``).
    correction : {'add', 'scale'}
        ``'correct'``: off-diagonal entries ``l + α f`` (``'add'``) or
        ``l · exp(α f)`` (``'scale'``: relative, so the weak couplings across
        high-contrast interfaces stay weak; its edges also see ``-log10|·|/6``
        of both inputs).  ``'fsai'``: ``'scale'`` corrects classical FSAI,
        ``'add'`` starts from the identity.

    Inputs (:func:`learnsolve.precond.factor_inputs`) and the assembly of the
    predicted factor (:func:`learnsolve.precond.predict_factor`) live with the
    preconditioner that uses them.

    Examples
    --------
    >>> import torch, learnsolve
    >>> from learnsolve.nn import FactorGNN
    >>> A = learnsolve.problems.poisson((6, 6)).A
    >>> model = FactorGNN("correct")
    >>> L = learnsolve.precond.predict_factor(model, A)   # α = 0: exactly IC(0)
    >>> bool(abs(L - learnsolve.ops.ichol0(A)).max() < 1e-6)
    True
    """

    def __init__(self, kind: str = "ic", channels: int = 16, layers: int = 3, pattern: str = "A",
                 correction: str = "add"):
        super().__init__()
        from ..ops import PATTERNS

        if kind not in KINDS:
            raise ValueError(f"learnsolve.nn.FactorGNN: unknown `kind`={kind!r}; use one of {KINDS}.")
        if pattern not in PATTERNS:
            raise ValueError(f"learnsolve.nn.FactorGNN: unknown `pattern`={pattern!r}; use one of "
                             f"{PATTERNS}.")
        if correction not in ("add", "scale"):
            raise ValueError(f"learnsolve.nn.FactorGNN: unknown `correction`={correction!r}; use "
                             "'add' or 'scale'.")
        if (kind == "select") != (pattern == "A3"):
            raise ValueError("learnsolve.nn.FactorGNN: kind 'select' scores the candidates on "
                             f"pattern 'A3', and only it does; got kind={kind!r}, pattern={pattern!r}.")
        self.kind = kind
        self.pattern = pattern
        self.correction = correction
        # 'correct', and FSAI with correction='scale', correct a classical factor (IC(k) / FSAI)
        self.based = kind == "correct" or (kind == "fsai" and correction == "scale")
        edge_in = 1 if not self.based else (4 if correction == "scale" else 2)
        if kind == "select":
            edge_in = 6
        self.node_enc = torch.nn.Linear(3, channels)
        self.edge_enc = torch.nn.Linear(edge_in, channels)
        self.convs = torch.nn.ModuleList(FactorConv(channels) for _ in range(layers))
        self.edge_head = torch.nn.Linear(2 * channels, 1)
        self.node_head = torch.nn.Linear(channels, 1)
        # Start exactly at the base factor.  For 'correct' that is α = 0 with
        # random heads (zero heads too would make α and the heads a saddle point:
        # every gradient vanishes); the other kinds zero their heads instead.
        self.alpha = torch.nn.Parameter(torch.zeros(())) if self.based else None
        if not self.based and kind != "select":  # scores start random: zero ones would all tie
            for head in (self.edge_head, self.node_head):
                torch.nn.init.zeros_(head.weight)
                torch.nn.init.zeros_(head.bias)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, lower: Tensor,
                reverse: Tensor, base_offdiag: Tensor, base_diag: Tensor) -> tuple[Tensor, Tensor]:
        """Scaled factor values: ``(offdiag over the lower edges, diag)``.

        ``lower`` selects the edges with row > col, ``reverse[k]`` is the index
        of the transposed edge (so an entry sees both directions), and
        ``base_*`` are the start values the head corrects.
        """
        h, e = self.node_enc(x), self.edge_enc(edge_attr)
        for conv in self.convs:
            h, e = conv(h, edge_index, e)
        # edge_head on [e_ij, e_ji] for the lower edges, split by blocks (no concatenated copy)
        c = e.shape[1]
        w = self.edge_head.weight[0]
        f = (torch.index_select(e, 0, lower) @ w[:c]) + self.edge_head.bias
        f += torch.index_select(e, 0, reverse[lower]) @ w[c:]
        return self.combine(f, self.node_head(h).squeeze(-1), base_offdiag, base_diag)

    def combine(self, f, g, base_offdiag, base_diag):
        """Factor values from the heads' edge and node outputs ``f``, ``g`` and the start
        values (torch tensors, or NumPy arrays from the fused inference)."""
        exp = torch.exp if isinstance(f, Tensor) else np.exp
        if self.kind == "select":  # scores of the candidates
            return f, base_diag
        if not self.based:
            return base_offdiag + f, base_diag * exp(g)
        alpha = self.alpha if isinstance(f, Tensor) else float(self.alpha.item())
        if self.correction == "scale":  # relative: weak couplings stay weak
            return base_offdiag * exp(alpha * f), base_diag * exp(alpha * g)
        return base_offdiag + alpha * f, base_diag * exp(alpha * g)
