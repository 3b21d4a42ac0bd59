"""Torch modules: message-passing layers on A's graph and the factor-predicting GNN, the learned
V-cycle smoothers (grid and algebraic), the DCDM direction correction."""

from .amg_smoother import AMGSmootherNet, chebyshev_coefficients
from .dcdm import DirectionNet
from .factor_conv import FactorConv
from .factor_gnn import FactorGNN
from .vcycle import SmootherNet

__all__ = ["AMGSmootherNet", "DirectionNet", "FactorConv", "FactorGNN", "SmootherNet",
           "chebyshev_coefficients"]
