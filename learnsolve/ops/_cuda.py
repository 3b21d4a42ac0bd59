"""CUDA kernels from ``csrc/cuda/`` compiled at run time by CuPy's ``RawModule`` (NVRTC).

``pip install`` needs no CUDA toolkit: the sources are read and compiled on
first use, on a machine where :data:`learnsolve._backend.HAS_CUPY` is true
(read at call time, so tests can switch it off).  Each kernel has a CPU
reference the GPU tests compare against: SciPy's CSR product for
:func:`spmv`, :mod:`learnsolve.ops.stencil` for the stencil kernels,
SciPy's ``spsolve_triangular`` for :class:`LevelTriangular` (whose NumPy
path, the same level steps on the host, is tested on every machine).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .. import _backend

KERNELS = ("ls_spmv_scalar", "ls_spmv_warp", "ls_stencil_residual", "ls_stencil_add_matvec",
           "ls_trsv_level")
THREADS = 256


def source_path():
    """Path of ``csr_kernels.cu``: in the installed package (``learnsolve/ops/csrc_cuda``, put
    there by the wheel's build) or in the checkout's ``csrc/cuda`` (editable installs)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "csrc_cuda", "csr_kernels.cu"),
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
    """``r = b − S x`` on interior cells: the GPU twin of ``ops.stencil.residual``, with ``S``
    offset by offset ``(m, N)`` (coalesced on a GPU; the CPU kernel reads it cell-major)."""
    _require("learnsolve.ops.cuda.stencil_residual")
    _stencil_call("ls_stencil_residual", S, delta, (b, x, r), (z0, z1, Py, Px))


def stencil_add_matvec(K, delta, r, x, z0, z1, Py, Px):
    """``x += K r`` on interior cells: the GPU twin of ``ops.stencil.matvec(..., add=True)``, with
    ``K`` offset by offset ``(m, N)``."""
    _require("learnsolve.ops.cuda.stencil_add_matvec")
    _stencil_call("ls_stencil_add_matvec", K, delta, (r, x), (z0, z1, Py, Px))


class LevelTriangular:
    """Level-scheduled solve with a sparse triangular matrix: one launch per dependency level.

    Set-up runs on the host (:func:`learnsolve.ops.compute_levels`); :meth:`solve`
    takes a CuPy vector (kernel ``ls_trsv_level``, each thread one row of the
    level) or a NumPy vector (the same level steps in NumPy: the reference
    the kernel is tested against, and how this class is tested without a GPU).

    Parameters
    ----------
    T : sparse matrix
        Lower (``lower=True``) or upper triangular, nonzero diagonal.
    lower : bool
    device : bool
        Put the arrays on the GPU (needs CuPy); else keep them on the host.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from learnsolve.ops import cuda
    >>> LevelTriangular = cuda.LevelTriangular
    >>> T = sp.csr_array(np.array([[2.0, 0, 0], [1, 4, 0], [0, 1, 5]]))
    >>> x = LevelTriangular(T, device=False).solve(np.array([2.0, 5, 6]))
    >>> bool(np.allclose(T @ x, [2, 5, 6])), LevelTriangular(T, device=False).n_levels
    (True, 3)
    """

    def __init__(self, T, lower=True, *, device=True):
        from ._triangular import compute_levels, split_triangular

        func = "learnsolve.ops.cuda.LevelTriangular"
        T, S, inv_diag = split_triangular(T, lower, func)
        level_ptr, rows = compute_levels(S, lower)
        self.shape, self.dtype, self.lower = T.shape, T.dtype, lower
        self.level_ptr = np.asarray(level_ptr, dtype=np.int64)  # host: drives the launches
        self.n_levels = self.level_ptr.size - 1
        arrays = (np.asarray(rows, np.int32), S.indptr.astype(np.int32),
                  S.indices.astype(np.int32), S.data, inv_diag)
        self.device = bool(device)
        if self.device:
            _require(func)
            import cupy

            arrays = tuple(cupy.asarray(a) for a in arrays)
            self._kernel = kernel("ls_trsv_level", self.dtype)  # compiled once, not per solve
        else:
            self._S = S
        self.rows, self.indptr, self.indices, self.data, self.inv_diag = arrays

    def solve(self, b):
        """``x`` with ``T x = b``: CuPy ``b`` when built with ``device=True``, else NumPy."""
        n = self.shape[0]
        if tuple(b.shape) != (n,) or b.dtype != self.dtype:
            raise ValueError(f"learnsolve.ops.cuda.LevelTriangular.solve: `b` must be a ({n},) "
                             f"{self.dtype} vector, got {tuple(b.shape)} {b.dtype}.")
        if not self.device:
            x = np.empty_like(b)
            for lv in range(self.n_levels):
                r = self.rows[self.level_ptr[lv]:self.level_ptr[lv + 1]]
                x[r] = (b[r] - self._S[r] @ x) * self.inv_diag[r]
            return x
        import cupy

        x = cupy.empty_like(b)
        k = self._kernel
        b = cupy.ascontiguousarray(b)
        for lv in range(self.n_levels):
            start, end = int(self.level_ptr[lv]), int(self.level_ptr[lv + 1])
            k(((end - start + THREADS - 1) // THREADS,), (THREADS,),
              (np.int32(start), np.int32(end), self.rows, self.indptr, self.indices, self.data,
               self.inv_diag, b, x))
        return x
