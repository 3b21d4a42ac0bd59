"""Test problems: generated PDE systems (deterministic for a seed), files, graphs."""

from ._diffusion import diffusion
from ._fields import gaussian_random_field
from ._graph import graph_features, to_graph
from ._grid import anisotropic, assemble, face_coefficients, poisson
from ._io import load_matrix, pyamg_example
from ._problem import Problem

__all__ = ["Problem", "anisotropic", "assemble", "diffusion", "face_coefficients",
           "gaussian_random_field", "graph_features", "load_matrix", "poisson",
           "pyamg_example", "to_graph"]
