"""The :class:`Preconditioner` operator every learnsolve preconditioner returns."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
from scipy.sparse.linalg import LinearOperator


class Preconditioner(LinearOperator):
    """An approximation of ``A⁻¹`` usable as ``M`` in SciPy, PyAMG and learnsolve solvers.

    Parameters
    ----------
    apply : callable
        ``apply(r) -> z`` for a 1-D array ``r`` of ``dtype``; must not modify ``r``.
    shape : tuple of int
        ``(n, n)``.
    dtype : numpy dtype
        Precision the preconditioner computes in; inputs of another dtype are
        cast to it and results cast back.
    name : str
        Short label used by benchmarks (``"ic0"``, ``"amg-sa"``, ...).
    is_linear : bool
        ``False`` for maps that are nonlinear or change per call (use them with
        :func:`learnsolve.krylov.fcg` or :func:`learnsolve.krylov.dcdm`).
    is_spd : bool
        Declared symmetric positive definite (required by plain CG).
    setup_time : float
        Seconds spent building it (factorization, hierarchy, inference).
    info : dict, optional
        Extra facts (levels, nnz of factors, diagonal shift applied, ...).
    """

    def __init__(self, apply, shape, dtype, *, name, is_linear=True, is_spd=True,
                 setup_time=0.0, info=None):
        super().__init__(dtype=np.dtype(dtype), shape=tuple(shape))
        self._apply = apply
        self.name = name
        self.is_linear = bool(is_linear)
        self.is_spd = bool(is_spd)
        self.setup_time = float(setup_time)
        self.info = dict(info or {})

    #: what an apply on a device needs (see :mod:`learnsolve.precond._device`), or ``None``
    recipe = None
    #: ``apply`` also takes a C-ordered ``(n, s)`` block of NumPy vectors (one product per
    #: level for all of them: :func:`learnsolve.krylov.batch_cg`); else blocks go column by column
    accepts_blocks = False

    def _matvec(self, x):
        x = np.asarray(x).reshape(-1)
        if x.dtype.kind == "c" and self.dtype.kind != "c":  # a real M acts on both parts
            return self._matvec(x.real) + 1j * self._matvec(x.imag)
        in_dtype = x.dtype
        if in_dtype != self.dtype:
            x = x.astype(self.dtype)
        y = self._apply(x)
        return y.astype(in_dtype, copy=False) if y.dtype != in_dtype else y

    def _matmat(self, X):
        if not (self.accepts_blocks and isinstance(X, np.ndarray) and X.dtype.kind == "f"):
            return super()._matmat(X)
        Y = self._apply(np.ascontiguousarray(X, dtype=self.dtype))
        return Y.astype(X.dtype, copy=False)

    def _rmatvec(self, x):
        if not self.is_spd:
            raise NotImplementedError(f"{self.name}: adjoint of a non-symmetric preconditioner")
        return self._matvec(x)

    def _adjoint(self):
        return self if self.is_spd else super()._adjoint()

    def __repr__(self):
        n = self.shape[0]
        return (
            f"<Preconditioner {self.name!r} n={n} dtype={self.dtype} linear={self.is_linear} "
            f"spd={self.is_spd} setup={self.setup_time:.3g}s>"
        )


@contextmanager
def timed():
    """Context manager yielding a list that receives the elapsed seconds."""
    box = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)
