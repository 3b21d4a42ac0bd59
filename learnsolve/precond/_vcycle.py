"""Grid V-cycles as preconditioners: classical (damped Jacobi) and learned smoothers.

Both use black-box (operator-dependent) interpolation ``P``, restriction
``Pᵀ`` and Galerkin coarse stencils ``Pᵀ A P`` computed by stencil arithmetic
(:class:`learnsolve.ops.GridHierarchy`), a dense Cholesky solve on the
coarsest grid, ``nu`` pre-smoothing sweeps with ``K`` and ``nu``
post-smoothing sweeps with ``Kᵀ``.  The cycle is linear and symmetric by
construction; set-up checks that it is positive definite (a few power
iterations on ``I - M A`` in the ``A``-norm) and otherwise warns and falls
back to PyAMG smoothed aggregation.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import as_csr, check_symmetric, positive_diagonal
from ._amg import amg
from ._base import Preconditioner
from ._device import device_kind


def contraction(matvec, apply, e, *, steps=4):
    """Estimate ``ρ(I - M A)`` by power iteration in the ``A``-norm from ``e`` (``nan`` if it
    blew up).  ``e`` may be a NumPy array or a torch tensor (``matvec``/``apply`` act on it)."""
    rate = np.nan
    Ae = matvec(e)
    norm = float((e * Ae).sum()) ** 0.5
    for _ in range(steps):
        e = e - apply(Ae)
        Ae = matvec(e)
        new = max(float((e * Ae).sum()), 0.0) ** 0.5
        if not np.isfinite(new) or norm == 0:
            return np.nan
        rate, norm = new / norm, new
        if norm == 0:
            return 0.0
    return rate


def grid_vcycle(A, smoother, *, shape=None, nu=1, name, func, check=True, info=None,
                dtype=np.float64, clusters="auto"):
    """Build the V-cycle :class:`Preconditioner` for ``A`` on its grid.

    ``smoother(levels) -> list of K`` gives the padded smoother stencils;
    ``dtype`` is the precision the cycle is stored and applied in;
    ``clusters`` adds the coefficient-cluster coarse space
    (:func:`learnsolve.precond._clusters.with_clusters`); ``"auto"`` adds it
    when ``A`` has coefficient jumps and the cycle alone contracts worse than
    ``RHO_GATE`` (estimated; always, when ``check`` is off).
    """
    if clusters not in ("auto", True, False):
        raise ValueError(f"{func}: `clusters` must be 'auto', True or False, got {clusters!r}.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{func}: `dtype` must be float32 or float64, got {dtype}.")
    from ..ops import GridHierarchy
    from ..problems import grid_stencil

    t0 = time.perf_counter()
    A = as_csr(A, func)
    check_symmetric(A, func)
    positive_diagonal(A, func)
    S, shape = grid_stencil(A, shape, func=func)
    H = GridHierarchy(S, shape)
    K = smoother(H.levels)
    if dtype != H.dtype:
        H, K = H.astype(dtype), [k.astype(dtype) for k in K]
    K = H.with_transposes(K)  # (K, Kᵀ) per level: the post-smoother reads Kᵀ contiguously

    def cycle(r):
        return H.vcycle(r, K, nu)

    info = dict(info or {}, levels=len(H.levels), grid=tuple(shape), nu=nu, dtype=str(dtype),
                operator_complexity=round(H.operator_complexity, 3))
    e = np.random.default_rng(0).standard_normal(A.shape[0])
    rho = contraction(lambda v: A @ v, cycle, e) if check else None
    if check and not (rho < 0.995):
        why = (f"the V-cycle is not a convergent SPD preconditioner for this matrix "
               f"(estimated ρ(I − M A) = {rho:.3g})")
        warnings.warn(f"{func}: {why}; falling back to PyAMG smoothed aggregation.", RuntimeWarning,
                      stacklevel=3)
        P = amg(A, "sa")
        P.info["fallback"] = why
        P.setup_time = time.perf_counter() - t0
        return P
    apply = cycle
    if clusters:
        from ._clusters import RHO_GATE, with_clusters

        if clusters is True or rho is None or rho > RHO_GATE:
            # I − M A = (I − Π)(I − V A)(I − Π) with Π the A-orthogonal projector onto span(Z),
            # so the cycle's contraction checked above bounds the combined one: no second check
            apply, more = with_clusters(A, cycle, shape, when=clusters)
            info.update(more)
    if rho is not None:
        info["rho"] = round(float(rho), 4)
    P = Preconditioner(apply, A.shape, np.float64, name=name, info=info)
    P.hierarchy, P.smoothers, P.nu = H, K, nu
    P.setup_time = time.perf_counter() - t0
    return P


def _host_clusters(clusters, func):
    """The cluster coarse space has no device path: ``True`` is refused there, ``"auto"`` is off."""
    if clusters is True:
        from ._device import NoDevicePath

        raise NoDevicePath(f"{func}: `clusters=True` needs a sparse LU, which runs on the host "
                           f"only; pass a SciPy matrix, or clusters='auto'/False on the device.")


def jacobi_smoothers(levels, omega):
    """Damped Jacobi ``K = omega / a_pp`` as padded stencils."""
    out = []
    for lvl in levels[:-1]:
        K = np.zeros_like(lvl.S)
        c = K.shape[0] // 2
        d = lvl.S[c]
        K[c] = np.where(d > 0, omega / np.where(d > 0, d, 1.0), 0.0)
        out.append(K)
    return out


def _graph_needs_device(graph, kind, func):
    """``graph=True`` is for device matrices; a host matrix gets a clear error."""
    from ._vcycle_device import check_graph

    check_graph(graph, func)
    if graph is True and kind is None:
        raise ValueError(f"{func}: `graph=True` replays the cycle from a CUDA graph and needs a "
                         "cupyx or torch CUDA matrix; for a SciPy matrix leave graph='auto'.")


def gmg(A, shape=None, *, omega=0.65, nu=1, check=True, dtype=np.float64, clusters="auto",
        graph="auto"):
    """Geometric multigrid V-cycle with damped Jacobi smoothing (the classical baseline).

    Parameters
    ----------
    A : sparse matrix
        SPD, coupling only neighbouring cells of a 2D or 3D grid (5/9-point or
        7/27-point stencils).  A cupyx or torch sparse CSR matrix gets the
        cycle set up and applied on its device (its check falls back to
        Jacobi there).
    shape : tuple of int, optional
        Grid shape (C order); inferred for square and cube grids.
    omega : float
        Jacobi damping.
    nu : int
        Pre- and post-smoothing sweeps.
    check : bool
        Verify positive definiteness in set-up (falls back to PyAMG SA if not).
    dtype : {float64, float32}
        Precision the cycle is stored and applied in (float32 halves memory traffic).
    clusters : {"auto", True, False}
        Add the coefficient-cluster coarse space (host only; see
        :func:`learnsolve.precond._clusters.with_clusters`).
    graph : {"auto", True, False}
        Device matrices on a CUDA device: replay the cycle from a CUDA graph
        (see :func:`learnsolve.precond._vcycle_device.device_vcycle`).

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((64, 64))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.gmg(p.A), rtol=1e-8)
    >>> info
    0
    """
    func = "learnsolve.precond.gmg"
    kind = device_kind(A)
    _graph_needs_device(graph, kind, func)
    if kind is not None:
        from ._vcycle_device import device_vcycle, jacobi_smoothers_torch

        _host_clusters(clusters, func)
        dim = len(shape) if shape is not None else 2
        return device_vcycle(A, kind, jacobi_smoothers_torch(omega), shape=shape, dim=dim, nu=nu,
                             name="gmg-jacobi", func=func, check=check, dtype=dtype,
                             info={"omega": omega}, graph=graph)
    return grid_vcycle(A, lambda levels: jacobi_smoothers(levels, omega), shape=shape, nu=nu,
                       name="gmg-jacobi", func=func, check=check, info={"omega": omega}, dtype=dtype,
                       clusters=clusters)


class LearnedVCycle:
    """A trained :class:`~learnsolve.nn.SmootherNet` with metadata; :meth:`aspreconditioner`.

    Obtain one with ``learnsolve.pretrained('vcycle-2d')`` (or ``'vcycle-3d'``).
    """

    def __init__(self, name, model, meta, *, family="vcycle"):
        self.name = name
        self.model = model
        self.meta = dict(meta)
        self.family = family  # models the dimension-mismatch error suggests: '<family>-2d/3d'

    def __repr__(self):
        return f"<LearnedVCycle {self.name!r} dim={self.model.dim} nu={self.meta.get('nu', 1)}>"

    def smoothers(self, levels):
        """Smoother stencils predicted for each level (float32 inference, float64 result)."""
        import torch

        from ..problems._stencil import offsets

        m = len(offsets(self.model.dim))
        out = []
        with torch.inference_mode():
            for lvl in levels[:-1]:
                S = torch.from_numpy(lvl.S.reshape((1, m) + lvl.padded).astype(np.float32))
                K = self.model.smoother(S)[0].reshape(m, -1).double().numpy()
                out.append(np.ascontiguousarray(K))
        return out

    def torch_smoothers(self, stencils):
        """Smoother stencils for padded torch stencils (batch of 1) on their device (float32
        inference, the stencils' dtype out)."""
        import copy

        import torch

        device = stencils[0].device
        model = self.model if device.type == "cpu" else copy.deepcopy(self.model).to(device)
        with torch.no_grad():
            return [model.smoother(S.to(torch.float32)).to(S.dtype) for S in stencils]

    def _check_dimension(self, shape, func):
        """``NotAGrid`` naming the right model when ``shape`` is a grid of another dimension."""
        if shape is not None and len(shape) != self.model.dim:
            from ..problems import NotAGrid

            raise NotAGrid(f"{func}: this model is for {self.model.dim}D grids but `A` is on a "
                           f"{len(shape)}D grid {tuple(shape)}; use "
                           f"learnsolve.pretrained('{self.family}-{len(shape)}d').")

    def aspreconditioner(self, A, shape=None, *, check=True, dtype=np.float64, clusters="auto",
                         graph="auto"):
        """Build the learned V-cycle for ``A`` (a 2D/3D grid stencil matrix).

        Parameters
        ----------
        A : sparse matrix
            SciPy; or a cupyx / torch sparse CSR matrix, whose cycle is then set
            up and applied on its device with no host step (stencils,
            interpolation, Galerkin, network, checks; a failed check falls
            back to Jacobi there).
        shape : tuple of int, optional
            Grid shape; inferred for square (2D) and cube (3D) grids.
        check : bool
            Power-iteration check of positive definiteness (fallback to PyAMG SA).
        dtype : {float64, float32}
            Precision the cycle is stored and applied in.
        clusters : {"auto", True, False}
            Add the coefficient-cluster coarse space, which keeps the iteration
            count flat on rough high-contrast coefficients (host only; ``"auto"``:
            when ``A`` has coefficient jumps and the cycle alone contracts poorly;
            see :func:`learnsolve.precond._clusters.with_clusters`).
        graph : {"auto", True, False}
            Device matrices on a CUDA device: replay the cycle from a CUDA graph
            (see :func:`learnsolve.precond._vcycle_device.device_vcycle`).
        """
        func = f"learnsolve.pretrained({self.name!r}).aspreconditioner"
        dim = self.model.dim
        kind = device_kind(A)
        _graph_needs_device(graph, kind, func)
        if kind is not None:  # set up and apply on A's device
            from ._vcycle_device import device_vcycle

            self._check_dimension(shape, func)
            _host_clusters(clusters, func)
            return device_vcycle(A, kind, self.torch_smoothers, shape=shape, dim=dim,
                                 nu=int(self.meta.get("nu", 1)), name=self.name, func=func,
                                 check=check, dtype=dtype, info={"model": self.name}, graph=graph)
        from ..problems._stencil import infer_shapes

        if shape is None:
            n = as_csr(A, func).shape[0]
            mine, other = infer_shapes(n, dim), infer_shapes(n, 5 - dim)
            shape = mine[0] if mine else (other[0] if other else None)
        self._check_dimension(shape, func)
        return grid_vcycle(A, self.smoothers, shape=shape, nu=int(self.meta.get("nu", 1)),
                           name=self.name, func=func, check=check, info={"model": self.name},
                           dtype=dtype, clusters=clusters)
