"""Algebraic levels: PyAMG's coarsening as a :class:`Hierarchy` of sparse levels.

:func:`aggregation_hierarchy` builds smoothed-aggregation levels of any SPD
CSR matrix from PyAMG's building blocks (strength of connection, standard
aggregation, the tentative prolongator, Jacobi prolongation smoothing) with
the Galerkin products ``Pᵀ A P`` done here in CSR by the row-parallel
:func:`learnsolve.ops.galerkin` (PyAMG's own solver forms them serially in
BSR, which costs about half of its set-up on 1×1 blocks).
:func:`algebraic_hierarchy` takes a ready PyAMG ``MultilevelSolver`` instead.
The levels' ``A``, ``P``, ``R`` are SciPy CSR matrices, the smoothers sparse
matrices applied by :class:`SparseSmoother`, the coarsest level a sparse LU;
the cycle is the same :func:`vcycle` the grid levels run.  Moving the
matrices to a device (cupyx, torch) keeps the cycle: it only uses ``@``,
``+`` and ``-``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._validation import as_csr, positive_diagonal
from ..ops import galerkin
from ._hierarchy import Hierarchy, Level

#: Strength-of-connection threshold of :func:`aggregation_hierarchy` (PyAMG's symmetric measure
#: ``|a_ij| ≥ θ √(a_ii a_jj)``).  PyAMG's default θ = 0 lets aggregates straddle coefficient jumps;
#: on P1 FEM diffusion with contrast 1e4–1e6 (2D 200k, 3D 100k unknowns) θ = 0.02 took CG from
#: 40–133 to 11–20 iterations with the same smoother, and 0.01–0.05 gave within ±2 of that.
STRENGTH = 0.02
#: Direct solve at or below this many unknowns (a sparse LU).
MAX_COARSE = 500


class SparseLU:
    """``b ↦ A⁻¹ b`` by SciPy's SuperLU of ``A`` (the coarsest level of an algebraic hierarchy)."""

    def __init__(self, A, func="learnsolve.multigrid.SparseLU"):
        try:
            self.lu = spla.splu(sp.csc_matrix(A))
        except RuntimeError as exc:  # "Factor is exactly singular"
            raise ValueError(f"{func}: the matrix (or its coarsest level) is singular ({exc}); a "
                             "symmetric positive definite matrix is needed — e.g. pin one value of "
                             "a pure-Neumann problem or add a Dirichlet condition.") from None

    def astype(self, dtype):
        return self

    def __call__(self, b):
        return self.lu.solve(np.asarray(b, dtype=np.float64)).astype(b.dtype, copy=False)


def _checked(A, func):
    """``A`` as float64 canonical CSR with consistent arrays and a positive diagonal."""
    A = as_csr(A, func)
    positive_diagonal(A, func)
    return A if A.dtype == np.float64 else A.astype(np.float64)


def classical_hierarchy(A, *, theta=0.25, max_coarse=MAX_COARSE, max_levels=20,
                        func="learnsolve.multigrid.classical_hierarchy"):
    """Classical (Ruge–Stüben) levels of SPD CSR ``A`` from PyAMG (no smoothers set).

    PyAMG's ``ruge_stuben_solver`` with classical strength ``theta``, RS
    splitting and classical interpolation (its Galerkin products are CSR);
    the coarsest level is solved by a sparse LU.  Classical coarsening
    follows strong anisotropy, where aggregation with a small strength
    threshold does not.

    Examples
    --------
    >>> import numpy as np
    >>> from learnsolve.problems import anisotropic
    >>> from learnsolve.multigrid import classical_hierarchy
    >>> H = classical_hierarchy(anisotropic(64, eps=1e-3).A, max_coarse=100)
    >>> len(H) > 2, H.levels[-1].A.shape[0] <= 100
    (True, True)
    """
    import pyamg

    A = _checked(A, func)
    if A.shape[0] <= max_coarse:
        return Hierarchy([Level(A, coarse_solver=SparseLU(A, func))])
    ml = pyamg.ruge_stuben_solver(sp.csr_matrix(A, dtype=np.float64),
                                  strength=("classical", {"theta": theta}),
                                  max_coarse=max_coarse, max_levels=max_levels)
    levels = [Level(sp.csr_array(lvl.A), P=sp.csr_array(lvl.P), R=sp.csr_array(lvl.R))
              for lvl in ml.levels[:-1]]
    coarsest = sp.csr_array(ml.levels[-1].A)
    levels.append(Level(coarsest, coarse_solver=SparseLU(coarsest, func)))
    return Hierarchy(levels)


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


def aggregation_hierarchy(A, *, theta=STRENGTH, max_coarse=MAX_COARSE, max_levels=20, omega=4 / 3,
                          func="learnsolve.multigrid.aggregation_hierarchy"):
    """Smoothed-aggregation levels of SPD CSR ``A`` from PyAMG's building blocks (no smoothers set).

    Per level: PyAMG's symmetric strength of connection with threshold
    ``theta``, standard aggregation, the tentative prolongator of the
    constant vector, one Jacobi prolongation-smoothing step with PyAMG's
    ``'local'`` (Gershgorin) weighting — deterministic, no eigenvalue
    estimate — and the Galerkin product ``Pᵀ A P`` in CSR (:func:`learnsolve.ops.galerkin`).  Coarsening stops
    at ``max_coarse`` unknowns (or when a level no longer shrinks); the
    coarsest level is solved by a sparse LU.  A matrix with at most
    ``max_coarse`` rows gives one level: a direct solve.

    Parameters
    ----------
    A : sparse matrix
        Symmetric positive definite (its arrays and diagonal are checked here,
        its symmetry by the preconditioners that call this).
    theta : float
        Strength threshold (:data:`STRENGTH`).
    max_coarse, max_levels : int
    omega : float
        Prolongation-smoothing weight (PyAMG's default 4/3).

    Returns
    -------
    Hierarchy
        Set smoothers with :meth:`Hierarchy.with_jacobi` or :meth:`Hierarchy.with_stencils`.

    Examples
    --------
    >>> from learnsolve.problems import fem_diffusion
    >>> from learnsolve.multigrid import aggregation_hierarchy
    >>> H = aggregation_hierarchy(fem_diffusion(48, contrast=1e4).A)
    >>> [lvl.A.shape[0] for lvl in H.levels]
    [2209, 338]
    """
    from pyamg.aggregation import fit_candidates, jacobi_prolongation_smoother, standard_aggregation
    from pyamg.strength import symmetric_strength_of_connection

    A = _checked(A, func)
    B = np.ones((A.shape[0], 1))
    levels = []
    while A.shape[0] > max_coarse and len(levels) < max_levels - 1:
        C = symmetric_strength_of_connection(sp.csr_matrix(A), theta)
        aggregates = standard_aggregation(C)[0]
        used = np.diff(sp.csc_array(aggregates).indptr) > 0
        if not used.all():  # drop empty aggregates (every node unaggregated: no columns left)
            aggregates = sp.csr_array(aggregates[:, used])
        if aggregates.shape[1] == 0 or aggregates.shape[1] >= A.shape[0]:
            break  # no strong connections left to aggregate: solve this level directly
        T, B = fit_candidates(aggregates, B)
        P = sp.csr_array(jacobi_prolongation_smoother(sp.csr_matrix(A), T, C, B, omega=omega,
                                                      weighting="local"))
        R = sp.csr_array(P.T)
        levels.append(Level(A, P=P, R=R))
        A = galerkin(A, P, R)
    levels.append(Level(A, coarse_solver=SparseLU(A, func)))
    return Hierarchy(levels)


def device_hierarchy(H, K, kind, device=None, *, sweeps=1):
    """Host hierarchy ``H`` (SciPy levels) with smoothers ``K`` (one symmetric sparse matrix per
    level but the coarsest) as a hierarchy of ``kind`` (``'torch'`` or ``'cupy'``) sparse matrices
    on ``device``; the coarsest level is solved by its dense inverse (a product on the device).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from learnsolve.problems import poisson
    >>> from learnsolve.multigrid import aggregation_hierarchy, device_hierarchy
    >>> A = poisson((40, 40)).A
    >>> H = aggregation_hierarchy(A, max_coarse=100)
    >>> K = [0.6 * sp.diags_array(1 / lvl.A.diagonal()).tocsr() for lvl in H.levels[:-1]]
    >>> Hd = device_hierarchy(H, K, "torch")
    >>> b = np.ones(A.shape[0])
    >>> x = H.with_stencils(K, K).apply(b)
    >>> bool(np.allclose(Hd.apply(torch.from_numpy(b)).numpy(), x))
    True
    """
    from ..ops import to_device

    levels = [Level(to_device(lvl.A, kind, device=device), P=to_device(lvl.P, kind, device=device),
                    R=to_device(lvl.R, kind, device=device)) for lvl in H.levels[:-1]]
    C = sp.csr_array(H.levels[-1].A)
    inverse = np.linalg.inv(C.toarray())
    inverse = 0.5 * (inverse + inverse.T)
    if kind == "torch":
        import torch

        inverse = torch.as_tensor(inverse, device=device)
    else:
        import cupy

        inverse = cupy.asarray(inverse)
    levels.append(Level(to_device(C, kind, device=device), coarse_solver=lambda b: inverse @ b))
    Kd = [to_device(sp.csr_array(k), kind, device=device) for k in K]
    return Hierarchy(levels).with_stencils(Kd, Kd, sweeps=sweeps)
