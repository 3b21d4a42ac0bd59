"""Test problems: generated PDE systems (deterministic for a seed), files, graphs."""

from ._diffusion import diffusion
from ._fields import gaussian_random_field
from ._graph import graph_features, to_graph
from ._grid import anisotropic, assemble, face_coefficients, poisson
from ._io import load_matrix, pyamg_example
from ._mesh import fem_diffusion, inclusion_coefficient, inclusions, jittered_mesh, p1_load, p1_stiffness
from ._problem import Problem
from ._stencil import NotAGrid, grid_stencil, stencil_to_csr

__all__ = ["NotAGrid", "Problem", "anisotropic", "assemble", "diffusion", "face_coefficients",
           "fem_diffusion", "gaussian_random_field", "graph_features", "grid_stencil",
           "inclusion_coefficient", "inclusions", "jittered_mesh", "load_matrix", "p1_load",
           "p1_stiffness", "poisson", "pyamg_example", "stencil_to_csr", "to_graph"]
