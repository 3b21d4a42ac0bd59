"""CUDA kernels from ``csrc/cuda/`` compiled at run time by CuPy's ``RawModule`` (NVRTC).

``pip install`` needs no CUDA toolkit: the sources are read and compiled on
first use, on a machine where :data:`learnsolve._backend.HAS_CUPY` is true
(read at call time, so tests can switch it off).  Each kernel has a CPU
reference the GPU tests compare against: SciPy's CSR product for
:func:`spmv`, :mod:`learnsolve.ops._stencil` for the stencil kernels.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .. import _backend

KERNELS = ("ls_spmv_scalar", "ls_spmv_warp", "ls_stencil_residual", "ls_stencil_add_matvec")
THREADS = 256


def source_path():
    """Path of ``csr_kernels.cu``: beside the package (installed) or in the checkout's ``csrc/cuda``."""
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "cuda", "csr_kernels.cu"),
                 os.path.join(here, "..", "..", "csrc", "cuda", "csr_kernels.cu")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    raise FileNotFoundError("learnsolve.ops.cuda: csr_kernels.cu not found beside the package or in "
                            "csrc/cuda; reinstall learnsolve from its source tree.")


def _require(func):
    if not _backend.HAS_CUPY:
        raise RuntimeError(f"{func}: CuPy with a CUDA device is not available (learnsolve._backend."
                           "HAS_CUPY is False); install cupy on a GPU machine, or use the CPU kernels "
                           "in learnsolve.ops.")


@functools.cache
def _module():
    import cupy

    with open(source_path()) as f:
        return cupy.RawModule(code=f.read(), options=("-std=c++14",))


def kernel(name, dtype):
    """The compiled kernel ``name`` (one of :data:`KERNELS`) for float32 or float64."""
    func = "learnsolve.ops.cuda.kernel"
    _require(func)
    if name not in KERNELS:
        raise ValueError(f"{func}: unknown kernel {name!r}; use one of {KERNELS}.")
    suffix = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}.get(np.dtype(dtype))
    if suffix is None:
        raise ValueError(f"{func}: dtype {np.dtype(dtype)} is not supported; use float32 or float64.")
    return _module().get_function(f"{name}_{suffix}")


def spmv(A, x, out=None, *, warp=None):
    """``y = A x`` for a ``cupyx.scipy.sparse`` CSR matrix and a CuPy vector.

    ``warp`` picks one warp per row (long rows) or one thread per row; by
    default a warp when rows hold more than 12 entries on average.
    """
    func = "learnsolve.ops.cuda.spmv"
    _require(func)
    import cupy

    n, m = A.shape
    if x.shape != (m,) or x.dtype != A.dtype:
        raise ValueError(f"{func}: `x` must be a ({m},) {A.dtype} CuPy array, got {x.shape} {x.dtype}.")
    if A.indices.dtype != np.int32 or A.indptr.dtype != np.int32:
        raise ValueError(f"{func}: `A` needs int32 CSR indices (cupyx's default), got {A.indices.dtype}.")
    y = cupy.empty(n, dtype=A.dtype) if out is None else out
    if warp is None:
        warp = A.nnz > 12 * max(n, 1)
    k = kernel("ls_spmv_warp" if warp else "ls_spmv_scalar", A.dtype)
    threads = n * 32 if warp else n
    k(((threads + THREADS - 1) // THREADS,), (THREADS,),
      (np.int32(n), A.indptr, A.indices, A.data, cupy.ascontiguousarray(x), y))
    return y


def _stencil_call(name, coeffs, delta, args, bounds):
    z0, z1, Py, Px = (int(v) for v in bounds)
    cells = (z1 - z0) * (Py - 2) * (Px - 2)
    k = kernel(name, coeffs.dtype)
    k(((cells + THREADS - 1) // THREADS,), (THREADS,),
      (coeffs, delta, np.int32(delta.shape[0]), *args, np.int32(z0), np.int32(z1), np.int32(Py),
       np.int32(Px), np.int64(coeffs.shape[1])))


def stencil_residual(S, delta, b, x, r, z0, z1, Py, Px):
    """``r = b − S x`` on interior cells: the GPU twin of ``ops._stencil.residual`` (same layout)."""
    _require("learnsolve.ops.cuda.stencil_residual")
    _stencil_call("ls_stencil_residual", S, delta, (b, x, r), (z0, z1, Py, Px))


def stencil_add_matvec(K, delta, r, x, z0, z1, Py, Px):
    """``x += K r`` on interior cells: the GPU twin of ``ops._stencil.add_matvec``."""
    _require("learnsolve.ops.cuda.stencil_add_matvec")
    _stencil_call("ls_stencil_add_matvec", K, delta, (r, x), (z0, z1, Py, Px))
