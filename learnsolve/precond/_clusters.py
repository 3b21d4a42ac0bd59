"""A coefficient-cluster coarse space combined with a grid cycle (balancing form).

``M = C + (I − C A) V (I − A C)`` with ``C = Z (Zᵀ A Z)⁻¹ Zᵀ``: ``V`` is the
grid V-cycle and ``Z`` the smoothed indicators of the matrix's coefficient
clusters cut into grid blocks (:mod:`learnsolve.ops._clusters`).  ``M`` is
symmetric, and positive definite whenever ``V`` is (the balancing
Neumann–Neumann form); ``Zᵀ A Z`` is factorized once by a sparse LU.
"""

from __future__ import annotations

#: Couplings at or below this scaled strength are coefficient jumps (see :func:`cluster_labels`).
THETA = 0.05
#: Edge of the grid blocks the clusters are cut into.
BLOCK = 6
#: Damping of the Jacobi step that smooths the cluster indicators.
OMEGA = 0.85
#: ``clusters="auto"`` adds the space when the cycle's estimated ``ρ(I − M A)`` exceeds this.
RHO_GATE = 0.2


def with_clusters(A, apply, shape, *, theta=THETA, block=BLOCK, omega=OMEGA, when="auto"):
    """Wrap the cycle ``apply`` with the cluster coarse space of ``A``.

    Parameters
    ----------
    A : scipy.sparse CSR array
        The fine matrix.
    apply : callable
        The SPD cycle ``r -> V r`` (float64 in and out).
    shape : tuple of int
        Grid shape.
    theta, block : float, int
        See :func:`learnsolve.ops._clusters.cluster_labels`.
    omega : float
        Damping of the Jacobi step applied to the indicators.
    when : {"auto", True}
        ``"auto"`` keeps ``apply`` unchanged when ``A`` has no coupling at or
        below ``theta`` (no coefficient jumps to resolve).

    Returns
    -------
    apply : callable
        The combined preconditioner (or the cycle itself).
    info : dict
        ``clusters`` (their number; 0 when not used) and ``cluster_nnz_lu``.
    """
    from ..ops._clusters import cluster_labels, factorize, galerkin, smoothed_basis

    labels, weak = cluster_labels(A, shape, theta=theta, block=block)
    if when == "auto" and weak == 0:
        return apply, {"clusters": 0}
    Z = smoothed_basis(A, labels, omega=omega)
    E, AZ = galerkin(A, Z)
    lu = factorize(E)
    Zt, AZt = Z.T.tocsr(), AZ.T.tocsr()

    def balanced(b):
        x = Z @ lu.solve(Zt @ b)
        y = apply(b - A @ x)
        return x + y - Z @ lu.solve(AZt @ y)

    return balanced, {"clusters": int(Z.shape[1]), "cluster_nnz_lu": int(lu.L.nnz + lu.U.nnz),
                      "cluster_block": block, "cluster_theta": theta}
