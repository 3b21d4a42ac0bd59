"""Matrices from files (Matrix Market) and PyAMG's bundled examples."""

from __future__ import annotations

import os

import scipy.io
import scipy.sparse as sp

from .._validation import as_csr, check_symmetric, positive_diagonal
from ._problem import Problem, make_rhs


def _spd_problem(A, func, name, kind, meta, rhs, seed):
    A = as_csr(A, func).astype("float64")
    check_symmetric(A, func)
    positive_diagonal(A, func)
    A = sp.csr_array((A + A.T) * 0.5)  # remove rounding asymmetry of `general` files
    A.sort_indices()
    return Problem(A, make_rhs(A.shape[0], rhs, seed), name, kind, None, None,
                   dict(meta, seed=seed, rhs=rhs))


def load_matrix(path, *, rhs="random", seed=0):
    """Read an SPD matrix from a Matrix Market file.

    Matrices stored as ``general`` are accepted after a symmetry check
    (relative asymmetry ≤ 1e-10).

    Examples
    --------
    >>> import os, tempfile, scipy.io, scipy.sparse as sp
    >>> from learnsolve.problems import load_matrix
    >>> path = os.path.join(tempfile.mkdtemp(), "t.mtx")
    >>> scipy.io.mmwrite(path, sp.eye(3) * 2.0)
    >>> load_matrix(path).n
    3
    """
    func = "learnsolve.problems.load_matrix"
    if not os.path.isfile(path):
        raise ValueError(f"{func}: `path`={path!r} is not a file; pass a .mtx file path.")
    try:
        A = scipy.io.mmread(path)
    except Exception as exc:
        raise ValueError(f"{func}: could not read Matrix Market file {path!r}: {exc}") from None
    if not sp.issparse(A):
        A = sp.csr_array(A)
    name = os.path.splitext(os.path.basename(path))[0]
    return _spd_problem(A, func, name, "matrix", {"path": os.path.abspath(path)}, rhs, seed)


def pyamg_example(name, *, rhs="random", seed=0):
    """One of PyAMG's bundled SPD example matrices (``pyamg.gallery.load_example``).

    Examples
    --------
    >>> from learnsolve.problems import pyamg_example
    >>> pyamg_example("airfoil").n
    260
    """
    from pyamg.gallery import load_example

    func = "learnsolve.problems.pyamg_example"
    try:
        data = load_example(name)
    except Exception as exc:
        raise ValueError(f"{func}: no PyAMG example named {name!r} ({exc}); try 'airfoil', "
                         "'bar', 'knot' or 'local_disc_galerkin_diffusion'.") from None
    return _spd_problem(data["A"], func, name, "matrix", {"pyamg_example": name}, rhs, seed)
