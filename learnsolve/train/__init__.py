"""Training utilities: differentiable sparse products and losses for learned factors;
the learned V-cycle smoother and DCDM direction fits."""

from ._dcdm import DCDMConfig, fit_dcdm
from ._fit import TrainConfig, fit
from ._sparse import coo_matmul, factor_triplets, llt_matmul
from ._vcycle import VCycleConfig, fit_vcycle
from .losses import KaporinFSAI, fsai_residual, hutchinson, low_frequency

__all__ = ["DCDMConfig", "KaporinFSAI", "TrainConfig", "VCycleConfig", "coo_matmul", "factor_triplets",
           "fit", "fit_dcdm", "fit_vcycle", "fsai_residual", "hutchinson", "llt_matmul", "low_frequency"]
