"""Differentiable sparse products by gather + ``index_add`` (not ``torch.sparse.mm``,
whose CPU backward was >1000× slower in the calibration quoted in issue 3)."""

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
