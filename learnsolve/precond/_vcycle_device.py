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


def device_vcycle(A, kind, smoothers, *, shape, dim, nu, name, func, check=True,
                  dtype=np.float64, info=None):
    """Build the V-cycle for device matrix ``A`` on its device.

    ``smoothers(stencils) -> list of K`` gets the padded per-level stencils
    (torch, batch of 1) and returns the smoother stencils there.  A cycle that
    fails the positive-definiteness check falls back, with a warning, to
    Jacobi on the device (PyAMG has no device path).
    """
    import torch

    from ..nn import TorchHierarchy
    from ..ops._grid_torch import grid_stencil_torch, hierarchy_torch
    from ..problems._stencil import infer_shapes
    from ._device import DevicePreconditioner

    t0 = time.perf_counter()
    T, device = _as_torch(A, kind)
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
