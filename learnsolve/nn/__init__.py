"""Torch modules: message-passing layers on A's graph and the factor-predicting GNN, the learned
V-cycle smoother, the DCDM direction correction."""

from .dcdm import DirectionNet
from .factor_conv import FactorConv
from .factor_gnn import FactorGNN
from .vcycle import SmootherNet

__all__ = ["DirectionNet", "FactorConv", "FactorGNN", "SmootherNet"]
