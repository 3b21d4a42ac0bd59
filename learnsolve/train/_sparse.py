"""Differentiable sparse products by gather + ``index_add`` (not ``torch.sparse.mm``,
whose CPU backward was measured >1000× slower here)."""

from __future__ import annotations

import torch
from torch import Tensor


def coo_matmul(rows: Tensor, cols: Tensor, vals: Tensor, z: Tensor, n: int) -> Tensor:
    """``S @ z`` for ``S`` given by COO triplets; ``z`` has shape ``(n, k)``."""
    out = torch.zeros((n, z.shape[1]), dtype=z.dtype, device=z.device)
    return out.index_add_(0, rows, vals.unsqueeze(-1) * z[cols])


def llt_matmul(rows: Tensor, cols: Tensor, vals: Tensor, z: Tensor, n: int) -> Tensor:
    """``L (Lᵀ z)`` for a factor ``L`` given by COO triplets (diagonal included)."""
    return coo_matmul(rows, cols, vals, coo_matmul(cols, rows, vals, z, n), n)


def factor_triplets(offdiag: Tensor, diag: Tensor, rows: Tensor, cols: Tensor):
    """COO triplets of ``L = strict part (rows, cols, offdiag) + diag(diag)``."""
    n = diag.shape[0]
    ar = torch.arange(n, device=diag.device)
    return torch.cat([rows, ar]), torch.cat([cols, ar]), torch.cat([offdiag, diag])


class _UpperSolve(torch.autograd.Function):
    """``U = L⁻ᵀ Z`` for a lower factor given by COO triplets; differentiable in the
    values of ``L`` and in ``Z`` (the backward pass is one lower solve)."""

    @staticmethod
    def forward(ctx, vals, rows, cols, z):
        import numpy as np
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        n = z.shape[0]
        L = sp.csr_array((vals.detach().numpy(), (rows.numpy(), cols.numpy())), shape=(n, n))
        u = spla.spsolve_triangular(sp.csr_array(L.T), z.detach().numpy(), lower=False)
        u = torch.as_tensor(np.asarray(u), dtype=z.dtype)
        ctx.L = L
        ctx.save_for_backward(rows, cols, u)
        return u

    @staticmethod
    def backward(ctx, grad_u):
        import scipy.sparse.linalg as spla

        rows, cols, u = ctx.saved_tensors
        # u = T⁻¹ z with T = Lᵀ: dz = T⁻ᵀ ū = L⁻¹ ū, dT_ab = -w_a u_b, and L_ij = T_ji
        w = torch.as_tensor(spla.spsolve_triangular(ctx.L, grad_u.numpy(), lower=True), dtype=u.dtype)
        grad_vals = -(w[cols] * u[rows]).sum(dim=1)
        return grad_vals, None, None, w


def upper_solve(rows: Tensor, cols: Tensor, vals: Tensor, z: Tensor) -> Tensor:
    """``L⁻ᵀ z`` for ``L`` given by lower COO triplets (diagonal included), differentiable."""
    return _UpperSolve.apply(vals, rows, cols, z)
