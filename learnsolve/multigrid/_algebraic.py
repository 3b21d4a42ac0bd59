"""Algebraic levels: a PyAMG hierarchy (SA or RS coarsening) as a :class:`Hierarchy` of sparse levels.

The levels' ``A``, ``P``, ``R`` are PyAMG's SciPy CSR matrices, the smoothers
sparse matrices applied by :class:`SparseSmoother` (damped Jacobi here), the
coarsest level a sparse LU; the cycle is the same :func:`vcycle` the grid
levels run.  Moving the matrices to a device (cupyx, torch) keeps the cycle:
it only uses ``@``, ``+`` and ``-``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._hierarchy import Hierarchy, Level


class SparseLU:
    """``b ↦ A⁻¹ b`` by SciPy's SuperLU of ``A`` (the coarsest level of an algebraic hierarchy)."""

    def __init__(self, A):
        self.lu = spla.splu(sp.csc_matrix(A))

    def astype(self, dtype):
        return self

    def __call__(self, b):
        return self.lu.solve(np.asarray(b, dtype=np.float64)).astype(b.dtype, copy=False)


def algebraic_hierarchy(ml, *, omega=2 / 3, sweeps=1):
    """The :class:`Hierarchy` of a PyAMG ``MultilevelSolver``'s levels, with damped Jacobi.

    Parameters
    ----------
    ml : pyamg.multilevel.MultilevelSolver
        From ``pyamg.smoothed_aggregation_solver`` or ``pyamg.ruge_stuben_solver``.
    omega : float
        Jacobi damping: ``K = ω D⁻¹`` on every level but the coarsest.
    sweeps : int
        Pre- and post-smoothing sweeps.

    Examples
    --------
    >>> import numpy as np, pyamg
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import algebraic_hierarchy
    >>> p = poisson((32, 32))
    >>> ml = pyamg.smoothed_aggregation_solver(p.A.tocsr(), max_coarse=10)
    >>> H = algebraic_hierarchy(ml)
    >>> len(H) == len(ml.levels), H.apply(p.b).shape
    (True, (1024,))
    """
    levels = [Level(sp.csr_array(lvl.A), P=sp.csr_array(lvl.P), R=sp.csr_array(lvl.R))
              for lvl in ml.levels[:-1]]
    coarsest = sp.csr_array(ml.levels[-1].A)
    levels.append(Level(coarsest, coarse_solver=SparseLU(coarsest)))
    return Hierarchy(levels).with_jacobi(omega, sweeps=sweeps)
