"""Torch modules: message-passing layers on A's graph the factor-predicting GNN, learned
V-cycle smoothers, the DCDM direction correction."""

from .dcdm import DirectionNet
from .factor_conv import FactorConv
from .factor_gnn import FactorGNN
from .vcycle import SmootherNet, TorchHierarchy

__all__ = ["DirectionNet", "FactorConv", "FactorGNN", "SmootherNet", "TorchHierarchy"]
