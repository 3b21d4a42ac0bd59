"""Test problems: generated PDE systems (deterministic for a seed), files, graphs."""

from ._diffusion import diffusion, grid_inclusions
from ._fields import gaussian_random_field
from ._graph import edge_tables, graph_features, to_graph
from ._grid import anisotropic, assemble, face_coefficients, poisson
from ._io import load_matrix, pyamg_example
from ._mesh import fem_diffusion, inclusion_coefficient, inclusions, jittered_mesh, p1_load, p1_stiffness
from ._network import graph_laplacian
from ._problem import Problem

__all__ = ["Problem", "anisotropic", "assemble", "diffusion", "edge_tables", "face_coefficients",
           "fem_diffusion", "gaussian_random_field", "graph_features", "graph_laplacian", "grid_inclusions",
           "inclusion_coefficient", "inclusions", "jittered_mesh", "load_matrix", "p1_load",
           "p1_stiffness", "poisson", "pyamg_example", "to_graph"]
