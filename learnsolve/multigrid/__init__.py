"""Multigrid hierarchies and the V-cycle: one :class:`Hierarchy` of :class:`Level` s for every method.

- :class:`Level`, :class:`Hierarchy`, :func:`vcycle`: the structure every
  set-up fills and the one cycle over it (NumPy, CuPy or torch vectors);
  :func:`contraction` estimates ``ρ(I − M A)``.
- Grid set-up, :func:`grid_hierarchy`: per-cell stencils of a grid matrix
  (:func:`grid_stencil`, :class:`NotAGrid`), black-box interpolation and
  Galerkin coarse stencils, on the host (numba kernels of
  :mod:`learnsolve.ops.stencil`) or on a torch tensor's device;
  ``stack`` batches host hierarchies into torch for training, and
  ``stencil_matvec``/``stencil_rmatvec``/``shifted``/``pad_grid`` are the
  torch stencil operations (imported with torch on first use).
- Algebraic set-up: :func:`aggregation_hierarchy` (smoothed aggregation of
  any SPD matrix from PyAMG's building blocks), :func:`classical_hierarchy`
  (PyAMG's Ruge–Stüben levels) and :func:`algebraic_hierarchy` (a PyAMG
  solver's levels), sparse levels with the same cycle; :func:`device_hierarchy`
  moves one to CuPy or torch.
- :class:`ClusterSpace`: the coefficient-cluster coarse space that keeps a
  grid cycle's iterations flat on rough high-contrast coefficients;
  :class:`DeviceClusterSpace` applies it on a torch device.
- The padded grid layout: :func:`offsets`, :func:`padded_shape`,
  :func:`interior`, :func:`pad`, ...

Examples
--------
>>> import scipy.sparse.linalg as spla
>>> from learnsolve.problems import poisson
>>> from learnsolve.multigrid import grid_hierarchy
>>> p = poisson((64, 64))
>>> H = grid_hierarchy(p.A).with_jacobi(0.65)
>>> M = spla.LinearOperator(p.A.shape, matvec=H.apply, dtype=float)
>>> x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
>>> info
0
"""

from ._algebraic import (
    MAX_COARSE,
    STRENGTH,
    SparseLU,
    aggregation_hierarchy,
    algebraic_hierarchy,
    classical_hierarchy,
    device_hierarchy,
)
from ._box_clusters import CLUSTER_WIDTH, basis_rows, patch_clusters
from ._boxes import (
    PATCH_WIDTH,
    Boxes,
    check_rows,
    coarse_rows,
    coarsen_patch,
    interpolation_rows,
    matrix_rows,
    patch_operator,
    rows_to_csr,
    smoother_rows,
    stencil_rows,
)
from ._clusters import (
    BLOCK,
    OMEGA,
    RHO_GATE,
    THETA,
    ClusterSpace,
    cluster_labels,
    cluster_labels_reference,
    dissection_labels,
    smoothed_basis,
    smoothed_basis_reference,
)
from ._clusters_device import DENSE_MAX, DeviceClusterSpace
from ._grid import (
    GridInterpolation,
    GridOperator,
    coarsest_cells,
    host_grid_hierarchy,
    prolongation,
)
from ._hierarchy import Hierarchy, Level, SparseSmoother, contraction, vcycle
from ._layout import (
    coarse_shape,
    flat_offsets,
    infer_shapes,
    interior,
    interior_slices,
    loop_bounds,
    mirror,
    offsets,
    pad,
    padded_shape,
)
from ._stencil import (
    NotAGrid,
    check_stencil,
    grid_shape_of,
    grid_stencil,
    stencil_to_csr,
    weak_couplings,
)


def grid_hierarchy(A, shape=None, *, coarsest=None, func="learnsolve.multigrid.grid_hierarchy"):
    """The grid :class:`Hierarchy` of a grid matrix or of its stencils (smoothers not yet set).

    Parameters
    ----------
    A : sparse matrix, torch sparse CSR tensor, or stencils
        A grid matrix (read by :func:`grid_stencil`), or padded stencils
        ``(3^d, Pz, Py, Px)`` (NumPy or torch) with ``shape`` given.  Torch
        input is set up on its device with torch operations; anything else on
        the host with the numba kernels.
    shape : tuple of int, optional
        Grid shape; inferred from a matrix on a square or cube grid.
    coarsest : int, optional
        Coarsen until the grid has at most this many cells (or an axis has
        fewer than 3); the coarsest is solved directly (dense Cholesky up to
        64 cells, a sparse LU above).  Default: :func:`coarsest_cells` on the
        host (``n / 256`` cells in 2D, ``n / 512`` in 3D, at least 64), 64 for
        torch input (a dense factor on the device).

    Returns
    -------
    Hierarchy
        Set smoothers with :meth:`Hierarchy.with_jacobi` or
        :meth:`Hierarchy.with_stencils` before cycling.

    Examples
    --------
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import grid_hierarchy
    >>> [lvl.A.grid for lvl in grid_hierarchy(poisson((9, 9, 9)).A, coarsest=8).levels]
    [(9, 9, 9), (4, 4, 4), (2, 2, 2)]
    """
    if not (hasattr(A, "ndim") and A.ndim == 4 and not hasattr(A, "indptr")):
        A, shape = grid_stencil(A, shape, func=func)
    elif shape is None:
        raise ValueError(f"{func}: stencils need their grid `shape`.")
    if type(A).__module__.startswith("torch"):
        from ._grid_torch import torch_grid_hierarchy

        return torch_grid_hierarchy(A, shape, coarsest=64 if coarsest is None else coarsest)
    return host_grid_hierarchy(A, shape, coarsest=coarsest)


#: Torch parts, imported on first use so that ``import learnsolve.multigrid`` does not import torch.
_TORCH = ("TorchDenseSolver", "TorchGridOperator", "TorchInterpolation", "TorchSmoother", "pad_grid",
          "shifted", "stack", "stencil_matvec", "stencil_rmatvec")


def __getattr__(name):
    if name in _TORCH:
        from . import _grid_torch

        return getattr(_grid_torch, name)
    raise AttributeError(f"module 'learnsolve.multigrid' has no attribute {name!r}")


__all__ = [
    "BLOCK", "CLUSTER_WIDTH", "OMEGA", "basis_rows", "patch_clusters", "PATCH_WIDTH",
    "RHO_GATE", "Boxes", "check_rows", "coarse_rows", "coarsen_patch",
    "interpolation_rows", "matrix_rows",
    "patch_operator", "prolongation", "rows_to_csr", "smoother_rows", "stencil_rows", "THETA", "ClusterSpace",
    "DENSE_MAX", "DeviceClusterSpace", "dissection_labels",
    "GridInterpolation", "GridOperator",
    "Hierarchy", "Level", "MAX_COARSE", "NotAGrid", "STRENGTH", "SparseLU", "SparseSmoother",
    "aggregation_hierarchy", "algebraic_hierarchy", "classical_hierarchy", "device_hierarchy",
    "check_stencil", "weak_couplings", "cluster_labels",
    "cluster_labels_reference", "coarse_shape", "coarsest_cells", "contraction", "flat_offsets",
    "grid_hierarchy",
    "grid_shape_of", "grid_stencil", "infer_shapes", "interior", "interior_slices", "loop_bounds",
    "mirror", "offsets",
    "pad", "padded_shape", "smoothed_basis", "smoothed_basis_reference", "stencil_to_csr", "vcycle",
    *_TORCH,
]
