"""GNN predicting a sparse lower-triangular factor on A's lower pattern (or a filled one)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
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

    Examples
    --------
    >>> import torch, learnsolve
    >>> from learnsolve.nn import FactorGNN
    >>> A = learnsolve.problems.poisson((6, 6)).A
    >>> model = FactorGNN("correct")
    >>> L = model.factor(A)                       # α = 0: exactly IC(0)
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

    # ------------------------------------------------------------------ inference
    def inputs(self, A, dtype=torch.float32, extras=None):
        """Tensors and index arrays for :meth:`forward` and :meth:`assemble` (setup, NumPy).

        A dict passed as ``extras`` receives ``'base'``: the classical factor the
        model corrects (IC(k) or FSAI, in ``A``'s units), or ``None``.
        """
        from .._validation import as_csr
        from ..ops import fsai_factor, ichol0_shifted, with_fill
        from ..problems._graph import edge_tables, lookup

        A = with_fill(as_csr(A, "learnsolve.nn.FactorGNN.inputs"), self.pattern)
        edge_index, w, x, d, reverse = edge_tables(A, "learnsolve.nn.FactorGNN.inputs")
        row, col = edge_index
        n = x.shape[0]
        lower = row > col
        low = np.flatnonzero(lower)
        r, c = row[low], col[low]
        if self.kind == "ic":
            base_off, base_diag = w[low], np.ones(n)
            edge_feat = w[:, None]
        elif not self.based:  # FSAI from the identity, or candidate scores
            base_off, base_diag = np.zeros(low.size), np.ones(n)
            edge_feat = w[:, None] if self.kind == "fsai" else _path_features(A, row, col, d)
        else:
            from ._factor_fused import edge_features

            sq = np.sqrt(d)
            if self.kind == "fsai":  # classical FSAI on the pattern; scaled G̃ = G D^{1/2}
                F = fsai_factor(A, "A")
                scale_row, scale_col = np.ones(n), sq
            else:  # the IC factor on the pattern, shifted where it breaks down; L̃ = D^{-1/2} L
                F, _ = ichol0_shifted(A)
                scale_row, scale_col = 1.0 / sq, np.ones(n)
            if not F.has_sorted_indices:
                F = F.sorted_indices()
            # base values on the lower edges; the edge inputs mirror them onto the upper ones
            base_off = lookup(F.indptr.astype(np.int64), F.indices.astype(np.int64),
                              F.data.astype(np.float64), r, c) * scale_row[r] * scale_col[c]
            base_diag = F.diagonal() * scale_row * scale_col
            lowpos = np.cumsum(lower) - 1
            edge_feat = edge_features(row, col, reverse, lowpos, w, base_off,
                                      self.correction == "scale")
            if extras is not None:
                extras["base"] = F
        t = lambda a, dt=dtype: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
        return {
            "x": t(x), "edge_index": torch.as_tensor(edge_index), "edge_attr": t(edge_feat),
            "lower": torch.as_tensor(low), "reverse": torch.as_tensor(reverse),
            "base_offdiag": t(base_off), "base_diag": t(base_diag),
        }, (r, c, d)

    @staticmethod
    def assemble(kind, offdiag, diag, rows, cols, d):
        """Sparse factor in A's units: ``D^{1/2} L̃`` (IC kinds) or ``G̃ D^{-1/2}`` (FSAI).

        ``rows``/``cols`` are the strictly lower entries in row-major order (as
        :meth:`inputs` gives them), so the CSR arrays are written directly: each
        row's entries, then its diagonal.
        """
        n = d.size
        sq = np.sqrt(d)
        if kind == "fsai":
            vals, dvals = offdiag / sq[cols], diag / sq
        else:
            vals, dvals = offdiag * sq[rows], diag * sq
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and np.any(rows[1:] < rows[:-1]):
            raise ValueError("learnsolve.nn.FactorGNN.assemble: `rows` must be sorted (row-major "
                             "lower entries, as FactorGNN.inputs returns them).")
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n) + 1, out=indptr[1:])
        indices = np.empty(indptr[-1], np.int64)
        data = np.empty(indptr[-1], np.float64)
        pos = np.arange(rows.size) + rows  # one diagonal per earlier row precedes the entry
        indices[pos], data[pos] = cols, vals
        indices[indptr[1:] - 1], data[indptr[1:] - 1] = np.arange(n), dvals
        index = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
        F = sp.csr_array((data, indices.astype(index), indptr.astype(index)), shape=(n, n))
        F.has_sorted_indices = True
        return F

    @torch.no_grad()
    def factor(self, A, extras=None, fused=True):
        """The predicted sparse factor of ``A`` (float32 inference, float64 result).

        ``extras``: see :meth:`inputs` (the classical base factor, reused as the fallback).
        ``fused``: run the numba kernels of :mod:`learnsolve.nn._factor_fused` (the
        default; several times faster on a CPU) instead of :meth:`forward`.
        """
        tensors, (rows, cols, d) = self.inputs(A, extras=extras)
        if self.kind == "select":
            return self.select(A, tensors, rows, cols, fused)
        if fused:
            from ._factor_fused import fused_forward

            off, diag = fused_forward(self, **tensors)
        else:
            was_training = self.training
            self.eval()
            off, diag = (t.double().numpy() for t in self(**tensors))
            self.train(was_training)
        return self.assemble(self.kind, off, diag, rows, cols, d)

    def scores(self, tensors, fused=True):
        """Float64 NumPy scores of the candidates (kind ``'select'``) from :meth:`inputs`."""
        if fused:
            from ._factor_fused import fused_forward

            return fused_forward(self, **tensors)[0]
        was_training = self.training
        self.eval()
        with torch.no_grad():
            f = self(**tensors)[0].double().numpy()
        self.train(was_training)
        return f

    def select(self, A, tensors, rows, cols, fused=True):
        """``G``: classical FSAI on the learned pattern (kind ``'select'``); ``rows``/``cols``
        are the candidates, the lower edges of ``with_fill(A, 'A3')`` from :meth:`inputs`."""
        from ..ops import fsai_factor, top_per_row
        from ..ops._fsai_select import _budgets

        C = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=A.shape)
        C.sort_indices()
        budget = _budgets(A)[2]
        f = self.scores(tensors, fused)
        if f.size != C.nnz:  # the lower edges of with_fill(A, 'A3') are the candidates
            raise RuntimeError(f"learnsolve.nn.FactorGNN.select: {f.size} scores for {C.nnz} "
                               "candidates (an explicit zero on A's diagonal?).")
        if not np.all(np.isfinite(f)):  # unusable: an empty pattern, which the caller rejects
            return sp.csr_array(A.shape)
        return fsai_factor(A, top_per_row(C, f, budget))


def _path_features(A, row, col, d):
    """Float32 ``[ã_ij, (Ã²)_ij, (Ã³)_ij]`` on the edges ``(row, col)`` of ``A``'s (filled)
    pattern, ``Ã = D^{-1/2} A D^{-1/2}`` (how strongly paths of length 1–3 couple i and j),
    then ``-log10(|·| + 1e-6) / 6`` of each (couplings across contrast jumps are tiny)."""
    from ..problems._graph import lookup

    s = 1.0 / np.sqrt(d)
    At = sp.csr_array(sp.diags_array(s) @ A @ sp.diags_array(s))
    At.eliminate_zeros()
    A2 = sp.csr_array(At @ At)
    A3 = sp.csr_array(A2 @ At)
    out = np.empty((row.size, 6), np.float32)
    for q, M in enumerate((At, A2, A3)):
        M.sort_indices()
        v = lookup(M.indptr.astype(np.int64), M.indices.astype(np.int64),
                   M.data.astype(np.float64), row, col)
        out[:, q] = v
        out[:, q + 3] = -np.log10(np.abs(v) + 1e-6) / 6.0
    return out
