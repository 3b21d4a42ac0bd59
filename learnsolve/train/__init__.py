"""Training utilities: differentiable sparse products and losses for learned factors;
the learned V-cycle smoothers (grid and algebraic) and DCDM direction fits."""

from ._amg import AMGConfig, fit_amg
from ._dcdm import DCDMConfig, fit_dcdm
from ._fit import TrainConfig, fit
from ._sparse import coo_matmul, factor_triplets, llt_matmul
from ._vcycle import VCycleConfig, fit_vcycle
from .losses import KaporinFSAI, fsai_residual, hutchinson, low_frequency

__all__ = ["AMGConfig", "DCDMConfig", "KaporinFSAI", "TrainConfig", "VCycleConfig", "coo_matmul",
           "factor_triplets", "fit", "fit_amg", "fit_dcdm", "fit_vcycle", "fsai_residual", "hutchinson",
           "llt_matmul", "low_frequency"]
