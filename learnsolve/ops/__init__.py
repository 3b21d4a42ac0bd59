"""Sparse kernels: compiled (``learnsolve._C``, OpenMP) with numba/SciPy fallbacks.

Every kernel has a pure reference in :mod:`learnsolve.ops._reference` that the
tests compare against.  Which path runs is read from :mod:`learnsolve._backend`
at call time.
"""

from . import _cuda as cuda
from ._csr import CSRMatrix, check_csr_arrays, spmv
from ._device import to_device
from ._factor import SHIFTS, FactorizationBreakdown, ichol0, ichol0_shifted
from ._fsai import fsai_factor
from ._fsai_select import fsai_pattern, top_per_row
from ._multigrid import GridHierarchy
from ._pattern import PATTERNS, fill_levels, with_fill
from ._triangular import TriangularSolver, compute_levels

__all__ = [
    "PATTERNS",
    "SHIFTS",
    "CSRMatrix",
    "FactorizationBreakdown",
    "GridHierarchy",
    "TriangularSolver",
    "check_csr_arrays",
    "compute_levels",
    "cuda",
    "fill_levels",
    "fsai_factor",
    "fsai_pattern",
    "ichol0",
    "ichol0_shifted",
    "spmv",
    "to_device",
    "top_per_row",
    "with_fill",
]
