"""Compiled kernels against their pure references, and malformed-input checks."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import _backend, ops
from learnsolve.ops import _reference as ref

needs_c = pytest.mark.skipif(not _backend.HAS_C, reason="compiled extension not built")


@pytest.fixture(params=["compiled", "fallback"])
def backend(request, monkeypatch):
    """Run a kernel test on the compiled path and on the numba/SciPy fallback."""
    if request.param == "compiled":
        if not _backend.HAS_C:
            pytest.skip("compiled extension not built")
    else:
        monkeypatch.setattr(_backend, "HAS_C", False)
        monkeypatch.setattr(_backend, "C_OPENMP", False)
    return request.param


def _matrices():
    yield learnsolve.problems.poisson((17, 13)).A
    yield learnsolve.problems.diffusion((9, 8, 7), variance=2.0, seed=1).A
    yield learnsolve.problems.anisotropic(12, eps=0.01, theta=0.3).A


@pytest.mark.parametrize("vdtype", [np.float32, np.float64])
@pytest.mark.parametrize("idtype", [np.int32, np.int64])
def test_spmv_matches_scipy(vdtype, idtype, backend):
    rng = np.random.default_rng(0)
    for A in _matrices():
        A = sp.csr_array((A.data.astype(vdtype), A.indices.astype(idtype),
                          A.indptr.astype(idtype)), shape=A.shape)
        x = rng.standard_normal(A.shape[1]).astype(vdtype)
        y = ops.CSRMatrix(A).matvec(x)
        assert y.dtype == vdtype
        tol = 1e-5 if vdtype == np.float32 else 1e-13
        np.testing.assert_allclose(y, ref.spmv_ref(A, x), rtol=tol, atol=tol)


def test_spmv_rectangular(backend):
    A = sp.random_array((40, 25), density=0.2, random_state=1, format="csr")
    x = np.arange(25.0)
    np.testing.assert_allclose(ops.spmv(A, x), A @ x, rtol=1e-14)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("vdtype", [np.float32, np.float64])
def test_triangular_solve_matches_scipy(parallel, lower, vdtype, backend):
    rng = np.random.default_rng(1)
    for A in _matrices():
        L = ops.ichol0(A)
        T = (L if lower else sp.csr_array(L.T)).astype(vdtype)
        b = rng.standard_normal(A.shape[0]).astype(vdtype)
        x = ops.TriangularSolver(T, lower=lower, parallel=parallel).solve(b)
        tol = 1e-4 if vdtype == np.float32 else 1e-12
        np.testing.assert_allclose(x, ref.trsv_ref(T.astype(np.float64), b.astype(np.float64),
                                                   lower=lower), rtol=tol, atol=tol)


@pytest.mark.parametrize("lower", [True, False])
def test_levels_match_reference(lower, backend):
    L = ops.ichol0(learnsolve.problems.diffusion((6, 5, 4), seed=0).A)
    T = L if lower else sp.csr_array(L.T)
    S = sp.csr_array(sp.tril(T, -1) if lower else sp.triu(T, 1))
    level_ptr, level_rows = ops.compute_levels(S, lower)
    level = np.empty(T.shape[0], dtype=np.int64)
    for lev in range(len(level_ptr) - 1):
        level[level_rows[level_ptr[lev]:level_ptr[lev + 1]]] = lev
    np.testing.assert_array_equal(level, ref.levels_ref(T, lower))


@pytest.mark.parametrize("omega", [0.0, 0.5, 0.97, 1.0])
def test_ichol0_matches_dense_reference(omega, backend):
    for A in _matrices():
        if A.shape[0] > 400:
            continue
        F = ref.ilu0_ref(A, omega)
        d = np.diag(F)
        L_ref = (np.tril(F, -1) + np.eye(A.shape[0])) * np.sqrt(d)[None, :]
        np.testing.assert_allclose(ops.ichol0(A, omega=omega).toarray(), L_ref,
                                   rtol=1e-11, atol=1e-12)


def test_ichol0_pattern_and_row_sums(backend):
    A = learnsolve.problems.diffusion(20, variance=2.0, seed=4).A
    L = ops.ichol0(A)
    lowerA = sp.csr_array(sp.tril(A))
    assert set(zip(*L.nonzero())) == set(zip(*lowerA.nonzero()))  # IC(0): A's lower pattern
    Lm = ops.ichol0(A, omega=1.0)  # MIC(0) preserves row sums: L L^T e = A e
    e = np.ones(A.shape[0])
    np.testing.assert_allclose(Lm @ (Lm.T @ e), A @ e, rtol=1e-10, atol=1e-10)


def test_ichol0_exact_on_tridiagonal(backend):
    A = sp.csr_array(sp.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(30, 30)))
    L = ops.ichol0(A)
    np.testing.assert_allclose((L @ L.T).toarray(), A.toarray(), atol=1e-12)


@needs_c
def test_fallback_kernels_match_compiled(no_compiled):
    A = learnsolve.problems.diffusion(15, variance=1.0, seed=2).A
    L = ops.ichol0(A, omega=0.9)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    _backend.HAS_C = True
    L_c = ops.ichol0(A, omega=0.9)
    x_c = ops.TriangularSolver(L_c).solve(b)
    _backend.HAS_C = False
    np.testing.assert_allclose(L.toarray(), L_c.toarray(), rtol=1e-12, atol=1e-14)
    x = ops.TriangularSolver(L).solve(b)
    np.testing.assert_allclose(x, x_c, rtol=1e-12)
    np.testing.assert_allclose(ops.spmv(A, b), A @ b, rtol=1e-14)


# ---------------------------------------------------------------- malformed CSR
def _raw(A):
    return A.data.copy(), A.indices.copy(), A.indptr.copy()


def test_malformed_csr_raises_value_error(backend):
    A = learnsolve.problems.poisson((5, 5)).A
    x = np.ones(25)
    data, indices, indptr = _raw(A)
    bad_index = indices.copy()
    bad_index[3] = 1000
    with pytest.raises(ValueError, match="out of bounds"):
        ops.CSRMatrix((data, bad_index, indptr), shape=A.shape)
    bad_ptr = indptr.copy()
    bad_ptr[5] = bad_ptr[7]
    with pytest.raises(ValueError, match="indptr"):
        ops.CSRMatrix((data, indices, bad_ptr), shape=A.shape)
    with pytest.raises(ValueError, match="n_rows"):
        ops.CSRMatrix((data, indices, indptr[:-1]), shape=A.shape)
    with pytest.raises(ValueError, match="int32 or int64"):
        ops.CSRMatrix((data, indices.astype(np.int16), indptr), shape=A.shape)
    with pytest.raises(ValueError, match="float32 or float64"):
        ops.CSRMatrix((data.astype(np.complex128), indices, indptr), shape=A.shape)
    M = ops.CSRMatrix(A)
    with pytest.raises(ValueError, match="shape"):
        M.matvec(np.ones(24))
    with pytest.raises(ValueError, match="cast"):
        M.matvec(np.ones(25, dtype=np.float32))
    np.testing.assert_allclose(M.matvec(x), A @ x)


@needs_c
def test_compiled_kernels_never_crash_on_garbage():
    """The raw extension checks bounds itself: garbage raises, it does not segfault."""
    C = _backend._C
    indptr = np.array([0, 2, 1, 4], dtype=np.int32)  # decreasing
    indices = np.array([0, 5, 1, -3], dtype=np.int32)  # out of range
    data = np.ones(4)
    with pytest.raises(ValueError):
        C.spmv(3, indptr, indices, data, np.ones(3), np.empty(3))
    with pytest.raises(ValueError):
        C.spmv(3, np.array([0, 1, 2, 3], np.int32), np.array([0, 1, 7], np.int32),
               np.ones(3), np.ones(3), np.empty(3))
    with pytest.raises(ValueError):
        C.spmv(3, np.array([0, 1, 2, 99], np.int32), np.array([0, 1, 2], np.int32),
               np.ones(3), np.ones(3), np.empty(3))
    status, row = C.ilu0(np.array([0, 1, 2], np.int32), np.array([0, 9], np.int32), np.ones(2),
                         0.0, 1e-12)
    assert status == 2 and row == 1  # out-of-range column reported, nothing touched
    with pytest.raises(ValueError, match="ichol0: row 1: no diagonal"):
        ops.ichol0(sp.csr_array(np.array([[2.0, 1.0], [1.0, 0.0]])))
    with pytest.raises(ValueError):
        C.trsv_serial(np.array([0, 1, 1], np.int32), np.array([7], np.int32), np.ones(1),
                      np.ones(2), np.ones(2), np.empty(2), True)
    with pytest.raises(TypeError):  # noconvert: wrong dtype is refused, not copied
        C.spmv(3, np.array([0, 1, 2, 3], np.int32), np.array([0, 1, 2], np.int32),
               np.ones(3, np.float32), np.ones(3), np.empty(3))


def test_with_fill_patterns():
    A = learnsolve.problems.poisson((6, 5)).A
    S = sp.csr_array((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape)
    T = sp.tril(S, k=-1)
    for pattern, want in (("A", S), ("ic1", S + T @ T.T), ("A2", S @ S), ("A3", S @ S @ S)):
        F = ops.with_fill(A, pattern)
        assert F.has_sorted_indices
        np.testing.assert_array_equal(F.toarray() != 0 if pattern == "A" else
                                      sp.csr_array((np.ones(F.nnz), F.indices, F.indptr),
                                                   shape=A.shape).toarray() > 0,
                                      want.toarray() > 0)
        np.testing.assert_array_equal(F.toarray(), A.toarray())  # values of A, zeros on the fill
    with pytest.raises(ValueError, match="with_fill.*pattern"):
        ops.with_fill(A, "A4")


def test_ic1_is_ilu0_on_the_level1_pattern():
    A = learnsolve.problems.diffusion(7, contrast=1e3, seed=4).A
    F = ops.with_fill(A, "ic1")
    L = ops.ichol0(F)
    dense = ref.ilu0_ref(F)  # reference IKJ ILU(0) restricted to the (filled) pattern
    d = np.diag(dense)
    want = (np.tril(dense, -1) + np.eye(A.shape[0])) * np.sqrt(d)[None, :]
    np.testing.assert_allclose(L.toarray(), want, rtol=1e-10, atol=1e-12)
    # shifting keeps the fill pattern
    L2, shift = ops.ichol0_shifted(F, shifts=(0.5,))
    assert shift == 0.5 and L2.nnz == L.nnz


@pytest.mark.parametrize("pattern", ["A", "ic1", "A2"])
def test_fsai_factor_matches_dense_reference(pattern):
    A = learnsolve.problems.diffusion((6, 5, 4), variance=2.0, seed=3).A
    G = ops.fsai_factor(A, pattern)
    want = ref.fsai_ref(A, sp.tril(ops.with_fill(A, pattern)))
    np.testing.assert_allclose(G.toarray(), want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose((G @ A @ G.T).diagonal(), 1.0, rtol=1e-10)


def test_fsai_factor_errors():
    A = learnsolve.problems.poisson((4, 4)).A.tolil()
    A[3, 3] = -1.0
    with pytest.raises(ValueError, match="fsai_factor.*not SPD"):
        ops.fsai_factor(sp.csr_array(A), "A")


def test_fill_levels_against_dense_reference():
    for A in (learnsolve.problems.poisson((7, 6)).A, learnsolve.problems.poisson((4, 3, 3)).A,
              learnsolve.problems.fem_diffusion(6, dim=2, seed=2).A):
        for k in (0, 1, 2, 3):
            got = ops.fill_levels(A, k).toarray() > 0
            np.testing.assert_array_equal(got, ref.fill_levels_ref(A, k))


@pytest.mark.parametrize("vdtype", [np.float32, np.float64])
@pytest.mark.parametrize("idtype", [np.int32, np.int64])
def test_block_products_match_scipy(vdtype, idtype):
    rng = np.random.default_rng(5)
    A = sp.random_array((300, 200), density=0.05, random_state=6, format="csr").astype(vdtype)
    A.indices, A.indptr = A.indices.astype(idtype), A.indptr.astype(idtype)
    C = ops.CSRMatrix(A)
    X = rng.standard_normal((200, 7)).astype(vdtype)
    E = rng.standard_normal((300, 7)).astype(vdtype)
    tol = 1e-4 if vdtype == np.float32 else 1e-12
    assert np.allclose(C.matmat(X), A @ X, atol=tol) and np.allclose(C @ X, A @ X, atol=tol)
    S = ops.CSRMatrix(sp.random_array((300, 300), density=0.05, random_state=7,
                                      format="csr").astype(vdtype))
    Y = rng.standard_normal((300, 7)).astype(vdtype)
    assert np.allclose(S.residual(E, Y), E - S.A @ Y, atol=tol)
    Z, Y0 = Y[:200].copy(), Y.copy()
    out = C.prolong_add(Y, Z)  # C as an interpolation from 200 coarse to 300 fine unknowns
    assert out is Y and np.allclose(out, Y0 + A @ Z, atol=tol)  # in place for blocks
    # vectors and F-ordered blocks keep SciPy's / the vector path and return new arrays
    x = rng.standard_normal(200).astype(vdtype)
    assert np.allclose(C.prolong_add(E[:, 0].copy(), x), E[:, 0] + A @ x, atol=tol)
    F = np.asfortranarray(X)
    assert np.allclose(C @ F, A @ X, atol=tol)
    with pytest.raises(ValueError, match=r"`X` must be a \(200, s\) block"):
        C.matmat(X[:150])


def test_split_columns_gives_the_blocks_of_a_column_range():
    A = sp.random_array((40, 60), density=0.2, format="csr", random_state=0)
    A.sort_indices()
    (dp, dj, dv), (op, oj, ov) = ops.split_columns(A.indptr, A.indices, A.data, 15, 45, np.int32)
    inside = sp.csr_array((dv, dj, dp), shape=(40, 30))
    outside = sp.csr_array((ov, oj, op), shape=(40, 60))
    assert dj.dtype == oj.dtype == np.int32
    assert (inside != A[:, 15:45]).nnz == 0
    rest = A.copy()
    rest[:, 15:45] = 0.0
    rest.eliminate_zeros()
    assert (outside != rest).nnz == 0
    assert outside[:, 15:45].nnz == 0
    assert np.all(np.diff(dj[dp[3]:dp[4]]) > 0)  # each row's columns stay sorted


@pytest.mark.parametrize("bad", [
    dict(indptr=np.array([0, 2, 9])),  # ends past the entries
    dict(indptr=np.array([0, 3, 2])),  # decreasing
    dict(data=np.array([1.0, 2.0])),  # fewer values than indices
    dict(indices=np.array([0.0, 1.0, 2.0])),  # not integers
    dict(lo=5, hi=2),
])
def test_split_columns_rejects_bad_csr_arrays_with_a_clear_error(bad):
    args = dict(indptr=np.array([0, 2, 3]), indices=np.array([0, 4, 1]), data=np.ones(3), lo=0, hi=3)
    args.update(bad)
    with pytest.raises(ValueError, match="learnsolve.ops.split_columns"):
        ops.split_columns(args["indptr"], args["indices"], args["data"], args["lo"], args["hi"])
