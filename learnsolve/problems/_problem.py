"""The :class:`Problem` record returned by every generator and loader."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class Problem:
    """A sparse SPD system ``A x = b`` with what is known about its origin.

    Attributes
    ----------
    A : scipy.sparse.csr_array
        The SPD matrix (canonical CSR, float64).
    b : numpy.ndarray
        Right-hand side.
    name : str
        Short label, e.g. ``"poisson-512x512"``.
    kind : str
        Family: ``"poisson"``, ``"diffusion"``, ``"anisotropic"``, ``"matrix"``.
    grid_shape : tuple of int or None
        Grid of the unknowns (C order) when the problem is structured.
    coeff : numpy.ndarray or None
        Cell coefficient field ``k`` (shape ``grid_shape``) when there is one.
    meta : dict
        Generator parameters (seed, covariance, contrast, path, ...).
    """

    A: sp.csr_array
    b: np.ndarray
    name: str
    kind: str
    grid_shape: tuple | None = None
    coeff: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n(self):
        """Number of unknowns."""
        return self.A.shape[0]

    def __repr__(self):
        return f"<Problem {self.name!r} kind={self.kind} n={self.n} nnz={self.A.nnz}>"


def make_rhs(n, rhs, seed):
    """Right-hand side: ``'random'`` (standard normal, seeded) or ``'ones'``."""
    if rhs == "random":
        return np.random.default_rng([int(seed), 1]).standard_normal(n)
    if rhs == "ones":
        return np.ones(n)
    raise ValueError(f"learnsolve.problems: unknown `rhs`={rhs!r}; use 'random' or 'ones'.")
