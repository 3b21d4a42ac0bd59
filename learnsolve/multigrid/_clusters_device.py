"""The cluster coarse space applied on a device: host factorization, device products.

:class:`ClusterSpace` labels the clusters, builds ``Z`` and ``E = Zᵀ A Z`` and
factorizes ``E`` on the host (SciPy's SuperLU; at 2048² about 160k clusters and
1 s of the set-up, most of it the factorization).  :class:`DeviceClusterSpace`
moves ``A``, ``Z``, ``Zᵀ`` and ``(A Z)ᵀ`` to a torch device once and applies the
balanced combination ``M = C + (I − C A) V (I − A C)`` there.  The coarse solve
``E⁻¹`` has several implementations, all exact (:meth:`DeviceClusterSpace.coarse_solvers`):

- ``"host"``: the vector goes to the host, SuperLU solves, it comes back
  (two copies of ``m`` numbers per solve; the only one for any ``m`` on torch);
- ``"dense"``: a dense Cholesky factor of ``E`` on the device, two dense
  triangular solves (``m ≤`` :data:`DENSE_MAX`);
- ``"cusparse"`` (CUDA with CuPy): SuperLU's ``L`` and ``U`` on the device,
  solved by ``cupyx.scipy.sparse.linalg.spsolve_triangular``;
- ``"levels"`` (CUDA with CuPy and NVRTC): the same factors by the
  level-scheduled kernel of :class:`learnsolve.ops.cuda.LevelTriangular`.

The caller times them on one vector and keeps the fastest
(:func:`learnsolve.precond._device.fastest`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Largest number of clusters whose ``E`` gets a dense Cholesky factor on the device
#: (4096² doubles: 128 MiB).
DENSE_MAX = 4096


class DeviceClusterSpace:
    """A built :class:`ClusterSpace` on a torch device (float64 products, any coarse solve).

    Parameters
    ----------
    space : ClusterSpace
        Built (:meth:`ClusterSpace.build`).
    device : torch.device or str
        Where the products run.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from learnsolve.problems import diffusion
    >>> from learnsolve.multigrid import ClusterSpace, DeviceClusterSpace
    >>> p = diffusion(32, contrast=1e4, seed=0)
    >>> space = ClusterSpace(p.A, p.grid_shape).build()
    >>> dev = DeviceClusterSpace(space, "cpu")
    >>> sorted(dev.coarse_solvers())            # on a CPU: no CUDA candidates
    ['dense', 'host']
    >>> d = torch.as_tensor(1 / p.A.diagonal())
    >>> M = dev.balanced(lambda r: r * d, dev.coarse_solvers()["host"])
    >>> host = space.balanced(lambda r: r / p.A.diagonal())
    >>> bool(np.allclose(M(torch.as_tensor(p.b)).numpy(), host(p.b)))
    True
    """

    def __init__(self, space, device):
        import torch

        from ..ops import to_device

        if space.lu is None:
            raise ValueError("learnsolve.multigrid.DeviceClusterSpace: `space` is not built; "
                             "call space.build() first.")
        self.space, self.device = space, torch.device(device)
        self.m = space.m
        put = lambda M: to_device(sp.csr_array(M, dtype=np.float64), "torch", device=self.device)  # noqa: E731
        self.Z = put(space.Z)
        self.AZ, self.Zt, self.AZt = put(space.AZ), put(space.Z.T), put(space.AZ.T)
        self.skipped = {}

    def coarse_solvers(self):
        """``{name: f}`` with ``f(c) = E⁻¹ c`` for float64 vectors on the device (see the module)."""
        import torch

        lu, device = self.space.lu, self.device

        def host(c):
            return torch.as_tensor(lu.solve(c.cpu().numpy()), device=device)

        solvers = {"host": host}
        if self.m <= DENSE_MAX:  # a Cholesky factor, not the inverse: backward stable on E's
            # condition numbers (1e6 and more at contrast 1e4), where an inverse loses 1e-9
            chol = torch.linalg.cholesky(torch.as_tensor(self.space.E.toarray(), device=device))
            solvers["dense"] = lambda c: torch.cholesky_solve(c[:, None], chol)[:, 0]
        self.skipped = {}
        if device.type == "cuda":
            solvers.update(_factor_solvers(lu, self.skipped))
        return solvers

    def balanced(self, cycle, coarse_solve):
        """``M = C + (I − C A) V (I − A C)`` on the device, ``V = cycle``, ``C = Z E⁻¹ Zᵀ``
        with ``E⁻¹ = coarse_solve`` (float64 torch vectors in and out)."""
        Z, Zt, AZ, AZt = self.Z, self.Zt, self.AZ, self.AZt

        def apply(b):  # four products, as the host's ClusterSpace.balanced
            c = Zt @ b
            y = cycle(b - AZ @ coarse_solve(c))
            return y + Z @ coarse_solve(c - AZt @ y)

        return apply


def lu_factors(lu):
    """``(L, U, gather, scatter)`` from SuperLU's ``Pr E Pc = L U``: CSR triangular factors and
    index arrays with ``E⁻¹ c = (U⁻¹ L⁻¹ c[gather])[scatter]`` (what the GPU solves apply).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, scipy.sparse.linalg as spla
    >>> from learnsolve.multigrid._clusters_device import lu_factors
    >>> E = sp.csc_matrix(sp.diags_array([-1.0, 4.0, -1.0], offsets=[-1, 0, 1], shape=(6, 6)))
    >>> L, U, gather, scatter = lu_factors(spla.splu(E))
    >>> c = np.arange(6.0)
    >>> y = spla.spsolve_triangular(U, spla.spsolve_triangular(L, c[gather], lower=True), lower=False)
    >>> bool(np.allclose(E @ y[scatter], c))
    True
    """
    return (sp.csr_array(lu.L), sp.csr_array(lu.U), np.argsort(lu.perm_r),  # y[perm_r] = c
            np.asarray(lu.perm_c))                                          # x = z[perm_c]


def _factor_solvers(lu, skipped):
    """``cusparse`` and ``levels`` solves with SuperLU's factors ``Pr E Pc = L U`` on the GPU
    (torch CUDA vectors in and out, through DLPack); one that cannot be set up is left out, and
    why goes into ``skipped``."""
    import torch

    from .. import _backend

    if not _backend.HAS_CUPY:
        skipped["cusparse"] = skipped["levels"] = "CuPy is not available"
        return {}
    import cupy
    from cupyx.scipy.sparse.linalg import spsolve_triangular

    from ..ops import cuda, to_device

    L, U, gather, scatter = lu_factors(lu)
    gather, scatter = cupy.asarray(gather), cupy.asarray(scatter)

    def wrap(solve):
        def f(c):
            y = cupy.from_dlpack(c)[gather]
            return torch.from_dlpack(solve(y)[scatter])

        return f

    Ld, Ud = to_device(L, "cupy"), to_device(U, "cupy")
    solvers = {"cusparse": wrap(lambda y: spsolve_triangular(
        Ud, spsolve_triangular(Ld, y, lower=True), lower=False))}
    try:
        lo, up = cuda.LevelTriangular(L, True), cuda.LevelTriangular(U, False)
        solvers["levels"] = wrap(lambda y: up.solve(lo.solve(y)))
    except Exception as exc:  # e.g. NVRTC missing: cuSPARSE alone
        skipped["levels"] = f"failed ({type(exc).__name__}: {exc})"
    return solvers
