"""multigrid.Boxes and the per-rank rows of the distributed grid cycle, every rank run in one
process against the serial hierarchy (the distributed cycle itself: tests/test_petsc_mg.py)."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve.multigrid import (
    Boxes,
    NotAGrid,
    check_rows,
    coarse_rows,
    coarsen_patch,
    grid_hierarchy,
    interpolation_rows,
    matrix_rows,
    patch_operator,
    rows_to_csr,
    smoother_rows,
    stencil_rows,
)


def _order(B):
    """Natural index of each global (box-numbered) index."""
    return np.concatenate([B.natural(r) for r in range(B.size)])


def _csr(rows, shape):
    indptr, indices, data = rows
    return sp.csr_array((data, indices, indptr), shape=shape)


def _rank_stencils(A, B, r):
    """Rank ``r``'s stencils from its rows of ``A`` (box numbering)."""
    rows = A[B.start[r]:B.start[r + 1]]
    return stencil_rows(rows.indptr, rows.indices, rows.data, B, r)


def _patch_op(S_all, B, r, width=None):
    patch = B.patch(r) if width is None else B.patch(r, width)
    axes = np.meshgrid(*(np.arange(lo, hi) for lo, hi in patch), indexing="ij")
    return patch, patch_operator(S_all[B.index(tuple(a.reshape(-1) for a in axes))], patch)


def distributed_levels(A, shape, edges, model=None, width=None):
    """Every rank's rows of every level but the coarsest, stacked: per level ``(order,
    coarse_order, A, P, K)`` in the box numbering (``order[i]``: the natural index of global
    index ``i``)."""
    B = Boxes(shape, edges)
    o = _order(B)
    Ab = A.tocsr()[o][:, o]
    S_all = np.concatenate([_rank_stencils(Ab, B, r) for r in range(B.size)])
    out = []
    while B.n > 64 and min(B.shape) >= 3:
        C = B.coarse()
        As, Ps, Ks, S_next = [], [], [], []
        for r in range(B.size):
            As.append(_csr(matrix_rows(S_all[B.start[r]:B.start[r + 1]], B, r), (B.counts[r], B.n)))
            if not B.counts[r]:
                Ps.append(sp.csr_array((0, C.n)))
                Ks.append(sp.csr_array((0, B.n)))
                S_next.append(np.zeros((C.counts[r], S_all.shape[1])))
                continue
            patch, op = _patch_op(S_all, B, r, width)
            Pc, Sc = coarsen_patch(op)
            Ps.append(_csr(interpolation_rows(Pc, op, patch, B, C, r), (B.counts[r], C.n)))
            S_next.append(coarse_rows(Sc, op, patch, C, r))
            if model is not None:
                K, _, live = model.level_smoother(op)
                Ks.append(_csr(smoother_rows(K, live, op, patch, B, r), (B.counts[r], B.n)))
        out.append((o, _order(C), sp.vstack(As).tocsr(), sp.vstack(Ps).tocsr(),
                    sp.vstack(Ks).tocsr() if model is not None else None))
        S_all, B, o = np.concatenate(S_next), C, _order(C)
    return out


def serial_smoother(model, lvl):
    """The serial level's smoother as CSR in natural numbering."""
    K, _, live = model.level_smoother(lvl.A)
    whole = Boxes(lvl.A.grid, [[0, s] for s in lvl.A.grid])
    return _csr(smoother_rows(K, live, lvl.A, tuple((0, s) for s in lvl.A.grid), whole, 0),
                lvl.A.shape)


CASES = [
    # 2D: three x-boxes and four uneven y-boxes, one of them a single row
    (lambda: learnsolve.problems.diffusion(61, contrast=1e4, seed=3), [[0, 17, 30, 61], [0, 13, 14, 40, 61]],
     "vcycle-2d"),
    # 2D: boxes one cell wide, whose coarse boxes are empty
    (lambda: learnsolve.problems.diffusion(40, variance=2.0, seed=1), [[0, 1, 2, 3, 40], [0, 20, 21, 40]],
     "vcycle-2d"),
    # 3D: an empty coarse box along z, uneven x
    (lambda: learnsolve.problems.diffusion(19, dim=3, contrast=1e4, seed=3),
     [[0, 7, 19], [0, 1, 10, 19], [0, 9, 9, 19]], "vcycle-3d"),
]


@pytest.mark.parametrize("make, edges, model", CASES)
def test_each_ranks_rows_are_the_serial_hierarchys(make, edges, model):
    p = make()
    model = learnsolve.pretrained(model)
    H = grid_hierarchy(p.A, p.grid_shape)
    levels = distributed_levels(p.A, p.grid_shape, edges, model)
    assert len(levels) == len(H) - 1
    for l, (o, oc, A, P, K) in enumerate(levels):
        lvl = H.levels[l]
        Aser = lvl.A.tocsr()[o][:, o]
        assert abs(A - Aser).max() <= 1e-13 * abs(Aser).max()
        assert abs(K - serial_smoother(model, lvl)[o][:, o]).max() == 0
        assert abs(P - lvl.P.tocsr()[o][:, oc]).max() == 0


def test_a_patch_one_cell_wide_is_too_narrow():
    """The width the rows need (PATCH_WIDTH's comment): 1 gives other coarse stencils, 2 the
    serial ones."""
    p = learnsolve.problems.diffusion(48, contrast=1e4, seed=2)
    H = grid_hierarchy(p.A, p.grid_shape)
    edges = [[0, 20, 48], [0, 11, 30, 48]]

    def worst(width):
        levels = distributed_levels(p.A, p.grid_shape, edges, width=width)
        return max(abs(A - H.levels[l].A.tocsr()[o][:, o]).max() / abs(A).max()
                   for l, (o, _, A, _, _) in enumerate(levels))

    assert worst(1) > 1e-3
    assert worst(2) <= 1e-13


def test_boxes_number_cells_as_petsc_does():
    B = Boxes.from_counts((5, 7), [np.array([3, 4]), np.array([2, 3])])  # x counts, then y
    assert B.procs == (2, 2) and B.counts.tolist() == [6, 8, 9, 12]
    # rank 1 (x process 1, y process 0) owns x 3..6, y 0..1, numbered from 6, x fastest
    assert B.box(1) == ((0, 2), (3, 7))
    g = B.index((np.array([0, 1, 2]), np.array([3, 3, 0])))
    assert g.tolist() == [6, 10, 14]
    cells = tuple(np.array(c) for c in np.unravel_index(np.arange(35), (5, 7)))
    back = B.coords(B.index(cells))
    assert all(np.array_equal(a, b) for a, b in zip(back, cells))
    assert sorted(B.index(cells).tolist()) == list(range(35))
    for r in range(B.size):  # neighbours: the index of the shifted cell, -1 outside
        for off in ((0, 1), (-1, 0), (1, -1)):
            c = B.cells(r)
            nb = tuple(a + d for a, d in zip(c, off))
            inside = (nb[0] >= 0) & (nb[0] < 5) & (nb[1] >= 0) & (nb[1] < 7)
            want = np.full(len(c[0]), -1)
            want[inside] = B.index(tuple(a[inside] for a in nb))
            np.testing.assert_array_equal(B.neighbours(r, off), want)
    C = B.coarse()
    assert C.shape == (2, 3) and [e.tolist() for e in C.edges] == [[0, 1, 2], [0, 1, 3]]
    assert C.coarse().counts.tolist() == [0, 0, 0, 1]  # empty boxes


def test_bad_splits_and_rows_are_clear_errors():
    with pytest.raises(ValueError, match=r"Boxes: `edges`"):
        Boxes((4, 4), [[0, 4], [0, 5]])
    B = Boxes((4, 4), [[0, 4], [0, 2, 4]])
    A = learnsolve.problems.poisson((4, 4)).A.tolil()
    A[0, 10] = A[10, 0] = -0.1  # cells (0, 0) and (2, 2) are not neighbours
    o = _order(B)
    Ab = A.tocsr()[o][:, o][:B.counts[0]]
    with pytest.raises(NotAGrid, match=r"not neighbours.*algebraic cycle"):
        stencil_rows(Ab.indptr, Ab.indices, Ab.data, B, 0)
    with pytest.raises(ValueError, match=r"rank 0 has 16 rows but its box holds 8"):
        stencil_rows(np.zeros(17, int), np.zeros(0, int), np.zeros(0), B, 0)


def test_check_rows_sees_asymmetry_and_the_diagonal():
    p = learnsolve.problems.diffusion(16, contrast=1e2, seed=0)
    B = Boxes(p.grid_shape, [[0, 9, 16], [0, 16]])
    o = _order(B)
    A = p.A.tocsr()[o][:, o]
    S = np.concatenate([_rank_stencils(A, B, r) for r in range(2)])
    patch, op = _patch_op(S, B, 1)
    asym, scale, low = check_rows(op, patch, B, 1)
    assert asym <= 1e-14 * scale and low > 0
    S[B.start[1] + 3, 1] *= 1.5  # one coupling of a rank-1 cell (offset (-1, 0)) changed
    patch, op = _patch_op(S, B, 1)
    assert check_rows(op, patch, B, 1)[0] == pytest.approx(abs(S[B.start[1] + 3, 1]) / 3)
    S[B.start[1] + 3, 4] = -1.0  # and its diagonal
    patch, op = _patch_op(S, B, 1)
    assert check_rows(op, patch, B, 1)[2] == -1.0


def test_rows_to_csr_is_scipys_csr():
    rng = np.random.default_rng(0)
    cols = np.sort(rng.permuted(np.tile(np.arange(50), (30, 1)), axis=1)[:, :6], axis=1)[:, ::-1].copy()
    vals = rng.standard_normal((30, 6))
    valid = rng.random((30, 6)) < 0.7
    indptr, indices, data = rows_to_csr(cols, vals, valid)
    r = np.repeat(np.arange(30), 6).reshape(30, 6)
    ref = sp.csr_array((vals[valid], (r[valid], cols[valid])), shape=(30, 50))
    ref.sort_indices()
    np.testing.assert_array_equal(indptr, ref.indptr)
    np.testing.assert_array_equal(indices, ref.indices)
    np.testing.assert_array_equal(data, ref.data)


def test_rows_to_csr_split_at_the_owned_columns_is_scipys_blocks():
    rng = np.random.default_rng(1)
    cols = rng.permuted(np.tile(np.arange(50), (30, 1)), axis=1)[:, :7].copy()
    vals = rng.standard_normal((30, 7))
    valid = rng.random((30, 7)) < 0.7
    (dp, dj, dv), (op, oj, ov) = rows_to_csr(cols, vals, valid, own=(20, 35), index_dtype=np.int32)
    r = np.repeat(np.arange(30), 7).reshape(30, 7)
    ref = sp.csr_array((vals[valid], (r[valid], cols[valid])), shape=(30, 50))
    ref.sort_indices()
    inside = ref[:, 20:35]
    outside = ref.copy()
    outside[:, 20:35] = 0.0
    outside.eliminate_zeros()
    for (ptr, ind, dat), want in (((dp, dj, dv), inside), ((op, oj, ov), outside)):
        want.sort_indices()
        assert ptr.dtype == ind.dtype == np.int32
        np.testing.assert_array_equal(ptr, want.indptr)
        np.testing.assert_array_equal(ind, want.indices)
        np.testing.assert_array_equal(dat, want.data)


def test_rows_to_csr_rejects_slots_of_different_shapes():
    cols = np.zeros((4, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="rows_to_csr"):
        rows_to_csr(cols, np.zeros((4, 2)), np.ones((4, 3), dtype=bool))
    with pytest.raises(ValueError, match="rows_to_csr"):
        rows_to_csr(cols.astype(float), np.zeros((4, 3)), np.ones((4, 3), dtype=bool))


def test_a_nine_point_matrix_read_with_star_offsets_first():
    """``likely`` (a star stencil's offsets) only orders the matching: entries left over send
    the rows through all 3^d offsets, so a 9-point matrix reads the same."""
    from learnsolve.multigrid import offsets

    p = learnsolve.problems.diffusion(20, variance=1.0, seed=4)
    A = (p.A @ p.A).tocsr()  # 13-point: not a 3×3 stencil
    B = Boxes(p.grid_shape, [[0, 20], [0, 9, 20]])
    H = grid_hierarchy(p.A, p.grid_shape)
    A9 = H.levels[1].A.tocsr()  # a Galerkin (9-point) matrix
    B9 = Boxes(H.levels[1].A.grid, [[0, 4, 10], [0, 10]])
    star = np.flatnonzero(np.abs(offsets(2)).sum(axis=1) <= 1)
    o = _order(B9)
    for r in range(B9.size):
        rows = A9[o][:, o][B9.start[r]:B9.start[r + 1]]
        got = stencil_rows(rows.indptr, rows.indices, rows.data, B9, r, likely=star)
        np.testing.assert_array_equal(got, stencil_rows(rows.indptr, rows.indices, rows.data, B9, r))
        assert np.count_nonzero(got[:, np.setdiff1d(np.arange(9), star)]) > 0
    rows = A.tocsr()[_order(B)][:, _order(B)][:B.counts[0]]
    with pytest.raises(NotAGrid, match="not neighbours"):
        stencil_rows(rows.indptr, rows.indices, rows.data, B, 0, likely=star)
