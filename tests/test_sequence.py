"""Sequences of systems: the set-up kept while it works, rebuilt when it does not, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve import Sequence, order_by_similarity


@pytest.fixture(scope="module")
def rough():
    return learnsolve.problems.diffusion(64, contrast=1e4, seed=2)


def test_one_matrix_many_right_hand_sides_keeps_one_set_up(rough):
    seq = Sequence("ic0", recycle=8, rtol=1e-8, warm_start=False)
    rng = np.random.default_rng(0)
    for _ in range(4):
        b = rng.standard_normal(rough.n)
        x, info = seq.solve(rough.A, b)
        assert info == 0 and learnsolve.relative_residual(rough.A, x, b) < 1e-8
    kinds = [r.setup for r in seq.records]
    assert kinds == ["full", "kept", "kept", "kept"] and seq.records[0].setup_s > 0
    assert all(r.setup_s == 0 for r in seq.records[1:])
    assert [r.recycled for r in seq.records] == [0, 8, 8, 8]
    assert sum(r.iterations for r in seq.records[1:]) < 3 * seq.records[0].iterations


def test_rebuilds_when_the_kept_set_up_stops_working_and_when_the_size_changes(rough):
    seq = Sequence("ic0", recycle=0, rtol=1e-8, rebuild_ratio=1.2, drift_max=None)
    seq.solve(rough.A, rough.b)
    other = learnsolve.problems.diffusion(64, contrast=1e4, seed=3)  # another field, same size
    x, info = seq.solve(other.A, other.b)  # the kept IC(0) would take 30,000+ iterations
    assert info == 0 and learnsolve.relative_residual(other.A, x, other.b) < 1e-8
    seq.solve(other.A, other.b[::-1].copy())  # after a failed keep, one system is not tried
    seq.solve(other.A, 2.0 * other.b)
    small = learnsolve.problems.poisson((16, 16))
    x, info = seq.solve(small.A, small.b)
    kinds = [(r.setup, r.reason.split(" (")[0]) for r in seq.records]
    assert kinds == [("full", "first system"), ("full", "kept set-up too slow"),
                     ("full", "the kept set-up failed lately"),
                     ("kept", "preconditioner still works"), ("full", "size changed")], kinds
    first = seq.records[0].iterations
    assert seq.records[1].iterations < 5 * first and seq.records[3].iterations < 1.2 * first
    assert info == 0


def test_a_matrix_that_moved_far_is_built_for_without_trying_the_kept_set_up(rough):
    other = learnsolve.problems.diffusion(64, contrast=1e4, seed=3)  # another field, same size
    drift = np.exp(0.05 * learnsolve.problems.gaussian_random_field(rough.grid_shape, seed=9))
    near = learnsolve.problems.assemble(  # the same field, each coefficient moved by about 5 %
        rough.grid_shape, *learnsolve.problems.face_coefficients(rough.coeff * drift)).tocsr()
    seq = Sequence("vcycle-2d", recycle=0, rtol=1e-8)
    for A, b in [(rough.A, rough.b), (other.A, other.b), (other.A, rough.b), (near, rough.b),
                 (rough.A, other.b)]:
        x, info = seq.solve(A, b)
        assert info == 0 and learnsolve.relative_residual(A, x, b) < 1e-8
    kinds = [(r.setup, r.reason.split(" (")[0]) for r in seq.records]
    far = "the matrix moved too far to keep the set-up"
    assert kinds == [("full", "first system"), ("full", far), ("kept", "preconditioner still works"),
                     ("full", far), ("kept", "preconditioner still works")], kinds
    spread = float(seq.records[1].reason.split("spread ")[1].split(" ")[0])
    ratio = other.A.diagonal() / rough.A.diagonal()
    assert spread == pytest.approx(ratio.max() / ratio.min(), rel=1e-2) and spread > 1e3
    # a moved matrix is never tried with the old set-up: the fresh solve's iterations only
    assert seq.records[1].iterations <= 2 * seq.records[0].iterations
    # off, the kept cycle is tried first and the same system costs more iterations
    off = Sequence("vcycle-2d", recycle=0, rtol=1e-8, drift_max=None)
    off.solve(rough.A, rough.b)
    x, info = off.solve(other.A, other.b)
    assert info == 0 and off.records[1].reason.startswith("kept set-up too slow")
    assert off.records[1].iterations > seq.records[1].iterations
    with pytest.raises(ValueError, match="drift_max"):
        Sequence("ic0", drift_max=1.0)


def test_bad_input_mid_sequence_never_returns_a_wrong_x_and_the_sequence_goes_on(rough):
    seq = Sequence("ic0", recycle=6, rtol=1e-8)
    seq.solve(rough.A, rough.b)
    bad = rough.b.copy()
    bad[5] = np.inf
    with pytest.raises(ValueError, match="`b` contains NaN or Inf"):
        seq.solve(rough.A, bad)
    assert len(seq.records) == 1  # nothing recorded, nothing changed
    # a negative diagonal: the preconditioner refuses the matrix, naming itself
    negative = (rough.A - sp.diags_array(np.full(rough.n, 2.0 * rough.A.diagonal().max()))).tocsr()
    with pytest.raises(ValueError, match="precond.ic0: `A` must have a positive diagonal"):
        seq.solve(negative, rough.b)
    # indefinite with a positive diagonal: the solve fails, is retried with a warning, and
    # reports it (info != 0), never a wrong x with info == 0
    indefinite = (rough.A - sp.diags_array(0.5 * rough.A.diagonal())).tocsr()
    with pytest.warns(RuntimeWarning, match="did not converge with a new set-up"):
        x, info = seq.solve(indefinite, rough.b)
    assert info != 0 and seq.records[-1].reason.startswith("retry after info=")
    x, info = seq.solve(rough.A, rough.b[::-1].copy())
    assert info == 0 and learnsolve.relative_residual(rough.A, x, rough.b[::-1]) < 1e-8
    with pytest.raises(ValueError, match="`rebuild_ratio` must be >= 1"):
        Sequence("ic0", rebuild_ratio=0.5)
    with pytest.raises(TypeError, match="`method` must be a preconditioner name"):
        Sequence(learnsolve.precond.ic0)


def test_grid_cycle_sequence_with_torch_tensors_solves_without_recycling():
    torch = pytest.importorskip("torch")
    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(32, variance=1.0, seed=1)
    A = to_device(p.A, "torch")
    seq = Sequence("vcycle-2d", recycle=4, rtol=1e-8)
    for k in range(2):
        b = torch.as_tensor(np.roll(p.b, k))
        x, info = seq.solve(A, b)
        assert info == 0
        assert learnsolve.relative_residual(p.A, x.numpy(), np.roll(p.b, k)) < 1e-8
    assert [r.recycled for r in seq.records] == [0, 0] and seq.records[1].setup == "kept"


def test_order_by_similarity_visits_clusters_together():
    rng = np.random.default_rng(3)
    centres = np.array([0.0, 10.0, 20.0])
    labels = rng.permutation(np.repeat([0, 1, 2], 5))
    F = centres[labels][:, None] + rng.normal(0, 0.1, (15, 1))
    order = order_by_similarity(F, start=0)
    assert sorted(order.tolist()) == list(range(15)) and order[0] == 0
    runs = 1 + int(np.count_nonzero(np.diff(labels[order])))
    assert runs == 3  # each cluster visited in one stretch
    with pytest.raises(ValueError, match="`features` must be a finite"):
        order_by_similarity(np.array([[0.0], [np.nan]]))


def test_projected_starts_cut_the_iterations_of_a_time_sequence_and_keep_one_set_up():
    n = 64
    g = learnsolve.problems.gaussian_random_field((n, n), variance=2.0, seed=0)
    h = learnsolve.problems.gaussian_random_field((n, n), variance=1.0, seed=1)
    shift = (1.0 / n) ** 2 / 1e-3
    systems = []
    for t in range(16):
        k = np.exp(g + 0.005 * t * h)
        A = learnsolve.problems.assemble((n, n), *learnsolve.problems.face_coefficients(k))
        systems.append((A + sp.diags_array(np.full(n * n, shift))).tocsr())
    runs = {}
    for history in (0, 4):
        seq = Sequence("vcycle-2d", recycle=0, rtol=1e-6, history=history)
        u = np.zeros(n * n)
        for A in systems:
            b = shift * u + 1.0 / n ** 2
            u, info = seq.solve(A, b)
            assert info == 0 and learnsolve.relative_residual(A, u, b) < 1e-6
        runs[history] = seq.records
    its = {k: sum(r.iterations for r in recs) for k, recs in runs.items()}
    assert its[4] < 0.6 * its[0], its
    assert [r.guessed for r in runs[4][:6]] == [0, 1, 2, 3, 4, 4]
    assert sum(r.setup == "full" for r in runs[4]) <= 2  # short solves do not read as slow ones


def test_a_block_of_right_hand_sides_is_solved_together_with_the_kept_set_up():
    p = learnsolve.problems.fem_diffusion(48, contrast=1e4, seed=5)
    rng = np.random.default_rng(0)
    seq = Sequence("amg-learned", rtol=1e-8)
    x, info = seq.solve(p.A, p.b)
    B = rng.standard_normal((p.n, 6))
    X, info2 = seq.solve(p.A, B)
    assert info == info2 == 0 and X.shape == (p.n, 6)
    assert max(learnsolve.relative_residual(p.A, X[:, j], B[:, j]) for j in range(6)) < 1e-8
    r = seq.records[-1]
    assert r.setup == "kept" and r.guessed == 0 and r.recycled == 0
    single = []
    for j in range(6):
        res = []
        learnsolve.krylov.cg(p.A, B[:, j], rtol=1e-8, M=seq.M, residuals=res)
        single.append(len(res) - 1)
    assert r.iterations == sum(single)  # every column's iterations counted
    x3, info3 = seq.solve(p.A, 2.0 * p.b)  # a vector again: warm start from the last vector
    assert info3 == 0 and seq.records[-1].guessed >= 1 and seq.records[-1].iterations <= 1
    bad = B.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="`B` contains NaN"):
        seq.solve(p.A, bad)
    assert len(seq.records) == 3


def test_projected_starts_on_torch_tensors_save_iterations():
    torch = pytest.importorskip("torch")
    from learnsolve.ops import to_device

    n = 48
    g = learnsolve.problems.gaussian_random_field((n, n), variance=2.0, seed=0)
    h = learnsolve.problems.gaussian_random_field((n, n), variance=1.0, seed=1)
    shift = (1.0 / n) ** 2 / 1e-3
    its = {}
    for history in (0, 4):
        seq = Sequence("vcycle-2d", recycle=0, rtol=1e-6, history=history)
        u = torch.zeros(n * n, dtype=torch.float64)
        for t in range(10):
            k = np.exp(g + 0.005 * t * h)
            A = (learnsolve.problems.assemble((n, n), *learnsolve.problems.face_coefficients(k))
                 + sp.diags_array(np.full(n * n, shift))).tocsr()
            b = shift * u + 1.0 / n ** 2
            u, info = seq.solve(to_device(A, "torch"), b)
            assert info == 0 and isinstance(u, torch.Tensor)
            assert learnsolve.relative_residual(A, u.numpy(), b.numpy()) < 1e-6
        its[history] = sum(r.iterations for r in seq.records)
        assert max(r.guessed for r in seq.records) == (4 if history else 0)
    assert its[4] < 0.7 * its[0], its


def test_a_refresh_replaces_the_rebuilds_of_an_algebraic_cycle():
    """A growing reaction term slows the kept cycle; the sequence redoes the numeric part
    (``setup == "refresh"``) where it rebuilt before, with the same iterations, and rebuilds
    when a refresh does not bring the speed back."""
    p = learnsolve.problems.fem_diffusion(64, contrast=1e4, seed=5)
    D = sp.diags_array(p.A.diagonal())
    runs = {}
    for refresh in (True, False):
        seq = Sequence("amg-chebyshev", rtol=1e-8, refresh=refresh)
        for t in range(12):
            A = (p.A + (0.004 * t) * D).tocsr()
            x, info = seq.solve(A, p.b)
            assert info == 0 and learnsolve.relative_residual(A, x, p.b) < 1e-8
        runs[refresh] = seq.records
    kinds = {k: [r.setup for r in recs] for k, recs in runs.items()}
    assert kinds[True].count("refresh") >= 1 and kinds[True].count("full") == 1, kinds[True]
    assert "refresh" not in kinds[False] and kinds[False].count("full") >= 2
    its = {k: sum(r.iterations for r in recs) for k, recs in runs.items()}
    assert its[True] <= its[False] + 5, its
    assert all(r.reason.endswith("numeric refresh") for r in runs[True] if r.setup == "refresh")
    # a refresh that leaves the cycle slow is not tried again: the next slow-down rebuilds
    seq = Sequence("amg-chebyshev", rtol=1e-8)
    seq.solve(p.A, p.b)
    seq._stale = True
    seq.solve((p.A + 0.2 * D).tocsr(), p.b)  # far off: the kept cycle is too slow
    assert [r.setup for r in seq.records] == ["full", "full"] and not seq._stale


def test_a_torch_block_of_right_hand_sides_goes_through_the_sequence():
    torch = pytest.importorskip("torch")
    from learnsolve.ops import to_device

    p = learnsolve.problems.diffusion(32, variance=1.0, seed=2)
    A = to_device(p.A, "torch")
    B = torch.from_numpy(np.random.default_rng(1).standard_normal((p.n, 4)))
    seq = Sequence("vcycle-2d", rtol=1e-8)
    seq.solve(A, B[:, 0])
    X, info = seq.solve(A, B)
    assert info == 0 and isinstance(X, torch.Tensor) and tuple(X.shape) == (p.n, 4)
    res = np.linalg.norm(B.numpy() - p.A @ X.numpy(), axis=0) / np.linalg.norm(B.numpy(), axis=0)
    assert res.max() < 1e-8 and seq.records[-1].setup == "kept"
