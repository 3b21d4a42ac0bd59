"""Preconditioners as :class:`Preconditioner` (a ``scipy.sparse.linalg.LinearOperator``).

Every function takes the system matrix and returns an operator usable as
``M`` in ``scipy.sparse.linalg.cg`` and :func:`learnsolve.krylov.cg`, with
``setup_time``, ``is_linear`` and ``is_spd`` attributes.
"""

import numpy as np

from ._amg import amg
from ._base import Preconditioner
from ._basic import identity, jacobi
from ._dcdm import LearnedDCDM
from ._device import DevicePreconditioner, NoDevicePath
from ._factored import factored, ic0, ick, mic0, ssor
from ._fsai import fsai, inverse_factored
from ._tuned import OmegaTuner, matrix_features, tuned
from ._vcycle import LearnedVCycle, gmg

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
}


GRID_BUILDERS = {"gmg-jacobi": gmg}


def build(name, A, *, grid_shape=None):
    """Build a preconditioner by its benchmark name: a key of ``BUILDERS`` or a
    shipped pretrained model (``learnsolve.pretrained()``).  ``grid_shape`` is
    passed to the grid methods (``gmg-jacobi``, ``vcycle-*``); a matrix that is
    not a grid stencil makes them raise :class:`learnsolve.problems.NotAGrid`.
    A grid cycle's name may end in options (``GRID_OPTIONS``): ``:float32``
    (``vcycle-2d:float32``) stores and applies the cycle in float32 inside the
    float64 Krylov loop; ``:noclusters`` / ``:clusters`` leave out / force the
    coefficient-cluster coarse space (``clusters=False`` / ``True``);
    ``:nograph`` applies a device cycle eagerly instead of from a CUDA graph
    (``graph=False``).

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
    base, _, options = name.partition(":")
    kw = _grid_options(name, base, options)
    if base in BUILDERS:
        return BUILDERS[base](A)
    if base in GRID_BUILDERS:
        return GRID_BUILDERS[base](A, grid_shape, **kw)
    from ..zoo import available, pretrained

    if base in available():
        model = pretrained(base)
        if isinstance(model, (LearnedVCycle, LearnedDCDM)):
            return model.aspreconditioner(A, grid_shape, **kw)
        return model.aspreconditioner(A)
    raise ValueError(
        f"learnsolve.precond.build: unknown preconditioner {name!r}; choose from "
        f"{sorted(BUILDERS) + sorted(GRID_BUILDERS) + available()}."
    )


#: Options a grid cycle's name may carry after colons (``vcycle-2d:float32:noclusters``).
GRID_OPTIONS = {"float32": ("dtype", np.float32), "clusters": ("clusters", True),
                "noclusters": ("clusters", False), "nograph": ("graph", False)}


def _grid_options(name, base, options):
    """``build``'s keywords for a grid cycle's name options (``{}`` without any)."""
    if not options:
        return {}
    from ..zoo import available

    grid = sorted(GRID_BUILDERS) + [m for m in available() if m.startswith("vcycle-")]
    options = options.split(":")
    if base not in grid or any(o not in GRID_OPTIONS for o in options):
        raise ValueError(
            f"learnsolve.precond.build: {name!r} is not a preconditioner name; only the grid "
            f"cycles take options, as in 'vcycle-2d:float32' or 'vcycle-2d:noclusters' (options: "
            f"{sorted(GRID_OPTIONS)}; grid cycles: {grid}).")
    return dict(GRID_OPTIONS[o] for o in options)


__all__ = ["GRID_BUILDERS", "GRID_OPTIONS", "DevicePreconditioner", "LearnedDCDM", "LearnedVCycle",
           "NoDevicePath", "OmegaTuner", "Preconditioner", "amg", "build", "factored", "fsai", "gmg",
           "ic0", "ick", "identity", "inverse_factored", "jacobi", "matrix_features", "mic0", "ssor",
           "tuned"]
