"""The grid V-cycle set up and applied on a device (torch CPU/CUDA tensors, CuPy through DLPack).

Every step runs on the matrix's device: stencil extraction, black-box
interpolation and Galerkin coarse stencils (:mod:`learnsolve.ops._grid_torch`),
the smoother network (or damped Jacobi), the dense coarsest inverse, the
symmetry and positive-definiteness checks, and the cycle itself
(:class:`learnsolve.nn.TorchHierarchy`).  Only scalars (the check's estimate)
come back to the host.
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def _as_torch(A, kind):
    """``(torch CSR tensor, device)`` for a torch or cupyx matrix (CuPy: zero-copy to CUDA)."""
    if kind == "torch":
        import torch

        T = A if A.layout == torch.sparse_csr else A.to_sparse_csr()
        return T, T.device
    import cupy

    from ..ops import to_device

    device = f"cuda:{cupy.cuda.Device().id}"
    return to_device(A, "torch", device=device), device


def _check_stencils(S, dim, func):
    """Symmetric stencils (``S[k, p] = S[k̄, p + o_k]``) with a positive diagonal, on the device;
    returns the interior diagonal."""
    import torch

    from ..problems._stencil import interior_slices, offsets

    offs = offsets(dim)
    m = len(offs)
    inner = interior_slices(dim, tuple(S.shape[1:]))
    diag = S[(m // 2,) + inner]
    if not bool(torch.all(diag > 0)):
        raise ValueError(f"{func}: `A` has a non-positive diagonal entry; a V-cycle needs an SPD "
                         "matrix.")
    scale = float(S.abs().max())
    for k, o in enumerate(offs):
        other = S[(m - 1 - k,) + interior_slices(dim, tuple(S.shape[1:]), o)]
        here = S[(k,) + inner]
        if float((here - other).abs().max()) > 1e-10 * scale:  # towards ghosts both are 0
            raise ValueError(f"{func}: `A` is not symmetric (stencil offset {tuple(o)} differs "
                             "from its mirror); pass an SPD matrix.")
    return diag


def _start_vector(TH, seed=0):
    """A seeded random padded fine-grid vector on the hierarchy's device (drawn on the host)."""
    import torch

    S = TH.S[0]
    g = torch.Generator(device="cpu").manual_seed(seed)
    n = int(np.prod(TH.shapes[0]))
    return TH.pad(torch.randn((1, n), generator=g, dtype=S.dtype).to(S.device))


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


def device_vcycle(A, kind, smoothers, *, shape, dim, nu, name, func, check=True,
                  dtype=np.float64, info=None, graph="auto"):
    """Build the V-cycle for device matrix ``A`` on its device.

    ``smoothers(stencils) -> list of K`` gets the padded per-level stencils
    (torch, batch of 1) and returns the smoother stencils there.  A cycle that
    fails the positive-definiteness check falls back, with a warning, to
    Jacobi on the device (PyAMG has no device path).

    ``graph``: on a CUDA device the cycle's many small launches (a dozen
    elementwise kernels per stencil product, on every level) are captured
    once in a CUDA graph and replayed per apply (:func:`cuda_graphed`,
    checked against the eager apply).  ``"auto"`` does so on CUDA and stays
    eager elsewhere or when capture fails (``info['graph']`` says which, and
    ``info['graph_skipped']`` why); ``True`` insists (a non-CUDA device
    raises, a failed capture warns); ``False`` stays eager.
    """
    import torch

    from ..nn import TorchHierarchy
    from ..ops._grid_torch import grid_stencil_torch, hierarchy_torch
    from ..problems._stencil import infer_shapes
    from ._device import DevicePreconditioner

    check_graph(graph, func)
    t0 = time.perf_counter()
    T, device = _as_torch(A, kind)
    if graph is True and torch.device(device).type != "cuda":
        raise ValueError(f"{func}: `graph=True` needs a matrix on a CUDA device, got one on "
                         f"{device}; pass graph='auto' or False.")
    n = int(T.shape[0])
    if shape is None:
        found = infer_shapes(n, dim)
        if not found:
            raise ValueError(f"{func}: cannot infer a {dim}D grid for {n} unknowns; pass `shape`.")
        shape = found[0]
    shape = tuple(int(s) for s in shape)
    tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    S = grid_stencil_torch(T, shape).to(torch.float64)
    diag = _check_stencils(S, len(shape), func)
    stencils, interps, shapes, cinv = hierarchy_torch(S, shape)
    K = [k.to(tdtype) for k in smoothers([s[None] for s in stencils[:-1]])]
    TH = TorchHierarchy.from_levels([s.to(tdtype) for s in stencils], [p.to(tdtype) for p in interps],
                                    shapes, cinv.to(tdtype))
    from ..nn.vcycle import stencil_matvec
    from ._vcycle import contraction

    rho = contraction(lambda v: stencil_matvec(TH.S[0], v, TH.dim), lambda r: TH.vcycle(r, K, nu),
                      _start_vector(TH)) if check else None
    info = dict(info or {}, levels=len(shapes), grid=shape, nu=nu, dtype=str(np.dtype(dtype)),
                device=str(device), backend=kind, setup="device")
    if check and not (rho < 0.995):
        why = f"the V-cycle is not a convergent SPD preconditioner here (estimated ρ(I − M A) = {rho:.3g})"
        warnings.warn(f"{func}: {why}; falling back to Jacobi on the device.", RuntimeWarning,
                      stacklevel=3)
        inv_d = (1.0 / diag).reshape(-1)

        def torch_apply(r):
            return r * inv_d.to(r.dtype)

        info["fallback"] = why
        name = "jacobi"
    else:
        if rho is not None:
            info["rho"] = round(float(rho), 4)

        def torch_apply(r):
            x = TH.vcycle(TH.pad(r.reshape(1, -1).to(tdtype)), K, nu)
            return TH.unpad(x).reshape(-1).to(r.dtype)

    if graph is not False:
        g = torch.Generator(device="cpu").manual_seed(1)
        probe = torch.randn(n, generator=g, dtype=torch.float64).to(device)
        torch_apply, why = cuda_graphed(torch_apply, probe)
        info["graph"] = why is None
        if why is not None:
            info["graph_skipped"] = why
            if graph is True:
                warnings.warn(f"{func}: not using a CUDA graph: {why}.", RuntimeWarning,
                              stacklevel=3)
    else:
        info["graph"] = False
    if kind == "torch":
        apply = torch_apply
    else:
        import cupy

        def apply(r):
            return cupy.from_dlpack(torch_apply(torch.from_dlpack(r)))

    P = DevicePreconditioner(apply, (n, n), np.float64, name=name, info=info)
    P.setup_time = time.perf_counter() - t0
    return P


def jacobi_smoothers_torch(omega):
    """Damped-Jacobi smoother stencils ``K = omega / a_pp`` for :func:`device_vcycle`."""
    import torch

    def smoothers(stencils):
        out = []
        for S in stencils:
            m = S.shape[1]
            d = S[:, m // 2]
            K = torch.zeros_like(S)
            K[:, m // 2] = torch.where(d > 0, omega / torch.where(d > 0, d, 1.0), 0.0)
            out.append(K)
        return out

    return smoothers
