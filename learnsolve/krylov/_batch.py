"""Many right-hand sides, one matrix: one CG per column, the products on blocks.

Each column runs its own preconditioned CG — SciPy's recurrence and stopping
rule, so its iterates are those of :func:`~learnsolve.krylov.cg` on that
column (tested) — but the products with ``A`` and ``M`` are taken on the block
of columns still running.  A sparse matrix (and a preconditioner that takes
blocks, such as the algebraic V-cycle) then reads its entries once per block
instead of once per column, and the vector updates run in fused parallel
passes: on the 201,601-unknown FEM matrix of ``benchmarks/sequences.py`` with
``amg-learned`` a block of 16 costs about half of 16 separate solves.  Block
CG proper (O'Leary 1980, one Krylov space for all columns) was measured too
and dropped: with a multigrid preconditioner it saved no iterations
(11 per column either way) and its dense ``n × s²`` work cost more.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .._backend import blas_single_thread
from .._validation import check_structure
from ._batch_device import device_batch_cg
from ._common import check_tolerances, warn_nonlinear

FUNC = "learnsolve.krylov.batch_cg"
_CHUNKS = 64  # row chunks of the fused column reductions


@numba.njit(parallel=True, cache=True)
def _update(X, R, P, Q, alpha, partial):  # pragma: no cover - jitted
    """``X += P α``, ``R −= Q α`` (column scalings); returns the columns' ``‖R‖²``.

    ``partial`` holds one row of column sums per chunk of rows (``_coldot`` too)."""
    n, s = X.shape
    chunks = partial.shape[0]
    partial[:] = 0.0
    for c in numba.prange(chunks):
        for i in range(c * n // chunks, (c + 1) * n // chunks):
            for j in range(s):
                X[i, j] += alpha[j] * P[i, j]
                R[i, j] -= alpha[j] * Q[i, j]
                partial[c, j] += R[i, j] * R[i, j]
    return partial.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _coldot(U, V, partial):  # pragma: no cover - jitted
    """The columns' dot products ``Uᵀ V`` (diagonal only)."""
    n, s = U.shape
    chunks = partial.shape[0]
    partial[:] = 0.0
    for c in numba.prange(chunks):
        for i in range(c * n // chunks, (c + 1) * n // chunks):
            for j in range(s):
                partial[c, j] += U[i, j] * V[i, j]
    return partial.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _direction(P, Z, beta):  # pragma: no cover - jitted
    """``P ← Z + P β`` in place (column scalings)."""
    n, s = P.shape
    for i in numba.prange(n):
        for j in range(s):
            P[i, j] = Z[i, j] + beta[j] * P[i, j]


def _is_device_array(B):
    """A CuPy array or a torch tensor (the device path)."""
    mod = type(B).__module__
    return mod.startswith("cupy") or mod.startswith("torch")


def _block_operator(A, n):
    """``X ↦ A X`` for C-ordered float64 blocks: the parallel CSR product for sparse ``A``."""
    if sp.issparse(A):
        from ..ops import CSRMatrix

        check_structure(A, f"'{FUNC}'")
        C = CSRMatrix(sp.csr_array(A).astype(np.float64), func=f"'{FUNC}'")
        if not np.all(np.isfinite(C.A.data)):
            raise ValueError(f"'{FUNC}': `A` contains NaN or Inf entries.")
        return C.matmat
    if hasattr(A, "matmat"):
        return lambda X: np.asarray(A.matmat(X), dtype=np.float64)
    if isinstance(A, np.ndarray):
        return lambda X: A @ X
    raise TypeError(f"'{FUNC}': `A` must be a SciPy sparse matrix, a NumPy array or a "
                    f"LinearOperator, got {type(A).__name__}.")


def _block_preconditioner(M, n):
    if M is None:
        return lambda R: R.copy()
    if tuple(getattr(M, "shape", (n, n))) != (n, n):
        raise ValueError(f"'{FUNC}': matrix and preconditioner have different shapes "
                         f"(({n}, {n}) and {tuple(M.shape)}).")
    if hasattr(M, "matmat"):
        return lambda R: np.ascontiguousarray(M.matmat(R), dtype=np.float64)
    if callable(M):  # a callable on vectors: one column at a time
        return lambda R: np.column_stack([np.asarray(M(R[:, j])).reshape(-1)
                                          for j in range(R.shape[1])])
    return lambda R: np.ascontiguousarray(M @ R, dtype=np.float64)


def batch_cg(A, B, X0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None,
             residuals=None, block=16):
    """Solve ``A X = B`` column by column with preconditioned CG, the products on blocks.

    Column ``j`` follows :func:`learnsolve.krylov.cg` on ``A x = B[:, j]``: the
    same recurrence, the same stopping rule ``‖r‖ < max(atol, rtol ‖b_j‖)``
    confirmed on the true residual.  A column stops when it has converged;
    the others go on with a smaller block.  Columns are solved in blocks of
    at most ``block``, of even sizes.

    Parameters
    ----------
    A : sparse matrix, array or LinearOperator
        Symmetric positive definite, real.
    B : ndarray, shape (n, s)
        Right-hand sides (real).  A CuPy array or torch tensor (with ``A`` a
        cupyx or torch sparse matrix) is solved on its device by the same
        recurrence in array-API operations, ``M`` applied column by column.
    X0 : ndarray, shape (n, s), optional
        Start vectors (not modified).
    rtol, atol : float
        Tolerances as in SciPy, per column.
    maxiter : int, optional
        Iterations per column (default ``10 n``).
    M : LinearOperator, matrix or callable, optional
        SPD preconditioner.  A :class:`learnsolve.precond.Preconditioner`
        that takes blocks (``M.accepts_blocks``) is applied to the whole block;
        other operators through their ``matmat`` (one column at a time for
        most), a callable one column at a time.
    callback : callable, optional
        ``callback(X)`` after each iteration of a block (``X`` the whole
        solution so far).
    residuals : list, optional
        Receives one list per column of ``‖r_k‖`` at its convergence checks
        (so ``len(residuals[j]) - 1`` is column ``j``'s iteration count).
    block : int
        Columns per block.

    Returns
    -------
    X : ndarray, shape (n, s)
    info : int
        0 when every column converged; else the largest failing column's
        ``info`` as :func:`~learnsolve.krylov.cg` would give it (``maxiter``,
        or ``-1`` on breakdown).

    Examples
    --------
    >>> import numpy as np
    >>> import learnsolve
    >>> p = learnsolve.problems.fem_diffusion(64, contrast=1e4)
    >>> B = np.random.default_rng(0).standard_normal((p.n, 5))
    >>> M = learnsolve.precond.amg_chebyshev(p.A)
    >>> X, info = learnsolve.krylov.batch_cg(p.A, B, rtol=1e-8, M=M)
    >>> info, bool(np.linalg.norm(B - p.A @ X, axis=0).max() < 1e-8 * np.linalg.norm(B, axis=0).min())
    (0, True)
    """
    warn_nonlinear(FUNC, M)
    check_tolerances(FUNC, rtol, atol)
    if not hasattr(A, "shape") or len(A.shape) != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"'{FUNC}': `A` must be a square matrix or LinearOperator, got shape "
                         f"{getattr(A, 'shape', None)}.")
    n = int(A.shape[0])
    on_device = _is_device_array(B)
    if not (isinstance(B, np.ndarray) or on_device) or B.ndim != 2 or B.shape[0] != n:
        raise ValueError(f"'{FUNC}': `B` must be a NumPy, CuPy or torch array of shape ({n}, s), "
                         f"got {type(B).__name__} of shape {getattr(B, 'shape', None)}.")
    if on_device:
        if X0 is not None and tuple(X0.shape) != tuple(B.shape):
            raise ValueError(f"'{FUNC}': `X0` has shape {tuple(X0.shape)}; expected "
                             f"{tuple(B.shape)}.")
        maxiter = 10 * n if maxiter is None else int(maxiter)
        if maxiter < 0:
            raise ValueError(f"'{FUNC}': `maxiter` must be non-negative, got {maxiter!r}.")
        return device_batch_cg(A, B, X0, rtol, atol, maxiter, M, callback, residuals)
    if B.dtype.kind not in "iuf" or np.dtype(getattr(A, "dtype", None) or np.float64).kind == "c":
        raise ValueError(f"'{FUNC}': real systems only, got `B` of {B.dtype}; solve complex "
                         "columns with learnsolve.krylov.cg.")
    B = np.asarray(B, dtype=np.float64)
    if not np.all(np.isfinite(B)):
        raise ValueError(f"'{FUNC}': `B` contains NaN or Inf; pass finite right-hand sides.")
    if X0 is not None and tuple(np.shape(X0)) != B.shape:
        raise ValueError(f"'{FUNC}': `X0` has shape {np.shape(X0)}; expected {B.shape}.")
    block = int(block)
    if block < 1:
        raise ValueError(f"'{FUNC}': `block` must be a positive integer, got {block!r}.")
    maxiter = 10 * n if maxiter is None else int(maxiter)
    if maxiter < 0:
        raise ValueError(f"'{FUNC}': `maxiter` must be non-negative, got {maxiter!r}.")
    matmat, psolve = _block_operator(A, n), _block_preconditioner(M, n)
    s = B.shape[1]
    X = np.zeros((n, s)) if X0 is None else np.array(X0, dtype=np.float64)
    hist = [[] for _ in range(s)]
    infos = np.zeros(s, dtype=np.int64)
    with blas_single_thread():
        for cols in np.array_split(np.arange(s), max(-(-s // block), 1)):  # even sizes
            _solve_block(matmat, psolve, B, X, cols, rtol, atol, maxiter, callback, hist, infos)
    if residuals is not None:
        residuals.extend(hist)
    fails = infos[infos != 0]
    info = 0 if fails.size == 0 else (int(fails.max()) if (fails > 0).any() else -1)
    return X, info


def _solve_block(matmat, psolve, B, X, cols, rtol, atol, maxiter, callback, hist, infos):
    """Columns ``cols`` of ``X`` by CG on the block, writing each column back as it stops."""
    Bb = np.ascontiguousarray(B[:, cols])
    Xa = np.ascontiguousarray(X[:, cols])  # the running columns' iterates
    tol = np.maximum(float(atol), float(rtol) * np.linalg.norm(Bb, axis=0))
    R = Bb - matmat(Xa) if np.any(Xa) else Bb.copy()
    rr = _coldot(R, R, np.empty((_CHUNKS, cols.size)))
    act = np.arange(cols.size)  # positions in the block still running
    P = rho_prev = None

    def drop(stop):  # write stopped columns back, keep the others
        nonlocal act, Xa, R, P, rho_prev, rr, tol
        X[:, cols[act[stop]]] = Xa[:, stop]
        keep = ~stop
        act, rr, tol = act[keep], rr[keep], tol[keep]
        Xa, R = np.ascontiguousarray(Xa[:, keep]), np.ascontiguousarray(R[:, keep])
        if P is not None:
            P = np.ascontiguousarray(P[:, keep])
        if rho_prev is not None:  # None while the first directions are taken
            rho_prev = rho_prev[keep]
        return keep

    for it in range(maxiter + 1):
        rnorm = np.sqrt(rr)
        for k, j in enumerate(act):
            hist[cols[j]].append(float(rnorm[k]))
        done = (rnorm < tol) | (rnorm == 0.0)
        if done.any():  # confirm on the true residual, as cg does
            idx = np.flatnonzero(done)
            true = Bb[:, act[idx]] - matmat(np.ascontiguousarray(Xa[:, idx]))
            tnorm = np.linalg.norm(true, axis=0)
            ok = (tnorm < tol[idx]) | (tnorm == 0.0)
            R[:, idx[~ok]] = true[:, ~ok]  # rounding drift: go on from the true residual
            done[idx[~ok]] = False
        if it == maxiter:
            infos[cols[act[~done]]] = maxiter
            done[:] = True
        if done.any() and not drop(done).any():
            return
        part = np.empty((_CHUNKS, act.size))
        Z = psolve(R)
        rho = _coldot(R, Z, part)
        if P is None:
            P = Z.copy()
        else:
            _direction(P, Z, rho / rho_prev)
        Q = matmat(P)
        pq = _coldot(P, Q, part)
        bad = ~((pq > 0.0) & np.isfinite(rho))
        if bad.any():  # breakdown in these columns: A or M is not SPD
            infos[cols[act[bad]]] = -1
            keep = drop(bad)
            if not keep.any():
                return
            Q, rho, pq = np.ascontiguousarray(Q[:, keep]), rho[keep], pq[keep]
            part = np.empty((_CHUNKS, act.size))
        rr = _update(Xa, R, P, Q, rho / pq, part)
        rho_prev = rho
        if callback is not None:
            X[:, cols[act]] = Xa
            callback(X)


__all__ = ["batch_cg"]
