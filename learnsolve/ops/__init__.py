"""Sparse kernels: compiled (``learnsolve._C``, OpenMP) with numba/SciPy fallbacks.

Every kernel has a pure reference that the tests compare against: in
:mod:`learnsolve.ops._reference`, and for the grid stencil kernels
(:mod:`learnsolve.ops.stencil`) the torch grid levels of
:mod:`learnsolve.multigrid`.  Which path runs is read from
:mod:`learnsolve._backend` at call time.
"""

from . import _cuda as cuda
from . import _stencil as stencil
from ._csr import CSRMatrix, check_csr_arrays, lookup, split_columns, spmv
from ._device import to_device
from ._factor import SHIFTS, FactorizationBreakdown, ichol0, ichol0_shifted
from ._fsai import fsai_factor
from ._fsai_select import candidates, fsai_budgets, fsai_pattern, selection_mask, top_per_row
from ._pattern import PATTERNS, fill_levels, with_fill
from ._spgemm import galerkin, matmat
from ._triangular import TriangularSolver, compute_levels

__all__ = [
    "PATTERNS",
    "SHIFTS",
    "CSRMatrix",
    "FactorizationBreakdown",
    "TriangularSolver",
    "candidates",
    "check_csr_arrays",
    "compute_levels",
    "cuda",
    "fill_levels",
    "fsai_budgets",
    "fsai_factor",
    "fsai_pattern",
    "galerkin",
    "ichol0",
    "ichol0_shifted",
    "lookup",
    "matmat",
    "selection_mask",
    "split_columns",
    "spmv",
    "stencil",
    "to_device",
    "top_per_row",
    "with_fill",
]
