"""Training losses for learned factors (scaled matrix ``Ã``, factors from ``FactorGNN``).

All take COO triplets of the factor so that gradients flow through
``index_add`` (see :mod:`learnsolve.train._sparse`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ._sparse import coo_matmul, llt_matmul, upper_solve


def hutchinson(L, A, z: Tensor) -> Tensor:
    """Stochastic Frobenius loss ``‖(L Lᵀ − A) Z‖² / ‖A Z‖²`` for probes ``Z`` (n, k).

    ``L`` and ``A`` are ``(rows, cols, vals)`` triplets.
    """
    n = z.shape[0]
    Az = coo_matmul(*A, z, n)
    return ((llt_matmul(*L, z, n) - Az) ** 2).sum() / (Az**2).sum()


def low_frequency(L, x: Tensor, b: Tensor) -> Tensor:
    """Solution-weighted loss ``‖L Lᵀ X − B‖² / ‖B‖²`` for known solutions ``A X = B``.

    Weighting by solutions stresses the low-frequency (small-eigenvalue) modes
    that decide CG's iteration count.
    """
    n = x.shape[0]
    return ((llt_matmul(*L, x, n) - b) ** 2).sum() / (b**2).sum()


def fsai_residual(G, A, z: Tensor) -> Tensor:
    """``‖(G A Gᵀ − I) Z‖² / ‖Z‖²`` for an FSAI factor ``G`` (triplets)."""
    n = z.shape[0]
    rows, cols, vals = G
    y = coo_matmul(cols, rows, vals, z, n)  # Gᵀ z
    y = coo_matmul(*A, y, n)
    y = coo_matmul(rows, cols, vals, y, n)
    return ((y - z) ** 2).sum() / (z**2).sum()


def gtg_matmul(G, z: Tensor) -> Tensor:
    """``Gᵀ (G z)`` (the FSAI apply ``M⁻¹ z``) for ``G`` given by COO triplets."""
    rows, cols, vals = G
    n = z.shape[0]
    return coo_matmul(cols, rows, vals, coo_matmul(rows, cols, vals, z, n), n)


def fsai_low_frequency(G, x: Tensor, b: Tensor) -> Tensor:
    """``‖Gᵀ G B − X‖² / ‖X‖²`` for known solutions ``A X = B``: how well ``M⁻¹ = Gᵀ G``
    inverts ``A`` on the smooth, small-eigenvalue modes that dominate ``X``."""
    return ((gtg_matmul(G, b) - x) ** 2).sum() / (x**2).sum()


class KaporinFSAI:
    """Exact Kaporin condition number of ``G A Gᵀ`` for lower ``G`` on a fixed pattern.

    ``log K = log(tr(G A Gᵀ)/n) − (1/n) log det(G A Gᵀ)``
    ``      = log(tr/n) − (2/n) Σ log g_ii − (1/n) log det A``; the last term
    does not depend on ``G`` and is dropped.  ``K ≥ 1`` with equality iff
    ``G A Gᵀ = c I``.  The trace ``Σ_i Σ_{p,q ∈ row i} g_p g_q a_{c_p c_q}``
    uses pair lists precomputed once per pattern (no solves, no SpGEMM).

    Parameters
    ----------
    pattern : scipy sparse matrix
        Lower-triangular pattern of ``G`` (CSR, sorted), diagonal included.
    A : scipy sparse matrix
        The (scaled) SPD matrix.
    """

    def __init__(self, pattern, A):
        P = sp.csr_array(pattern)
        P.sort_indices()
        A = sp.csr_array(A)
        lens = np.diff(P.indptr)
        rowof = np.repeat(np.arange(P.shape[0]), lens)
        first = np.repeat(np.arange(P.nnz), lens[rowof])
        block_start = np.repeat(P.indptr[rowof], lens[rowof])
        offset = np.arange(first.size) - np.repeat(np.cumsum(lens[rowof]) - lens[rowof], lens[rowof])
        second = block_start + offset
        a = np.asarray(A[P.indices[first], P.indices[second]]).ravel()
        keep = a != 0
        self.first = torch.as_tensor(first[keep])
        self.second = torch.as_tensor(second[keep])
        self.a = torch.as_tensor(a[keep])
        self.diag_pos = torch.as_tensor(P.indptr[1:] - 1)  # lower, sorted: diagonal is last
        self.n = P.shape[0]
        self.rows = torch.as_tensor(rowof)
        self.cols = torch.as_tensor(P.indices.astype(np.int64))

    def __call__(self, g: Tensor) -> Tensor:
        """``log K`` (up to the constant) for values ``g`` in the pattern's CSR order."""
        a = self.a.to(g.dtype)
        trace = (g[self.first] * g[self.second] * a).sum()
        return torch.log(trace / self.n) - 2.0 / self.n * torch.log(g[self.diag_pos]).sum()


def kaporin_ic(L, A, z: Tensor) -> Tensor:
    """Kaporin condition number of ``M⁻¹ A`` for ``M = L Lᵀ`` (log, up to a constant).

    ``log K = log(tr(L⁻¹ A L⁻ᵀ)/n) − (1/n) log det(L⁻¹ A L⁻ᵀ)``
    ``      = log(tr/n) + (2/n) Σ log l_ii − (1/n) log det A``; the last term is
    dropped.  The trace is Hutchinson's estimate ``mean_k uₖᵀ A uₖ`` with
    ``uₖ = L⁻ᵀ zₖ`` (a differentiable triangular solve).  ``K ≥ 1``, equal to 1
    iff ``L Lᵀ = c A``; unlike the Frobenius losses it weighs the small
    eigenvalues of ``M⁻¹ A`` through the determinant.
    """
    rows, cols, vals = L
    n = z.shape[0]
    u = upper_solve(rows, cols, vals, z)
    trace = (u * coo_matmul(*A, u, n)).sum() / z.shape[1]
    diag = vals[rows == cols]
    return torch.log(trace / n) + 2.0 / n * torch.log(diag).sum()


def fsai_pcg_error(G, A, x: Tensor, steps: int) -> Tensor:
    """Mean ``log(‖e_k‖²_A / ‖e_0‖²_A)`` after ``steps`` PCG iterations with ``M⁻¹ = Gᵀ G``.

    Unrolls PCG from ``x₀ = 0`` on ``A X = B`` (``B = A X``, one column per
    right-hand side) and differentiates through it.  The A-norm error after a
    fixed number of steps is what CG minimizes over the Krylov space, so unlike
    the Kaporin number (whose minimizer on a fixed pattern is classical FSAI)
    it rewards whatever clusters the spectrum that CG sees.  ``G`` and ``A``
    are COO triplets; ``X`` should carry low-frequency content (e.g. ``A⁻¹``
    of a random right-hand side), which decides the iteration count.

    Floating-point CG is a smooth function of ``G`` only over short unrolls:
    ``benchmarks/fsai_headroom.py`` finds autograd and finite differences
    agreeing at 30 steps and not at 100, and networks trained on it validated
    worse than classical FSAI (see docs/learned-factors.md).
    """
    n = x.shape[0]
    b = coo_matmul(*A, x, n)
    xk = torch.zeros_like(x)
    r = b
    z = gtg_matmul(G, r)
    p = z
    rz = (r * z).sum(0)
    for _ in range(steps):
        Ap = coo_matmul(*A, p, n)
        alpha = rz / (p * Ap).sum(0)
        xk = xk + alpha * p
        r = r - alpha * Ap
        z = gtg_matmul(G, r)
        rz_new = (r * z).sum(0)
        p = z + (rz_new / rz) * p
        rz = rz_new
    e = x - xk
    return torch.log((e * coo_matmul(*A, e, n)).sum(0) / (x * b).sum(0)).mean()
