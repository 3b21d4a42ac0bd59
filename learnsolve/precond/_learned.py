"""Learned factorized preconditioners: a trained :class:`~learnsolve.nn.FactorGNN` as ``M``."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

from .._validation import as_csr, check_symmetric, positive_diagonal
from ._base import Preconditioner
from ._basic import jacobi
from ._factored import factored, ic0

METHODS = {"ic": "gnn-ic", "correct": "gnn-ic-correct", "fsai": "gnn-fsai"}


def fsai(G, *, name, setup_time=0.0, info=None):
    """:class:`Preconditioner` applying ``M⁻¹ = Gᵀ G`` by two SpMVs (no triangular solve)."""
    from ..ops import CSRMatrix

    G = sp.csr_array(G)
    Gm, Gt = CSRMatrix(G), CSRMatrix(sp.csr_array(G.T))

    def apply(r):
        return Gt.matvec(Gm.matvec(r))

    return Preconditioner(apply, G.shape, G.dtype, name=name, setup_time=setup_time,
                          info=dict(info or {}, nnz_G=int(G.nnz)))


def _usable(F):
    """Why a predicted factor cannot be used, or ``None``."""
    if not np.all(np.isfinite(F.data)):
        return "predicted factor unusable (it has NaN/Inf entries)"
    d = F.diagonal()
    if not np.all(d > 0):
        return "predicted factor unusable (its diagonal is not positive)"
    if d.max() / d.min() > 1e12:
        return "predicted factor unusable (its diagonal spans more than 12 orders of magnitude)"
    return None


class LearnedFactor:
    """A trained factor model with its metadata; :meth:`aspreconditioner` builds ``M``.

    Obtain one with :func:`learnsolve.pretrained`.

    Attributes
    ----------
    name : str
    model : learnsolve.nn.FactorGNN
    meta : dict
        Method, kind, problem family, version, training configuration.
    """

    def __init__(self, name, model, meta):
        self.name = name
        self.model = model
        self.meta = dict(meta)

    def __repr__(self):
        return f"<LearnedFactor {self.name!r} kind={self.model.kind} family={self.meta.get('family')}>"

    def aspreconditioner(self, A):
        """Predict the factor for ``A`` and return an SPD :class:`Preconditioner`.

        ``gnn-ic``/``gnn-ic-correct`` apply ``(L Lᵀ)⁻¹`` with the compiled
        triangular solves; ``gnn-fsai`` applies ``Gᵀ G`` with two SpMVs.  If the
        predicted factor is unusable (NaN/Inf, non-positive or wildly scaled
        diagonal) a warning is issued and IC(0) (Jacobi for FSAI) is returned
        instead — ``info['fallback']`` says so.  Set-up time includes feature
        extraction, GNN inference and assembly.
        """
        func = f"learnsolve.pretrained({self.name!r}).aspreconditioner"
        t0 = time.perf_counter()
        A = as_csr(A, func)
        check_symmetric(A, func)
        positive_diagonal(A, func)
        why = self._out_of_distribution(A)
        F = None
        if why is None:
            F = self.model.factor(A)
            why = _usable(F)
        if why is not None:
            fallback = jacobi if self.model.kind == "fsai" else ic0
            warnings.warn(f"{func}: {why}; falling back to {fallback.__name__}.", RuntimeWarning,
                          stacklevel=2)
            P = fallback(A)
            P.info["fallback"] = why
            P.setup_time = time.perf_counter() - t0
            return P
        name = self.name  # the model's name, so a benchmark row says which model ran
        info = {"model": self.name, "method": METHODS[self.model.kind]}
        P = fsai(F, name=name, info=info) if self.model.kind == "fsai" else factored(F, name=name,
                                                                                  info=info)
        P.setup_time = time.perf_counter() - t0
        return P

    def _out_of_distribution(self, A):
        """Why ``A`` lies outside what the model was trained on, or ``None``.

        A model trained on 2D five-point matrices (family ``condiff-2d``) has
        seen at most 4 off-diagonal entries per row; on 3D or 9-point stencils
        and unstructured meshes its factors were measured to be unusable (CG on
        3D Poisson 64³ did not finish in minutes), so those get the fallback.
        """
        limit = self.meta.get("max_offdiag_per_row",
                              4 if self.meta.get("family") == "condiff-2d" else None)
        if limit is None:
            return None
        widest = int(np.max(np.diff(A.indptr))) - 1
        if widest > limit:
            return (f"`A` has rows with {widest} off-diagonal entries but the model was trained on "
                    f"{self.meta.get('family')} matrices with at most {limit} (out of distribution)")
        return None
