"""Sparse kernels: compiled (``learnsolve._C``, OpenMP) with numba/SciPy fallbacks.

Every kernel has a pure reference in :mod:`learnsolve.ops._reference` that the
tests compare against.  Which path runs is read from :mod:`learnsolve._backend`
at call time.
"""

from ._csr import CSRMatrix, check_csr_arrays, spmv
from ._factor import SHIFTS, FactorizationBreakdown, ichol0, ichol0_shifted
from ._multigrid import GridHierarchy
from ._triangular import TriangularSolver, compute_levels

__all__ = [
    "SHIFTS",
    "CSRMatrix",
    "FactorizationBreakdown",
    "GridHierarchy",
    "TriangularSolver",
    "check_csr_arrays",
    "compute_levels",
    "ichol0",
    "ichol0_shifted",
    "spmv",
]
