"""Move sparse matrices between SciPy (host), CuPy (``cupyx.scipy.sparse``) and torch.

GPU-to-GPU moves (CuPy ↔ torch CUDA) go through DLPack, without a host copy
of the values; everything else goes through the host CSR arrays.  Whether CuPy
can be used is read from :mod:`learnsolve._backend` at call time.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _backend
from .._validation import check_structure, check_torch_sparse

TARGETS = ("scipy", "cupy", "torch")


def _kind(A):
    if sp.issparse(A):
        return "scipy"
    mod = type(A).__module__
    if mod.startswith("cupyx"):
        return "cupy"
    if mod.startswith("torch"):
        return "torch"
    raise TypeError(f"learnsolve.ops.to_device: `A` must be a SciPy, cupyx or torch sparse matrix, "
                    f"got {type(A).__name__}.")


def _csr_arrays(A, kind):
    """``(indptr, indices, data)`` in the namespace of ``A`` (torch: a sparse CSR tensor's)."""
    if kind == "torch":
        import torch

        T = A if A.layout == torch.sparse_csr else A.to_sparse_csr()
        return T.crow_indices(), T.col_indices(), T.values()
    M = A.tocsr()
    return M.indptr, M.indices, M.data


def to_device(A, target, *, device=None):
    """``A`` as a CSR matrix of ``target``: ``'scipy'`` (host ``csr_array``), ``'cupy'``
    (``cupyx.scipy.sparse.csr_matrix`` on the current GPU) or ``'torch'`` (a sparse CSR
    tensor on ``device``, default ``'cpu'``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from learnsolve.ops import to_device
    >>> from learnsolve.problems import poisson
    >>> A = poisson((4, 4)).A
    >>> T = to_device(A, "torch")                    # torch.sparse_csr on the CPU
    >>> bool(np.allclose((T @ torch.ones(16, dtype=T.dtype)).numpy(), A @ np.ones(16)))
    True
    >>> bool(abs(to_device(T, "scipy") - A).max() == 0)
    True
    """
    func = "learnsolve.ops.to_device"
    if target not in TARGETS:
        raise ValueError(f"{func}: unknown `target`={target!r}; use one of {TARGETS}.")
    kind = _kind(A)
    if kind == "scipy":
        check_structure(A, func)
    elif kind == "torch":
        check_torch_sparse(A, func)
    shape = tuple(int(s) for s in A.shape)
    indptr, indices, data = _csr_arrays(A, kind)
    if target == "scipy":
        if kind == "torch":
            indptr, indices, data = (t.cpu().numpy() for t in (indptr, indices, data))
        elif kind == "cupy":
            indptr, indices, data = (a.get() for a in (indptr, indices, data))
        return sp.csr_array((np.asarray(data), np.asarray(indices), np.asarray(indptr)), shape=shape)
    if target == "cupy":
        if not _backend.HAS_CUPY:
            raise RuntimeError(f"{func}: CuPy with a CUDA device is not available (learnsolve._backend."
                               "HAS_CUPY is False); use target='scipy' or 'torch', or run on a GPU "
                               "machine with cupy installed.")
        import cupy
        import cupyx.scipy.sparse as csp

        if kind == "torch" and indptr.is_cuda:  # zero-copy views, then int32 indices for cupyx
            indptr, indices, data = (cupy.from_dlpack(t) for t in (indptr, indices, data))
        elif kind != "cupy":
            indptr, indices, data = (np.asarray(a.cpu().numpy() if kind == "torch" else a)
                                     for a in (indptr, indices, data))
        return csp.csr_matrix((cupy.asarray(data), cupy.asarray(indices, dtype=cupy.int32),
                               cupy.asarray(indptr, dtype=cupy.int32)), shape=shape)
    import torch

    device = torch.device(device or "cpu")
    if kind == "cupy" and device.type == "cuda":  # zero-copy from CuPy
        indptr, indices, data = (torch.from_dlpack(a) for a in (indptr, indices, data))
    elif kind == "scipy":
        indptr, indices, data = (torch.from_numpy(np.asarray(a)) for a in (indptr, indices, data))
    elif kind == "cupy":
        indptr, indices, data = (torch.from_numpy(a.get()) for a in (indptr, indices, data))
    import warnings

    with warnings.catch_warnings():  # "sparse CSR support is in beta" on every construction
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(indptr.to(device, torch.int64), indices.to(device, torch.int64),
                                       data.to(device), size=shape, check_invariants=False)
