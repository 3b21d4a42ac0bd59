"""Training utilities: differentiable sparse products and losses for learned factors."""

from ._fit import TrainConfig, fit
from ._sparse import coo_matmul, factor_triplets, llt_matmul
from .losses import KaporinFSAI, fsai_residual, hutchinson, low_frequency

__all__ = ["KaporinFSAI", "TrainConfig", "coo_matmul", "factor_triplets", "fit", "fsai_residual",
           "hutchinson", "llt_matmul", "low_frequency"]
