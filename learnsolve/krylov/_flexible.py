"""Shared loop of flexible CG and DCDM: A-orthogonalized directions, exact line search."""

from __future__ import annotations

from collections import deque

from ._common import System


def flexible_solve(func, A, b, x0, rtol, atol, maxiter, M, callback, residuals, *,
                   m, variant, normalize):
    """Run the flexible conjugate-direction iteration.

    Each step takes ``z = M(r)`` (``M(r/‖r‖)`` when ``normalize``), makes it
    A-conjugate to the last ``m`` directions (``variant='orth'``) or adds a
    Polak–Ribière multiple of the previous one (``variant='pr'``), and does an
    exact line search ``α = pᵀr / pᵀAp``.
    """
    if variant not in ("orth", "pr"):
        raise ValueError(f"'{func}': unknown `variant`={variant!r}; use 'orth' or 'pr'.")
    if int(m) < 1 and variant == "orth":
        raise ValueError(f"'{func}': `m` must be a positive integer, got {m!r}.")
    s = System(func, A, b, x0, rtol, atol, maxiter, M)
    xp, x = s.xp, s.x
    if s.bnrm2 == 0.0:
        return xp.zeros_like(s.b), 0
    r = s.initial_residual()
    history = deque(maxlen=int(m) if variant == "orth" else 1)  # (p, A p, pᵀAp)
    prev = None  # (z, r) of the previous step, Polak-Ribière
    with s.loop_context():
        for _ in range(s.maxiter):
            done, r, rnorm = s.check(r, residuals)
            if done:
                return x, 0
            z = s.precondition(r / rnorm if normalize else r)
            if variant == "orth":
                p = z
                for p_j, q_j, pq_j in history:  # A-conjugate: p_jᴴ A p = 0 (A Hermitian)
                    p = p - (s.dot(q_j, z) / pq_j) * p_j
            elif prev is None:
                p = z
            else:
                z_prev, r_prev, p_prev = prev
                beta = s.dot(r - r_prev, z) / s.dot(r_prev, z_prev)
                p = z + beta * p_prev
            q = s.matvec(p)
            pq = s.dot(p, q)
            if not (s.real(pq) > 0.0 and s.real(pq) < float("inf")):
                return x, -1
            alpha = s.dot(p, r) / pq
            if variant == "pr":
                prev = (z, xp.asarray(r, copy=True), p)
            x += alpha * p
            r -= alpha * q
            history.append((p, q, pq))
            if callback is not None:
                callback(x)
        return s.finish(r, residuals)
