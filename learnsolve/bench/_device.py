"""Where a benchmark row runs: the host, a CUDA GPU through CuPy, or torch tensors on the CPU.

``device='cuda'`` moves each problem to the GPU once (not timed: the data of
a GPU code lives there), builds preconditioners from the ``cupyx`` matrix
(set-up on the device where the method has a device path) and solves with
:func:`learnsolve.krylov.cg` on CuPy arrays.  Two GPU baselines call
``cupyx.scipy.sparse.linalg.cg`` itself: ``cupyx-cg`` (no preconditioner) and
``cupyx-jacobi``.  PyAMG (``amg-sa``, ``amg-rs``) has no device path: its rows
run on the same machine's CPU, as the GPU table compares against.  Clocks are
read after a device synchronization.  ``device='torch-cpu'`` runs the device
code path with torch tensors on the CPU (how CI tests it without a GPU).
"""

from __future__ import annotations

import numpy as np

DEVICES = ("cpu", "cuda", "torch-cpu")
HOST_ONLY = ("amg-sa", "amg-rs")
CUPYX_BASELINES = ("cupyx-cg", "cupyx-jacobi")


class Placement:
    """A problem's ``A`` and ``b`` on one device, with its ``sync`` and ``to_host``."""

    def __init__(self, problem, device):
        if device not in DEVICES:
            raise ValueError(f"learnsolve.bench: unknown `device`={device!r}; use one of {DEVICES}.")
        from ..ops import to_device

        self.problem, self.device = problem, device
        if device == "cpu":
            self.A, self.b = problem.A, problem.b
            self.sync = lambda: None
            self.to_host = np.asarray
        elif device == "torch-cpu":
            import torch

            self.A, self.b = to_device(problem.A, "torch"), torch.from_numpy(np.asarray(problem.b))
            self.sync = lambda: None
            self.to_host = lambda x: x.numpy()
        else:
            import cupy

            from .. import _backend

            if not _backend.HAS_CUPY:
                raise RuntimeError("learnsolve.bench: device='cuda' needs CuPy and a CUDA GPU "
                                   "(learnsolve._backend.HAS_CUPY is False); use device='cpu'.")
            self.A, self.b = to_device(problem.A, "cupy"), cupy.asarray(problem.b)
            self.sync = cupy.cuda.Device().synchronize
            self.to_host = cupy.asnumpy

    def for_method(self, method):
        """``(A, b, sync, to_host)`` for ``method``: the host ones for host-only methods."""
        if self.device != "cpu" and method in HOST_ONLY:
            return self.problem.A, self.problem.b, (lambda: None), np.asarray
        return self.A, self.b, self.sync, self.to_host


def cupyx_solver():
    """A ``krylov.cg``-shaped solver that runs ``cupyx.scipy.sparse.linalg.cg`` (GPU baselines)."""
    import inspect

    import cupyx.scipy.sparse.linalg as cspla

    tol_name = "rtol" if "rtol" in inspect.signature(cspla.cg).parameters else "tol"

    def solve(A, b, *, rtol, M=None, maxiter=None, residuals=None, callback=None):
        # cupyx's cg reports no residuals; computing them here would add an SpMV per
        # iteration to the baseline, so its history holds NaN (iterations are still counted)
        def cb(xk):
            if residuals is not None:
                residuals.append(float("nan"))
            if callback is not None:
                callback(xk)

        if residuals is not None:
            residuals.append(float("nan"))
        return cspla.cg(A, b, M=M, maxiter=maxiter, callback=cb, **{tol_name: rtol})

    return solve


def cupyx_preconditioner(method, A):
    """``M`` of a GPU baseline: none, or the diagonal inverse as a cupyx ``LinearOperator``."""
    if method == "cupyx-cg":
        return None
    from .. import precond

    return precond.jacobi(A)
