"""Preconditioners as :class:`Preconditioner` (a ``scipy.sparse.linalg.LinearOperator``).

Every function takes the system matrix and returns an operator usable as
``M`` in ``scipy.sparse.linalg.cg`` and :func:`learnsolve.krylov.cg`, with
``setup_time``, ``is_linear`` and ``is_spd`` attributes.  The learned
families (:class:`LearnedFactor`, :class:`LearnedVCycle`, :class:`LearnedAMG`,
:class:`LearnedDCDM`)
are :class:`learnsolve.zoo.LearnedModel` s, loaded by
:func:`learnsolve.pretrained`.
"""

import numpy as np

from ..zoo import available, pretrained, shipped
from ._amg import amg
from ._amg_cycle import amg_chebyshev, amg_cycle
from ._amg_learned import NET_MIN_ROWS, LearnedAMG
from ._amg_smoother import chebyshev_smoother, learned_smoother, smoother_inputs, smoother_values
from ._auto import auto
from ._base import Preconditioner
from ._basic import identity, jacobi
from ._dcdm import LearnedDCDM
from ._device import DevicePreconditioner, NoDevicePath
from ._factored import factored, ic0, ick, mic0, ssor
from ._fsai import fsai, inverse_factored
from ._gnn_factor import assemble_factor, factor_inputs, gnn_forward, predict_factor
from ._learned import LearnedFactor, worse_than
from ._tuned import OmegaTuner, matrix_features, tuned
from ._vcycle import (
    CYCLE_KEYWORDS,
    GUARD_RATE,
    RHO_FAIL,
    LearnedVCycle,
    gmg,
    grid_cycle,
    guard_smoothers,
    jacobi_level_smoother,
    jacobi_smoothers,
)

BUILDERS = {
    "identity": identity,
    "jacobi": jacobi,
    "ic0": ic0,
    "ic1": lambda A: ick(A, 1),
    "ic2": lambda A: ick(A, 2),
    "mic0": mic0,
    "ssor": ssor,
    "fsai": fsai,
    "fsai-adaptive": lambda A: fsai(A, "adaptive"),
    "amg-sa": lambda A: amg(A, "sa"),
    "amg-rs": lambda A: amg(A, "rs"),
    "amg-chebyshev": amg_chebyshev,
    "amg-chebyshev:rs": lambda A: amg_chebyshev(A, coarsening="rs"),
    "auto": auto,
}


GRID_BUILDERS = {"gmg-jacobi": gmg}


def build(name, A, *, grid_shape=None):
    """Build a preconditioner by its benchmark name: a key of ``BUILDERS`` or a
    shipped pretrained model (``learnsolve.pretrained()``).  ``grid_shape`` is
    passed to the grid methods (``gmg-jacobi``, ``vcycle-*``, ``dcdm-*``); a
    matrix that is not a grid stencil makes them raise
    :class:`learnsolve.multigrid.NotAGrid`.  A grid cycle's name may end in
    options (``GRID_OPTIONS``): ``:float32`` (``vcycle-2d:float32``) stores and
    applies the cycle in float32 inside the float64 Krylov loop;
    ``:noclusters`` / ``:clusters`` leave out / force the coefficient-cluster
    coarse space (``clusters=False`` / ``True``); ``:nograph`` applies a device
    cycle eagerly instead of from a CUDA graph (``graph=False``).  The
    algebraic cycles take ``:rs``: classical coarsening instead of aggregation
    (``amg-chebyshev:rs``, ``amg-learned:rs``).  A shipped model is read from its
    weights file once per process.

    Examples
    --------
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((16, 16))
    >>> learnsolve.precond.build("jacobi", p.A).name
    'jacobi'
    >>> learnsolve.precond.build("gmg-jacobi:float32", p.A).info["dtype"]
    'float32'
    >>> learnsolve.precond.build("gmg-jacobi:float32:clusters", p.A).info["clusters"] > 0
    True
    """
    if name in BUILDERS:
        return BUILDERS[name](A)
    base, _, options = name.partition(":")
    if base in GRID_BUILDERS:
        return GRID_BUILDERS[base](A, grid_shape, **_options(name, base, options, CYCLE_KEYWORDS))
    if base in available():
        model = shipped(base)
        kw = _options(name, base, options, model.options)
        return model.aspreconditioner(A, grid_shape, **kw) if model.grid else \
            model.aspreconditioner(A, **kw)
    if options:
        _options(name, base, options, ())
    raise ValueError(
        f"learnsolve.precond.build: unknown preconditioner {name!r}; choose from "
        f"{sorted(BUILDERS) + sorted(GRID_BUILDERS) + available()}."
    )


#: Options a cycle's name may carry after colons (``vcycle-2d:float32:noclusters``, ``amg-learned:rs``).
GRID_OPTIONS = {"float32": ("dtype", np.float32), "clusters": ("clusters", True),
                "noclusters": ("clusters", False), "nograph": ("graph", False),
                "rs": ("coarsening", "rs")}


def _options(name, base, options, accepted):
    """``build``'s keywords for a name's options (``{}`` without any); ``accepted``: the keyword
    arguments the preconditioner takes."""
    if not options:
        return {}
    options = options.split(":")
    if not all(o in GRID_OPTIONS and GRID_OPTIONS[o][0] in accepted for o in options):
        cycles = sorted(GRID_BUILDERS) + [m for m in available() if pretrained(m).options]
        raise ValueError(
            f"learnsolve.precond.build: {name!r} is not a preconditioner name; only the cycles "
            f"take options, as in 'vcycle-2d:float32', 'vcycle-2d:noclusters' or 'amg-learned:rs' "
            f"(options: {sorted(GRID_OPTIONS)}; cycles: {cycles}; each takes those that apply).")
    return dict(GRID_OPTIONS[o] for o in options)


__all__ = ["GRID_BUILDERS", "GRID_OPTIONS", "GUARD_RATE", "RHO_FAIL", "DevicePreconditioner",
           "LearnedAMG", "LearnedDCDM",
           "LearnedFactor", "NET_MIN_ROWS",
           "LearnedVCycle", "NoDevicePath", "OmegaTuner", "Preconditioner", "amg", "amg_chebyshev",
           "amg_cycle", "auto", "chebyshev_smoother", "learned_smoother", "smoother_values",
           "assemble_factor", "build", "factor_inputs", "factored", "fsai", "gmg", "gnn_forward",
           "grid_cycle", "guard_smoothers", "ic0", "ick", "identity", "inverse_factored", "jacobi",
           "jacobi_level_smoother", "jacobi_smoothers",
           "matrix_features", "mic0", "predict_factor", "smoother_inputs", "ssor", "tuned",
           "worse_than"]
