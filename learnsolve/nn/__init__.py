"""Torch modules: message-passing layers on A's graph and the factor-predicting GNN."""

from .factor_conv import FactorConv
from .factor_gnn import FactorGNN

__all__ = ["FactorConv", "FactorGNN"]
