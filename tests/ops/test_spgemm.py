"""The row-parallel sparse products against SciPy's."""

import numpy as np
import pytest
import scipy.sparse as sp

from learnsolve.multigrid import aggregation_hierarchy
from learnsolve.ops import galerkin, matmat
from learnsolve.problems import fem_diffusion


@pytest.mark.parametrize("shape", [(1, 1, 1), (40, 30, 20), (200, 150, 300), (0, 5, 3), (7, 0, 4)])
@pytest.mark.parametrize("density", [0.02, 0.3])
def test_matmat_matches_scipy_and_is_canonical(shape, density):
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    A = sp.random_array((m, k), density=density, random_state=rng, format="csr")
    B = sp.random_array((k, n), density=density, random_state=rng, format="csr")
    for sort in (True, False):
        C = matmat(A, B, sort=sort)
        assert C.shape == (m, n)
        ref = (A @ B).toarray()
        assert np.allclose(C.toarray(), ref, rtol=1e-13, atol=1e-14)
        pattern = (abs(A).sign() @ abs(B).sign()).toarray()  # structural product, no cancellation
        assert C.nnz == np.count_nonzero(pattern)  # no duplicates, no missing entries
    C = matmat(A, B)
    assert C.has_sorted_indices and C.has_canonical_format


def test_matmat_takes_other_formats_and_rejects_bad_shapes():
    A = sp.random_array((30, 20), density=0.2, random_state=0, format="coo").astype(np.float32)
    B = sp.random_array((20, 10), density=0.2, random_state=1, format="csc")
    assert np.allclose(matmat(A, B).toarray(), (A @ B).toarray(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"matmat: shapes \(30, 20\) and \(10, 20\)"):
        matmat(A, B.T)


def test_galerkin_matches_scipy_on_aggregation_levels():
    A = fem_diffusion(40, dim=3, contrast=1e4, seed=3).A
    H = aggregation_hierarchy(A, max_coarse=50)
    assert len(H) >= 3
    for fine, coarse in zip(H.levels, H.levels[1:]):
        P = fine.P
        ref = sp.csr_array(P.T @ (sp.csr_array(fine.A) @ P))
        C = galerkin(fine.A, P)
        assert C.has_canonical_format
        assert abs(C - ref).max() <= 1e-12 * abs(ref).max()
        assert abs(coarse.A - ref).max() <= 1e-12 * abs(ref).max()
