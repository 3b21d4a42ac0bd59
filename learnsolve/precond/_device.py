"""Preconditioners for matrices that live on a device: cupyx CSR or torch sparse CSR tensors.

A builder handed such a matrix copies it to the host once, sets up there
(factorization, hierarchy, network inference) and moves what the apply needs
to the matrix's device, so every apply runs there with no host copy:

- a diagonal (Jacobi): one elementwise product;
- ``Gᵀ G`` (FSAI, learned FSAI): two device SpMVs;
- ``(L Lᵀ)⁻¹`` (IC(0), IC(k), MIC(0), SSOR, learned IC): two triangular solves
  (``cupyx.scipy.sparse.linalg.spsolve_triangular``; torch has no sparse
  triangular solve, so for torch tensors these builders raise and say which
  preconditioners work there);
- a grid V-cycle (``gmg``, ``vcycle-2d``/``-3d``, zero-correction DCDM) is
  set up on the device too (the torch grid levels of :mod:`learnsolve.multigrid`),
  and on a CUDA device replayed from a CUDA graph (:func:`cuda_graphed`); its
  cluster coarse space is set up on the host and applied on the device;
- a PyAMG hierarchy (:func:`learnsolve.precond.amg`) is built on the host and
  cycled on the device (recipe ``'hierarchy'``).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import scipy.sparse as sp

from ._base import Preconditioner


class NoDevicePath(ValueError):
    """A preconditioner that cannot run on the device it was asked to (the message says why)."""


def device_kind(A):
    """``'cupy'`` or ``'torch'`` for a device matrix, ``None`` for anything else."""
    mod = type(A).__module__
    if mod.startswith("cupyx"):
        return "cupy"
    if mod.startswith("torch"):
        return "torch"
    return None


def as_torch(A, kind):
    """``(torch CSR tensor, device)`` for a torch or cupyx matrix (CuPy: zero-copy to CUDA)."""
    if kind == "torch":
        import torch

        from .._validation import check_torch_sparse

        check_torch_sparse(A, "learnsolve.precond")
        T = A if A.layout == torch.sparse_csr else A.to_sparse_csr()
        return T, T.device
    import cupy

    from ..ops import to_device

    device = f"cuda:{cupy.cuda.Device().id}"
    return to_device(A, "torch", device=device), device


def require_path(op, kind, func, name):
    """Raise :class:`NoDevicePath` before any set-up when recipe ``op`` cannot run on ``kind``."""
    if op == "llt" and kind == "torch":
        raise NoDevicePath(
            f"{func}: {name} needs sparse triangular solves, which torch does not provide; on torch "
            "tensors use jacobi, fsai, gnn-fsai-a2, gmg or vcycle-2d/3d, or pass a cupyx matrix.")


def accepts_device(op):
    """Let a builder ``f(A, ...)`` whose apply is recipe ``op`` take a cupyx or torch CSR matrix.

    The host preconditioner it builds carries ``P.recipe``: what its apply needs
    (see :func:`on_device`).
    """

    def decorate(builder):
        @functools.wraps(builder)
        def wrapper(A, *args, **kwargs):
            kind = device_kind(A)
            if kind is None:
                return builder(A, *args, **kwargs)
            from ..ops import to_device

            func = f"learnsolve.precond.{builder.__name__}"
            require_path(op, kind, func, builder.__name__)
            P = builder(to_device(A, "scipy"), *args, **kwargs)
            return on_device(P, A, func=func)

        return wrapper

    return decorate


def _device_of(A, kind):
    if kind == "torch":
        return A.device
    import cupy

    return cupy.cuda.Device()


def _vector(v, kind, device, dtype):
    """Host vector ``v`` as a ``dtype`` vector on the device."""
    if kind == "torch":
        import torch

        return torch.as_tensor(np.asarray(v, dtype=dtype), device=device)
    import cupy

    return cupy.asarray(np.asarray(v, dtype=dtype))


def on_device(P, A, *, func):
    """A :class:`DevicePreconditioner` doing on ``A``'s device what host ``P`` does.

    ``P.recipe`` names the operation: ``('diag', d)``, ``('gtg', G)``,
    ``('llt', L)``, ``('hierarchy', H, K, sweeps)`` (an algebraic V-cycle) or
    ``('identity',)``.
    """
    from ..ops import to_device

    kind = device_kind(A)
    recipe = getattr(P, "recipe", None)
    if recipe is None:
        raise NoDevicePath(f"{func}: this preconditioner ({P.name}) runs on the host only; pass a "
                         "SciPy matrix, or use jacobi, fsai, a factor, gmg or a learned model on "
                         "device matrices.")
    device = _device_of(A, kind)
    dtype = np.dtype(P.dtype)
    op = recipe[0]
    extra = {}
    t0 = time.perf_counter()
    if op == "identity":
        def apply(r):
            return r * 1
    elif op == "diag":
        d = _vector(recipe[1], kind, device, dtype)

        def apply(r):
            return r * d
    elif op == "gtg":
        G = sp.csr_array(recipe[1]).astype(dtype)
        Gd = to_device(G, kind, device=device)
        Gtd = to_device(sp.csr_array(G.T), kind, device=device)

        def apply(r):
            return Gtd @ (Gd @ r)
    elif op == "llt":
        apply, extra = _triangular_apply(recipe[1], kind, dtype, func, P.name)
    elif op == "hierarchy":  # an algebraic V-cycle: its sparse levels and smoothers moved over
        from ..multigrid import device_hierarchy

        _, H, K, sweeps = recipe
        Hd = device_hierarchy(H, K, kind, device, sweeps=sweeps)

        if kind == "torch":
            def apply(r):
                return Hd.apply(r.to(Hd.dtype)).to(r.dtype)
        else:
            def apply(r):
                return Hd.apply(r.astype(Hd.dtype)).astype(r.dtype, copy=False)
    else:  # pragma: no cover - recipes are set by this package
        raise ValueError(f"{func}: unknown recipe {op!r}")
    return DevicePreconditioner(apply, P.shape, dtype, name=P.name, is_linear=P.is_linear,
                                is_spd=P.is_spd, setup_time=P.setup_time + time.perf_counter() - t0,
                                info=dict(P.info, device=str(device), backend=kind, **extra))


def fastest(candidates, probe, *, sync, reference, repeats=3, rtol=1e-10):
    """Name and function of the fastest of ``candidates`` (name → ``f(probe)``).

    Each candidate must agree with ``candidates[reference]`` on ``probe`` to
    ``rtol`` (relative to the largest entry) or it is dropped, as is one that
    raises; the rest are timed (median of ``repeats`` calls, ``sync()`` before
    each clock read, which on a GPU waits for the device).

    Returns
    -------
    name, f, times : str, callable, dict
        ``times`` maps every candidate to its median seconds, or to why it was dropped.
    """
    want = candidates[reference](probe)
    scale = float(abs(want).max())
    times = {}
    for name, f in candidates.items():
        try:
            err = float(abs(f(probe) - want).max())
            if not err <= rtol * scale:
                times[name] = f"differs from {reference} by {err:.3g} (scale {scale:.3g})"
                continue
            runs = []
            for _ in range(repeats):
                sync()
                t = time.perf_counter()
                f(probe)
                sync()
                runs.append(time.perf_counter() - t)
            times[name] = float(np.median(runs))
        except Exception as exc:  # a kernel that cannot run here is not a candidate
            times[name] = f"failed ({type(exc).__name__}: {exc})"
    timed = {k: v for k, v in times.items() if isinstance(v, float)}
    name = min(timed, key=timed.get)
    return name, candidates[name], times


def _triangular_apply(L, kind, dtype, func, name):
    """``r ↦ (L Lᵀ)⁻¹ r`` on the GPU: cuSPARSE (cupyx) or the level-scheduled ``csrc/cuda``
    kernel, whichever is faster on this factor (measured at set-up, checked to agree)."""
    require_path("llt", kind, func, name)
    import cupy
    from cupyx.scipy.sparse.linalg import spsolve_triangular

    from ..ops import cuda, to_device

    L = sp.csr_array(L).astype(dtype)
    U = sp.csr_array(L.T)
    Ld, Ud = to_device(L, "cupy"), to_device(U, "cupy")

    def cusparse(r):
        return spsolve_triangular(Ud, spsolve_triangular(Ld, r, lower=True), lower=False)

    candidates, failed = {"cusparse": cusparse}, {}
    try:
        lo, up = cuda.LevelTriangular(L, True), cuda.LevelTriangular(U, False)
        candidates["levels"] = lambda r: up.solve(lo.solve(r))
    except Exception as exc:  # e.g. NVRTC missing: cuSPARSE alone
        failed["levels"] = f"failed ({type(exc).__name__}: {exc})"
    probe = cupy.asarray(np.random.default_rng(0).standard_normal(L.shape[0]).astype(dtype))
    choice, apply, times = fastest(candidates, probe, sync=cupy.cuda.Device().synchronize,
                                   reference="cusparse",
                                   rtol=1e-10 if np.dtype(dtype) == np.float64 else 1e-4)
    times.update(failed)
    return apply, {"triangular": choice, "triangular_s": times}


GRAPH_CHOICES = ("auto", True, False)


def check_graph(graph, func):
    """Validate a ``graph`` argument (see :func:`device_vcycle`)."""
    if not any(graph is g or (isinstance(g, str) and graph == g) for g in GRAPH_CHOICES):
        raise ValueError(f"{func}: `graph`={graph!r} is not one of 'auto', True, False.")


def cuda_graphed(fn, probe):
    """``fn`` replayed from a CUDA graph for vectors like ``probe``, or why not.

    The graph is captured once (after a warm-up on a side stream, as torch
    requires) and then checked: its output for ``probe`` must equal the eager
    ``fn(probe)`` to rounding, else it is not used.  Each apply copies the
    input into the graph's static buffer, replays every kernel launch of the
    cycle at once and returns a copy of the static output, so one
    preconditioner must not be applied from two threads at a time.  Inputs of
    another shape, dtype or device run eagerly.

    Returns
    -------
    apply : callable
        The graphed apply, or ``fn`` itself.
    why : str or None
        ``None`` when the graph is used, else the reason it is not.
    """
    import torch

    if probe.device.type != "cuda":
        return fn, f"{probe.device.type} tensors (CUDA graphs need a CUDA device)"
    try:
        static_in = probe.clone()
        side = torch.cuda.Stream(device=probe.device)
        side.wait_stream(torch.cuda.current_stream(probe.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                fn(static_in)
        torch.cuda.current_stream(probe.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = fn(static_in)
        static_in.copy_(probe)
        graph.replay()
        eager = fn(probe)
        err = float((static_out - eager).abs().max())
        scale = float(eager.abs().max())
    except Exception as exc:  # capture is unsupported for some op: stay eager
        return fn, f"capture failed ({type(exc).__name__}: {exc})"
    tol = 1e-5 if eager.dtype == torch.float32 else 1e-12
    if not err <= tol * scale:
        return fn, f"the graph's output differed from the eager apply by {err:.3g} (scale {scale:.3g})"

    def apply(r):
        if r.shape != static_in.shape or r.dtype != static_in.dtype or r.device != static_in.device:
            return fn(r)
        static_in.copy_(r)
        graph.replay()
        return static_out.clone()

    apply.graph = graph  # keeps the graph (and its memory pool) alive with the apply
    return apply, None


class DevicePreconditioner(Preconditioner):
    """A :class:`Preconditioner` whose apply runs on CuPy arrays or torch tensors.

    ``matvec``/``@`` take and return arrays of the device it was built for (no
    host copy); ``cupyx.scipy.sparse.linalg.cg`` accepts it as ``M``, as does
    :func:`learnsolve.krylov.cg` with device vectors.  ``info['device']`` and
    ``info['backend']`` say where it runs.

    Examples
    --------
    >>> import torch, learnsolve
    >>> from learnsolve.ops import to_device
    >>> p = learnsolve.problems.poisson((32, 32))
    >>> A = to_device(p.A, "torch")                          # torch sparse CSR (CPU or CUDA)
    >>> P = learnsolve.pretrained("vcycle-2d").aspreconditioner(A)
    >>> x, info = learnsolve.krylov.cg(A, torch.from_numpy(p.b), M=P, rtol=1e-8)
    >>> type(x).__name__, info, P.info["backend"]
    ('Tensor', 0, 'torch')
    """

    def _device_call(self, x):
        if isinstance(x, np.ndarray):
            raise TypeError(
                f"{self.name} runs on {self.info.get('backend')} arrays on {self.info.get('device')}; "
                "got a NumPy array.  Pass device vectors, or build the preconditioner from a SciPy "
                "matrix for host solves.")
        shape = tuple(x.shape)
        return self._apply(x.reshape(-1)).reshape(shape)

    def matvec(self, x):
        return self._device_call(x)

    def rmatvec(self, x):
        if not self.is_spd:
            raise NotImplementedError(f"{self.name}: adjoint of a non-symmetric preconditioner")
        return self._device_call(x)

    def dot(self, x):
        return self._device_call(x)

    def __matmul__(self, x):
        return self._device_call(x)

    def __call__(self, x):
        return self._device_call(x)
