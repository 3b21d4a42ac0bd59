"""Many right-hand sides on a device: :func:`~learnsolve.krylov.batch_cg` for CuPy and torch blocks.

The same per-column recurrence and stopping rule as the NumPy path (each
column's iterates are :func:`~learnsolve.krylov.cg`'s), written with the array
API (``array_api_compat``) so that a CuPy array or a torch tensor stays on its
device: one sparse product ``A P`` per iteration for the running columns, the
column dot products as reductions, and the per-column scalars moved to the
host once an iteration to decide which columns stop.  A preconditioner is
applied column by column (the device V-cycles take vectors).
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device

from ._common import to_host, vector_preconditioner

FUNC = "learnsolve.krylov.batch_cg"



def _preconditioner(M, n, xp):
    """``R ↦ M R`` column by column (the device V-cycles take vectors)."""
    apply = vector_preconditioner(M, (n, n), FUNC)
    if apply is None:
        return lambda R: R * 1
    return lambda R: xp.stack([xp.reshape(apply(R[:, j]), (-1,)) for j in range(R.shape[1])],
                              axis=1)


def device_batch_cg(A, B, X0, rtol, atol, maxiter, M, callback, residuals):
    """:func:`~learnsolve.krylov.batch_cg` for a CuPy or torch ``B`` (validated shapes)."""
    xp = array_namespace(B)
    if not xp.isdtype(B.dtype, "real floating"):
        raise ValueError(f"'{FUNC}': real floating right-hand sides only, got `B` of {B.dtype}.")
    if not bool(xp.all(xp.isfinite(B))):
        raise ValueError(f"'{FUNC}': `B` contains NaN or Inf; pass finite right-hand sides.")
    n, s = (int(d) for d in B.shape)
    psolve = _preconditioner(M, n, xp)
    where = device(B)

    def idx(a):  # host positions as a device index array
        return xp.asarray(np.asarray(a, dtype=np.int64), device=where)

    X = xp.zeros_like(B) if X0 is None else xp.astype(xp.asarray(X0, copy=True), B.dtype)
    if s == 0:  # no right-hand sides: nothing to solve
        return X, 0
    R = B - A @ X if bool(xp.any(X != 0)) else B * 1
    tol = np.maximum(float(atol), float(rtol) * to_host(xp.linalg.vector_norm(B, axis=0)))
    act = np.arange(s)  # columns still running
    Xa, P, rho_prev = X * 1, None, None
    hist, infos = [[] for _ in range(s)], np.zeros(s, dtype=np.int64)

    def drop(stop):  # write the stopped columns back, keep the others
        nonlocal act, Xa, R, P, rho_prev
        X[:, idx(act[stop])] = xp.take(Xa, idx(np.flatnonzero(stop)), axis=1)
        keep = idx(np.flatnonzero(~stop))
        act, Xa, R = act[~stop], xp.take(Xa, keep, axis=1), xp.take(R, keep, axis=1)
        if P is not None:
            P = xp.take(P, keep, axis=1)
        if rho_prev is not None:
            rho_prev = xp.take(rho_prev, keep, axis=0)
        return ~stop

    for it in range(maxiter + 1):
        rnorm = to_host(xp.linalg.vector_norm(R, axis=0))
        for k, j in enumerate(act):
            hist[j].append(float(rnorm[k]))
        done = (rnorm < tol[act]) | (rnorm == 0.0)
        if done.any():  # confirm on the true residual, as cg does
            pos = np.flatnonzero(done)
            true = xp.take(B, idx(act[pos]), axis=1) - A @ xp.take(Xa, idx(pos), axis=1)
            tnorm = to_host(xp.linalg.vector_norm(true, axis=0))
            ok = (tnorm < tol[act[pos]]) | (tnorm == 0.0)
            if not ok.all():  # rounding drift: go on from the true residual
                R[:, idx(pos[~ok])] = xp.take(true, idx(np.flatnonzero(~ok)), axis=1)
                done[pos[~ok]] = False
        if it == maxiter:
            infos[act[~done]] = maxiter
            done[:] = True
        if done.any() and not drop(done).any():
            break
        Z = psolve(R)
        rho = xp.sum(R * Z, axis=0)
        P = Z if P is None else Z + P * (rho / rho_prev)
        Q = A @ P
        pq = xp.sum(P * Q, axis=0)
        bad = ~((to_host(pq) > 0.0) & np.isfinite(to_host(rho)))
        if bad.any():  # breakdown in these columns: A or M is not SPD
            infos[act[bad]] = -1
            keep = idx(np.flatnonzero(~bad))
            if not drop(bad).any():
                break
            Q, rho, pq = xp.take(Q, keep, axis=1), xp.take(rho, keep), xp.take(pq, keep)
        alpha = rho / pq
        Xa = Xa + P * alpha
        R = R - Q * alpha
        rho_prev = rho
        if callback is not None:
            X[:, idx(act)] = Xa
            callback(X)
    if residuals is not None:
        residuals.extend(hist)
    fails = infos[infos != 0]
    info = 0 if fails.size == 0 else (int(fails.max()) if (fails > 0).any() else -1)
    return X, info
