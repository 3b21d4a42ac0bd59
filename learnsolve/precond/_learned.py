"""Learned factorized preconditioners: a trained :class:`~learnsolve.nn.FactorGNN` as ``M``."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import as_csr, check_symmetric, positive_diagonal
from ..zoo import LearnedModel, load_state
from ._device import device_kind, on_device, require_path
from ._factored import factored, ic0, ick
from ._fsai import fsai, inverse_factored
from ._gnn_factor import predict_factor

METHODS = {"ic": "gnn-ic", "correct": "gnn-ic-correct", "fsai": "gnn-fsai",
           "select": "gnn-fsai (learned pattern)"}
INVERSE = ("fsai", "select")  # kinds whose factor G gives M⁻¹ = Gᵀ G


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


def _probe_error(A, M, steps, seed=0):
    """A-norm error left by ``steps`` PCG iterations on ``A x = A z`` (random ``z``), relative."""
    from .. import krylov

    z = np.random.default_rng(seed).standard_normal(A.shape[0])
    b = A @ z
    x, _ = krylov.cg(A, b, rtol=0.0, atol=0.0, maxiter=steps, M=M)
    e = z - x
    return float(np.sqrt(max(e @ (A @ e), 0.0) / (z @ b)))


def worse_than(A, M, base, *, steps=10, factor=3.0):
    """Why ``M`` looks worse than ``base`` on ``A`` (a short PCG probe), or ``None``.

    Both run ``steps`` PCG iterations on the same system with a known random
    solution; ``M`` is rejected when the A-norm error it leaves is more than
    ``factor`` times ``base``'s.  A learned factor applied far outside its
    training data (e.g. a mesh-trained model on a strongly anisotropic matrix)
    stays SPD, so CG converges, only slowly: this catches it before the solve.
    """
    e_m, e_b = _probe_error(A, M, steps), _probe_error(A, base, steps)
    if e_m > factor * max(e_b, 1e-300):
        return (f"a {steps}-step PCG probe left {e_m / max(e_b, 1e-300):.1f}× the error of "
                f"{base.name} (more than {factor}×: the model does not fit this matrix)")
    return None


def _warn_fallback(func, why, name):
    warnings.warn(f"{func}: {why}; falling back to {name}.", RuntimeWarning, stacklevel=3)


def _as_fallback(P, why, t0):
    """Mark ``P`` as the fallback taken for ``why``; its set-up time counts from ``t0``."""
    P.info["fallback"] = why
    P.setup_time = time.perf_counter() - t0
    return P


class LearnedFactor(LearnedModel, method="factor"):
    """A trained :class:`~learnsolve.nn.FactorGNN` (``model``) with its metadata;
    :meth:`aspreconditioner` builds ``M``.  Obtain one with :func:`learnsolve.pretrained`."""

    @classmethod
    def from_weights(cls, name, meta, state, path):
        from ..nn import FactorGNN

        model = FactorGNN(meta["kind"], channels=int(meta["channels"]), layers=int(meta["layers"]),
                          pattern=meta.get("pattern", "A"), correction=meta.get("correction", "add"))
        if "max_offdiag_per_row" in meta:  # checked here, once
            meta = dict(meta, max_offdiag_per_row=int(meta["max_offdiag_per_row"]))
        return cls(name, load_state(model, state, path), meta)

    def __repr__(self):
        return f"<LearnedFactor {self.name!r} kind={self.model.kind} family={self.meta.get('family')}>"

    def aspreconditioner(self, A, *, probe=True):
        """Predict the factor for ``A`` and return an SPD :class:`Preconditioner`.

        ``gnn-ic``/``gnn-ic-correct`` apply ``(L Lᵀ)⁻¹`` with the compiled
        triangular solves; ``gnn-fsai`` applies ``Gᵀ G`` with two SpMVs.  If the
        predicted factor is unusable (NaN/Inf, non-positive or wildly scaled
        diagonal) a warning is issued and the classical factor on the model's
        pattern is returned instead (IC(0) or IC(k); classical FSAI for FSAI
        models) — ``info['fallback']`` says so.  With ``probe`` (default) the
        factor must also pass :func:`worse_than` against that fallback (10 PCG
        steps each), so a model that does not fit ``A`` falls back too.  Set-up
        time includes feature extraction, GNN inference, assembly and the probe.

        ``A`` may also be a cupyx or torch sparse CSR matrix: the factor is then
        predicted on the host and applied on ``A``'s device (FSAI models on both;
        IC models on CuPy only, torch having no sparse triangular solve).
        """
        func = f"learnsolve.pretrained({self.name!r}).aspreconditioner"
        kind = device_kind(A)
        if kind is not None:  # set up on the host, apply on A's device
            from ..ops import to_device

            require_path("gtg" if self.model.kind in INVERSE else "llt", kind, func, self.name)
            return on_device(self.aspreconditioner(to_device(A, "scipy"), probe=probe), A, func=func)
        t0 = time.perf_counter()
        A = as_csr(A, func)
        check_symmetric(A, func)
        positive_diagonal(A, func)
        why = self._out_of_distribution(A)
        F, extras = None, {}
        if why is None:
            F = predict_factor(self.model, A, extras=extras)
            why = _usable(F)
        if why is not None:
            fallback = self._fallback()
            _warn_fallback(func, why, fallback.__name__)
            return _as_fallback(fallback(A), why, t0)
        name = self.name  # the model's name, so a benchmark row says which model ran
        info = {"model": self.name, "method": METHODS[self.model.kind]}
        build = inverse_factored if self.model.kind in INVERSE else factored
        P = build(F, name=name, info=info)
        if probe:
            fallback = self._fallback()
            base = self._base_preconditioner(extras.get("base"), fallback.__name__)
            if base is None:
                with warnings.catch_warnings():  # a shifted IC(0) has already been warned about
                    warnings.simplefilter("ignore")
                    base = fallback(A)
            why = worse_than(A, P, base)
            if why is not None:
                _warn_fallback(func, why, fallback.__name__)
                return _as_fallback(base, why, t0)
            P.info["probe"] = "passed"
        P.setup_time = time.perf_counter() - t0
        return P

    def _base_preconditioner(self, F, name):
        """The fallback built from the classical factor the model corrected (already
        computed during inference), or ``None`` when the model has no such base."""
        if F is None:
            return None
        if self.model.kind in INVERSE:
            return inverse_factored(F, name=name, info={"pattern": self.model.pattern})
        return factored(F, name=name, info={"pattern": self.model.pattern})

    def _fallback(self):
        """The classical preconditioner used when the model's factor is rejected:
        classical FSAI (:func:`~learnsolve.precond.fsai`) on the model's pattern for FSAI models,
        else the incomplete Cholesky factor on it (IC(0) or IC(k))."""
        pattern = self.model.pattern
        if self.model.kind == "select":  # the static pattern of the same cost
            pattern = "A2"
        if self.model.kind in INVERSE:

            def fallback(A):
                return fsai(A, pattern)

            fallback.__name__ = "fsai" if pattern == "A2" else f"fsai-{pattern}"
            return fallback
        if pattern.startswith("ic"):
            level = int(pattern[2:])

            def fallback(A):
                return ick(A, level)

            fallback.__name__ = f"ic{level}"
            return fallback
        return ic0

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
