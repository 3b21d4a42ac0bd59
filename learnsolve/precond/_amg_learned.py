"""The learned algebraic V-cycle: smoothed-aggregation levels, network-predicted smoothers."""

from __future__ import annotations

from ..multigrid import MAX_COARSE
from ..zoo import LearnedModel, load_state, require_meta
from ._amg_cycle import amg_cycle
from ._amg_smoother import NODE_INPUTS, network_parameters
from ._amg_smoother import smoother as level_smoother

#: Levels with fewer rows than this get the local-Chebyshev smoother, not the network's: on the
#: shared matrices (161–10,000 rows) the inference cost 1.35–3.7× the whole set-up + solve of
#: ``amg-chebyshev`` and saved no iteration (one more on the 5-point and 7-point Laplacians).
NET_MIN_ROWS = 20_000


class LearnedAMG(LearnedModel, method="amg"):
    """An :class:`~learnsolve.nn.AMGSmootherNet` as the smoother of the algebraic V-cycle.

    ``aspreconditioner(A)`` works for any sparse SPD matrix: PyAMG's
    aggregation (:func:`learnsolve.multigrid.aggregation_hierarchy`), and on
    every level of at least :data:`NET_MIN_ROWS` rows the smoother the network
    predicts from that level's matrix (one sparse product per sweep,
    symmetric, on the level's pattern); smaller levels, and so small matrices
    altogether, keep the local-Chebyshev smoother, whose cost the network
    does not repay there (``info["network_levels"]`` counts the others).  A
    cycle that fails the contraction check falls back, with a warning, to the
    local-Chebyshev smoother on the same levels (then to PyAMG SA).

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.fem_diffusion(64, contrast=1e4)
    >>> M = learnsolve.pretrained("amg-learned").aspreconditioner(p.A)
    >>> x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
    >>> info, M.name
    (0, 'amg-learned')
    """

    def __init__(self, name, model, meta):
        super().__init__(name, model, meta)
        self.parameters = network_parameters(model)

    @classmethod
    def from_weights(cls, name, meta, state, path):
        from ..nn import AMGSmootherNet

        require_meta(meta, ("inputs", "ratio"), path)
        if int(meta["inputs"]) != NODE_INPUTS:
            raise ValueError(f"learnsolve.pretrained: {path!r} reads {meta['inputs']} row features; "
                             f"this version computes {NODE_INPUTS}; retrain it or upgrade learnsolve.")
        model = AMGSmootherNet(inputs=int(meta["inputs"]), hidden=int(meta["channels"]),
                               layers=int(meta["layers"]), ratio=float(meta["ratio"])).double()
        return cls(name, load_state(model, state, path), meta)

    def smoother(self, A, min_rows=0):
        """The smoother the network predicts for level matrix ``A`` (float64 canonical CSR with a
        positive diagonal, as the levels of a checked matrix are); the local-Chebyshev one if
        ``A`` has fewer than ``min_rows`` rows."""
        return level_smoother(A, self.parameters if A.shape[0] >= min_rows else None)

    options = frozenset({"coarsening"})

    def aspreconditioner(self, A, *, coarsening="sa", theta=None, max_coarse=MAX_COARSE, sweeps=1,
                         check=True, min_rows=NET_MIN_ROWS):
        """The learned algebraic V-cycle of SPD ``A`` (SciPy, cupyx or torch CSR) as ``M``.

        ``coarsening``: ``"sa"`` (smoothed aggregation, strength ``theta``
        default 0.02) or ``"rs"`` (classical Ruge–Stüben, for strong
        anisotropy; name suffix ``:rs``); see :func:`amg_chebyshev`.
        ``min_rows``: levels with fewer rows keep the local-Chebyshev smoother
        (:data:`NET_MIN_ROWS`; 0 puts the network on every level).
        """
        P = amg_cycle(A, lambda L: self.smoother(L, min_rows), coarsening=coarsening, theta=theta,
                      max_coarse=max_coarse, sweeps=sweeps, check=check,
                      name=self.name + (":rs" if coarsening == "rs" else ""),
                      func=f"learnsolve.pretrained({self.name!r}).aspreconditioner",
                      info={"model": self.name})
        if "sizes" in P.info and "fallback" not in P.info:
            P.info["network_levels"] = sum(n >= min_rows for n in P.info["sizes"][:-1])
        return P
