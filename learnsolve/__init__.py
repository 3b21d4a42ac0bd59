"""learnsolve: learned and classical preconditioners for sparse SPD systems.

>>> import scipy.sparse.linalg as spla, learnsolve
>>> p = learnsolve.problems.diffusion(64, contrast=1e4, seed=0)
>>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.mic0(p.A), rtol=1e-8)
>>> info
0
"""

import numpy as _np

from . import krylov, multigrid, ops, precond, problems
from ._version import __version__
from .sequence import Sequence, SolveRecord, order_by_similarity
from .zoo import pretrained


def relative_residual(A, x, b):
    """True relative residual ``‖b - A x‖ / ‖b‖`` (``‖b - A x‖`` when ``b = 0``)."""
    r = _np.linalg.norm(b - A @ x)
    nb = _np.linalg.norm(b)
    return float(r / nb) if nb > 0 else float(r)


__all__ = ["Sequence", "SolveRecord", "krylov", "multigrid", "ops", "precond", "pretrained", "problems",
           "order_by_similarity", "relative_residual", "__version__"]
