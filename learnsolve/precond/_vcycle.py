"""Grid V-cycles as preconditioners: classical (damped Jacobi) and learned smoothers.

Both build the grid :class:`~learnsolve.multigrid.Hierarchy` (black-box
interpolation ``P``, restriction ``Pᵀ``, Galerkin coarse stencils ``Pᵀ A P``
by stencil arithmetic, a dense Cholesky solve on the coarsest grid) on the
matrix's device, set ``nu`` pre-smoothing sweeps with ``K`` and ``nu``
post-smoothing sweeps with ``Kᵀ`` on every level, and wrap the cycle as a
preconditioner.  The cycle is linear and symmetric by construction; set-up
checks that it is positive definite (a few power iterations on ``I - M A``
in the ``A``-norm) and otherwise warns and falls back to PyAMG smoothed
aggregation (on the host) or Jacobi (on a device).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import as_csr
from ..multigrid import (
    RHO_GATE,
    THETA,
    ClusterSpace,
    DeviceClusterSpace,
    NotAGrid,
    check_stencil,
    contraction,
    grid_hierarchy,
    grid_stencil,
    infer_shapes,
    weak_couplings,
)
from ..zoo import LearnedModel, load_state, require_meta
from ._amg import sa_fallback
from ._base import Preconditioner
from ._device import (
    DevicePreconditioner,
    as_torch,
    check_graph,
    cuda_graphed,
    device_kind,
    fastest,
)

#: ``ρ(I − M A)`` estimates at or above this fail the positive-definiteness check.
RHO_FAIL = 0.995
#: ``‖I − K A‖²_A`` estimates at or above this make :func:`guard_smoothers` replace a level's
#: learned smoother by damped Jacobi.
GUARD_RATE = 1.0
#: The keyword options of the grid cycles that a preconditioner name's suffixes may set.
CYCLE_KEYWORDS = frozenset({"dtype", "clusters", "graph"})


def _check_options(func, dtype, clusters, graph, kind):
    if clusters not in ("auto", True, False):
        raise ValueError(f"{func}: `clusters` must be 'auto', True or False, got {clusters!r}.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{func}: `dtype` must be float32 or float64, got {dtype}.")
    check_graph(graph, func)
    if graph is True and kind is None:
        raise ValueError(f"{func}: `graph=True` replays the cycle from a CUDA graph and needs a "
                         "cupyx or torch CUDA matrix; for a SciPy matrix leave graph='auto'.")
    return dtype


def grid_cycle(A, smoothers, *, shape=None, nu=1, name, func, check=True, dtype=np.float64,
               clusters="auto", graph="auto", info=None, guard=None):
    """The V-cycle preconditioner of grid matrix ``A``, set up and applied on ``A``'s device.

    Parameters
    ----------
    A : sparse matrix, cupyx or torch sparse CSR matrix
        SPD grid matrix (see :func:`learnsolve.multigrid.grid_stencil`).
    smoothers : callable
        ``smoothers(H) -> (K, KT)``: per level but the coarsest, the smoother
        stencils for the float64 hierarchy ``H`` and, optionally, their
        transposes (``KT`` may be ``None``).
    shape : tuple of int, optional
        Grid shape; inferred for square and cube grids.
    nu : int
        Pre- and post-smoothing sweeps.
    check : bool
        Estimate ``ρ(I − M A)``; at ``RHO_FAIL`` or above warn and fall back.
    dtype : {float64, float32}
        Precision the cycle is stored and applied in (the Krylov loop stays in
        its own; the hierarchy is built in float64, then converted).
    clusters : {"auto", True, False}
        Add the coefficient-cluster coarse space
        (:class:`learnsolve.multigrid.ClusterSpace`); ``"auto"`` adds it when
        ``A`` has coefficient jumps and the cycle alone contracts worse than
        ``RHO_GATE`` (always, when ``check`` is off).  On a device the space is
        built on the host and applied on the device (:func:`_device_space`).
    graph : {"auto", True, False}
        CUDA devices: replay the cycle from a CUDA graph
        (:func:`learnsolve.precond._device.cuda_graphed`); ``"auto"`` on CUDA,
        ``True`` insists, ``False`` stays eager.
    guard : float, optional
        Jacobi damping for :func:`guard_smoothers` on the coarse levels (learned
        smoothers), applied where ``A`` has coefficient jumps
        (:func:`learnsolve.multigrid.weak_couplings`: the only fields where a
        level's smoother was seen not to contract; on smooth fields the cycle's
        own check still guards it); ``None`` leaves the smoothers as given.
    name, func, info
        The preconditioner's name, the public function for error messages,
        extra ``info`` entries.
    """
    kind = device_kind(A)
    dtype = _check_options(func, dtype, clusters, graph, kind)
    t0 = time.perf_counter()
    clock = _StageClock(t0)
    if kind is None:
        A = as_csr(A, func)
        S, shape = grid_stencil(A, shape, func=func)
        clock("stencil")
        check_stencil(S, shape, func)  # symmetric, positive diagonal (one numba pass)
        clock("checks")
    else:
        import torch

        T, device = as_torch(A, kind)
        if graph is True and torch.device(device).type != "cuda":
            raise ValueError(f"{func}: `graph=True` needs a matrix on a CUDA device, got one on "
                             f"{device}; pass graph='auto' or False.")
        S, shape = grid_stencil(T, shape, func=func)
        S = S.to(torch.float64)
        diag = check_stencil(S, shape, func)
        clock("stencil")
    H = grid_hierarchy(S, shape, func=func)
    clock("hierarchy")
    K, KT = smoothers(H)
    clock("smoothers")
    if dtype == np.float32:
        H = H.astype(dtype if kind is None else torch.float32)
    if kind is None:  # float32 smoother stencils (the network's) stay float32 in a float64 cycle
        to = lambda k: k if k.dtype == np.float32 else k.astype(dtype)  # noqa: E731
    else:
        to = lambda k: k.to(H.dtype)  # noqa: E731
    H.with_stencils([to(k) for k in K], None if KT is None else [to(k) for k in KT], sweeps=nu)
    clock("smoothers")
    info = dict(info or {}, levels=len(H), grid=tuple(shape), nu=nu, dtype=str(dtype),
                operator_complexity=round(H.operator_complexity, 3), setup_times=clock.times)
    jumps = None  # whether A has coefficient jumps: one stencil pass, made when first needed
    if guard is not None:  # only where the network may extrapolate: across coefficient jumps
        jumps = weak_couplings(S, shape, THETA) > 0
        info["guarded_levels"] = guard_smoothers(H, guard, sweeps=nu) if jumps else []
        clock("guard")
    rho = None
    if check:  # in the finest level's padded layout: stencil products, no copies
        rho = contraction(H.levels[0].A.__matmul__, H.cycle, _start_vector(H))
        clock("check")
    if check and not (rho < RHO_FAIL):
        why = (f"the V-cycle is not a convergent SPD preconditioner for this matrix "
               f"(estimated ρ(I − M A) = {rho:.3g})")
        if kind is None:
            return sa_fallback(A, why, func, t0)
        warnings.warn(f"{func}: {why}; falling back to Jacobi on the device.", RuntimeWarning,
                      stacklevel=3)
        inv_d = (1.0 / diag).reshape(-1)
        return _on_device(lambda r: r * inv_d.to(r.dtype), A, kind, device, graph, "jacobi",
                          dict(info, fallback=why), func, t0)
    if rho is not None:
        info["rho"] = round(float(rho), 4)
    add_space = clusters and (clusters is True or rho is None or rho > RHO_GATE)
    if add_space and clusters is not True:  # "auto": no jumps, no clusters; the stencil pass
        # answers that without the labels (24 ms at 1024²) or, on a device, a host copy of A
        jumps = weak_couplings(S, shape, THETA) > 0 if jumps is None else jumps
        if not jumps:
            add_space = False
            info["clusters"] = 0
            clock("clusters")
    if kind is not None:
        info.update(setup="device")
        tdtype = H.dtype
        wrap = _device_space(T, shape, clusters, info) if add_space else None
        if add_space:
            clock("clusters")
        return _on_device(lambda r: H.apply(r.to(tdtype)).to(r.dtype), A, kind, device, graph, name,
                          info, func, t0, hierarchy=H, wrap=wrap)
    apply = H.apply
    if add_space:
        # I − M A = (I − Π)(I − V A)(I − Π) with Π the A-orthogonal projector onto span(Z),
        # so the cycle's contraction checked above bounds the combined one: no second check
        space = ClusterSpace(A, shape, check=False)  # A: validated canonical CSR
        if clusters is True or space.weak:
            apply = space.build().balanced(H.apply)
            info.update(space.info())
        else:
            info["clusters"] = 0
        clock("clusters")
    P = Preconditioner(apply, A.shape, np.float64, name=name, info=info)
    P.hierarchy = H
    P.setup_time = time.perf_counter() - t0
    return P


def guard_smoothers(H, omega, *, sweeps=1, steps=4, first=1):
    """Give damped Jacobi to the levels whose smoother alone does not contract; their list.

    For each level ``l ≥ first`` but the coarsest, estimate ``‖I − K A‖²_A``
    (``steps`` power steps on ``(I − Kᵀ A)(I − K A)``, the level's post- after
    its pre-smoother, from a seeded random vector) and where it is at least
    ``GUARD_RATE`` set ``K = ω D⁻¹`` on that level.  A V-cycle whose smoothers all
    contract in their level's ``A``-norm is SPD and convergent; a learned smoother
    extrapolating on high-contrast Galerkin operators may not (rough 3D fields:
    ``‖I − K A‖`` up to 4 on the second level).  The finest level is left to the
    cycle's own check (``first=1``): the coarse levels together cost under a
    third of it in 2D and a seventh in 3D.
    """
    replaced = []
    for l in range(first, len(H) - 1):
        lvl = H.levels[l]
        A = lvl.A
        e, zero = _level_vector(A, seed=l)
        e = e / _norm(e)
        rate = np.inf
        for _ in range(steps):  # e has unit norm at the start of each step
            e = lvl.postsmoother(A, zero, lvl.presmoother(A, zero, e))
            rate = _norm(e)
            if not np.isfinite(rate) or rate == 0:
                break
            e = e / rate
        if not rate < GUARD_RATE:
            jac = A.jacobi(omega)
            lvl.presmoother, lvl.postsmoother = A.smoothers(jac, jac, sweeps)
            replaced.append(l)
    return replaced


def _norm(v):
    return float((v * v).sum()) ** 0.5


def _level_vector(A, seed):
    """A seeded random padded vector of level operator ``A`` (ghosts zero) and a zero one."""
    if isinstance(A.S, np.ndarray):
        e = A.pad(np.random.default_rng(seed).standard_normal(A.n).astype(A.dtype)).copy()
        return e, np.zeros_like(e)
    import torch

    g = torch.Generator(device="cpu").manual_seed(seed)
    e = A.pad(torch.randn((A.S.shape[0], A.n), generator=g, dtype=A.dtype).to(A.S.device))
    return e, torch.zeros_like(e)


class _StageClock:
    """Seconds per set-up stage: ``clock(stage)`` adds the time since the last call to
    ``times[stage]`` (milliseconds, rounded; what ``info["setup_times"]`` reports)."""

    def __init__(self, t0):
        self.last, self.times = t0, {}

    def __call__(self, stage):
        now = time.perf_counter()
        self.times[stage] = round(self.times.get(stage, 0.0) + 1e3 * (now - self.last), 1)
        self.last = now


def _start_vector(H, seed=0):
    """A seeded random padded fine-grid vector (ghosts zero) on the hierarchy's device."""
    A0 = H.levels[0].A
    if isinstance(A0.S, np.ndarray):
        return A0.pad(np.random.default_rng(seed).standard_normal(A0.n).astype(A0.dtype)).copy()
    import torch

    g = torch.Generator(device="cpu").manual_seed(seed)
    return A0.pad(torch.randn((1, A0.n), generator=g, dtype=A0.dtype).to(A0.S.device))


def _device_space(T, shape, clusters, info):
    """The cluster coarse space of device matrix ``T`` around a device cycle: ``wrap(V) -> M``
    (float64 in and out), or ``None`` when ``clusters='auto'`` and ``T`` has no coefficient jumps.

    Labels, basis, ``Zᵀ A Z`` and its LU are built on the host (one copy of ``T``
    there); the products run on ``T``'s device, and the coarse solve is the
    fastest of :meth:`~learnsolve.multigrid.DeviceClusterSpace.coarse_solvers`
    on a seeded vector (all agree with SuperLU's; ``info`` records each one's time).
    """
    import torch

    from ..ops import to_device

    space = ClusterSpace(to_device(T, "scipy").astype(np.float64), shape, check=False)  # T: checked
    if not (clusters is True or space.weak):
        info["clusters"] = 0
        return None
    dev = DeviceClusterSpace(space.build(), T.device)
    g = torch.Generator(device="cpu").manual_seed(2)
    probe = torch.randn(dev.m, generator=g, dtype=torch.float64).to(T.device)
    sync = torch.cuda.synchronize if T.device.type == "cuda" else (lambda: None)
    choice, solve, times = fastest(dev.coarse_solvers(), probe, sync=sync, reference="host")
    times.update(dev.skipped)
    info.update(space.info(), cluster_solve=choice, cluster_solve_s=times,
                cluster_setup_s={k: round(v, 4) for k, v in space.times.items()})

    def wrap(cycle):
        M = dev.balanced(cycle, solve)
        return lambda r: M(r.to(torch.float64)).to(r.dtype)

    return wrap


def _on_device(torch_apply, A, kind, device, graph, name, info, func, t0, hierarchy=None,
               wrap=None):
    """A :class:`DevicePreconditioner` applying ``torch_apply`` (from a CUDA graph when it can),
    or ``wrap(torch_apply)`` when given (the graph replays ``torch_apply`` alone)."""
    import torch

    n = int(A.shape[0])
    info = dict(info, device=str(device), backend=kind)
    if graph is not False:
        g = torch.Generator(device="cpu").manual_seed(1)
        probe = torch.randn(n, generator=g, dtype=torch.float64).to(device)
        torch_apply, why = cuda_graphed(torch_apply, probe)
        info["graph"] = why is None
        if why is not None:
            info["graph_skipped"] = why
            if graph is True:
                warnings.warn(f"{func}: not using a CUDA graph: {why}.", RuntimeWarning, stacklevel=4)
    else:
        info["graph"] = False
    if wrap is not None:
        torch_apply = wrap(torch_apply)
    if kind == "torch":
        apply = torch_apply
    else:
        import cupy

        def apply(r):
            return cupy.from_dlpack(torch_apply(torch.from_dlpack(r)))

    P = DevicePreconditioner(apply, (n, n), np.float64, name=name, info=info)
    P.hierarchy = hierarchy
    P.setup_time = time.perf_counter() - t0
    return P


def jacobi_level_smoother(omega):
    """``level_smoother(A) -> (K, KT, live)`` of damped Jacobi (see
    :meth:`LearnedVCycle.level_smoother`)."""

    def level_smoother(A):
        K = A.jacobi(omega)
        return K, K, np.array([len(A.delta) // 2])

    return level_smoother


def jacobi_smoothers(omega):
    """``smoothers(H)`` for :func:`grid_cycle`: damped Jacobi ``K = ω / a_pp`` (centre-only)."""

    def smoothers(H):
        return [lvl.A.jacobi(omega) for lvl in H.levels[:-1]], None

    return smoothers


def gmg(A, shape=None, *, omega=0.65, nu=1, check=True, dtype=np.float64, clusters="auto",
        graph="auto"):
    """Geometric multigrid V-cycle with damped Jacobi smoothing (the classical baseline).

    Parameters
    ----------
    A : sparse matrix
        SPD, coupling only neighbouring cells of a 2D or 3D grid (5/9-point or
        7/27-point stencils).  A cupyx or torch sparse CSR matrix gets the
        cycle set up and applied on its device.
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
        Add the coefficient-cluster coarse space (see
        :class:`learnsolve.multigrid.ClusterSpace`; on a device: built on the
        host, applied on the device).
    graph : {"auto", True, False}
        Device matrices on a CUDA device: replay the cycle from a CUDA graph
        (see :func:`grid_cycle`).

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> import learnsolve
    >>> p = learnsolve.problems.poisson((64, 64))
    >>> x, info = spla.cg(p.A, p.b, M=learnsolve.precond.gmg(p.A), rtol=1e-8)
    >>> info
    0
    """
    return grid_cycle(A, jacobi_smoothers(omega), shape=shape, nu=nu, name="gmg-jacobi",
                      func="learnsolve.precond.gmg", check=check, dtype=dtype, clusters=clusters,
                      graph=graph, info={"omega": omega})


class LearnedVCycle(LearnedModel, method="vcycle"):
    """A trained :class:`~learnsolve.nn.SmootherNet` with metadata; :meth:`aspreconditioner`.

    Obtain one with ``learnsolve.pretrained('vcycle-2d')`` (or ``'vcycle-3d'``).
    """

    options = CYCLE_KEYWORDS
    grid = True

    def __init__(self, name, model, meta, *, family="vcycle"):
        super().__init__(name, model, meta)
        self.family = family  # models the dimension-mismatch error suggests: '<family>-2d/3d'

    def __repr__(self):
        return f"<LearnedVCycle {self.name!r} dim={self.model.dim} nu={self.meta.get('nu', 1)}>"

    @classmethod
    def from_weights(cls, name, meta, state, path):
        from ..nn import SmootherNet

        require_meta(meta, ("dim",), path)
        meta = dict(meta, dim=int(meta["dim"]), nu=int(meta.get("nu", 1)))  # checked here, once
        net = SmootherNet(meta["dim"], int(meta["channels"]), int(meta["layers"]),
                          pattern=bool(meta.get("pattern", False)))
        return cls(name, load_state(net, state, path), meta)

    def smoothers(self, H):
        """Smoother stencils predicted for every level of grid hierarchy ``H`` but the coarsest.

        Host levels: the network's float32 forward on inputs from
        :func:`learnsolve.ops.stencil.smoother_features`, its output scaled by
        :func:`~learnsolve.ops.stencil.smoother_assemble`, which also writes ``Kᵀ``
        (float32 cell-major ``(N, m)`` arrays, equal to the network's own
        :meth:`~learnsolve.nn.SmootherNet.smoother`).  Torch levels: the
        network's forward on their device (float32 inference, the stencils' dtype
        out; ``Kᵀ`` is applied on the fly).
        """
        S0 = H.levels[0].A.S
        if isinstance(S0, np.ndarray):
            out = [self._host_smoother(lvl.A) for lvl in H.levels[:-1]]
            return [k for k, _ in out], [kt for _, kt in out]
        import copy

        import torch

        device = S0.device
        model = self.model if device.type == "cpu" else copy.deepcopy(self.model).to(device)
        with torch.no_grad():
            return [model.smoother(lvl.A.S.to(torch.float32)).to(lvl.A.S.dtype)
                    for lvl in H.levels[:-1]], None

    def level_smoother(self, A):
        """``(K, KT, live)``: the smoother stencil the network predicts for host grid operator
        ``A`` and its transpose's (float32 cell-major ``(N, len(live))``), and the offsets they
        live on (indices into ``learnsolve.multigrid.offsets``); what the distributed cycle of
        :mod:`learnsolve.petsc` assembles per rank."""
        K, KT = self._host_smoother(A)
        m = A.S.shape[0]
        return K, KT, (A.active if getattr(self.model, "pattern", False) else np.arange(m))

    def _host_smoother(self, A, cells=16384):
        """``(K, KT)`` of one host level: the network's float32 forward in blocks of grid lines
        (about ``cells`` cells), its inputs and output scaling by the numba kernels, so no
        level-sized intermediate is made."""
        import torch

        from ..ops import stencil as kernels

        net = self.model
        dtype = next(net.parameters()).dtype
        m = A.S.shape[0]
        z0, z1, Py, Px = A.bounds
        nx, lines = Px - 2, (z1 - z0) * (Py - 2)
        step = max(1, cells // nx)
        inv = np.zeros(A.S.shape[1], np.float32)
        kernels.inverse_sqrt_diagonal(A.S, inv, *A.bounds)
        # cell-major, as the cycle's kernels read it; on A's pattern (A.active) or all m offsets
        live = A.active if getattr(net, "pattern", False) else np.arange(m)
        K = np.zeros((A.S.shape[1], live.size), np.float32)
        KT = np.zeros_like(K)
        feats = np.empty((step * nx, m - 1), np.float32)
        mir, omega = A.mirror_of(live), np.float32(net.omega)
        with torch.inference_mode():
            for l0 in range(0, lines, step):
                l1 = min(lines, l0 + step)
                rows = (l1 - l0) * nx
                kernels.smoother_features(A.S, A.delta, inv, feats, l0, l1, z0, Py, Px)
                kappa = net.mlp(torch.from_numpy(feats[:rows]).to(dtype)).to(torch.float32).numpy()
                kernels.smoother_assemble(kappa, inv, A.delta, live, mir, omega, K, KT, l0, l1, z0,
                                          Py, Px)
        return K, KT

    def _check_dimension(self, shape, func):
        """``NotAGrid`` naming the right model when ``shape`` is a grid of another dimension."""
        if shape is not None and len(shape) != self.model.dim:
            raise NotAGrid(f"{func}: this model is for {self.model.dim}D grids but `A` is on a "
                           f"{len(shape)}D grid {tuple(shape)}; use "
                           f"learnsolve.pretrained('{self.family}-{len(shape)}d').")

    def grid_shape(self, A, shape, func):
        """``shape``, or the square/cube grid of ``A`` (this model's dimension first), checked."""
        if shape is None:
            n = int(A.shape[0])
            dim = self.model.dim
            mine, other = infer_shapes(n, dim), infer_shapes(n, 5 - dim)
            shape = mine[0] if mine else (other[0] if other else None)
        self._check_dimension(shape, func)
        return shape

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
            count flat on rough high-contrast coefficients (``"auto"``: when ``A``
            has coefficient jumps and the cycle alone contracts poorly; see
            :class:`learnsolve.multigrid.ClusterSpace`; on a device it is built
            on the host and applied on the device).
        graph : {"auto", True, False}
            Device matrices on a CUDA device: replay the cycle from a CUDA graph
            (see :func:`grid_cycle`).
        """
        func = f"learnsolve.pretrained({self.name!r}).aspreconditioner"
        return grid_cycle(A, self.smoothers, shape=self.grid_shape(A, shape, func),
                          nu=int(self.meta.get("nu", 1)), name=self.name, func=func, check=check,
                          dtype=dtype, clusters=clusters, graph=graph, info={"model": self.name},
                          guard=self.model.omega)
