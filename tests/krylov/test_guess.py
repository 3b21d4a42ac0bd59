"""Start vectors from earlier solutions (Fischer's projection): exact on their span, optimal in
the A-norm, the oldest dropped, bad input named."""

import numpy as np
import pytest
import scipy.sparse as sp

import learnsolve
from learnsolve.krylov import SolutionSpace


@pytest.fixture(scope="module")
def field():
    return learnsolve.problems.diffusion(32, variance=1.0, seed=4)


def _solve(A, b):
    return sp.linalg.spsolve(A.tocsc(), b)


def test_a_combination_of_earlier_right_hand_sides_is_solved_by_the_guess(field):
    rng = np.random.default_rng(0)
    B = rng.standard_normal((3, field.n))
    space = SolutionSpace(3)
    assert space.guess(field.A, B[0]) is None  # empty: no guess
    for b in B:
        space.add(_solve(field.A, b))
    b = 2.0 * B[0] - 0.5 * B[1] + B[2]
    x0 = space.guess(field.A, b)
    assert np.linalg.norm(b - field.A @ x0) < 1e-10 * np.linalg.norm(b)
    assert space.size == 3 and np.allclose(np.linalg.norm(space.X, axis=1), 1.0)


def test_the_guess_is_the_best_in_the_span_in_the_A_norm_for_a_changed_matrix(field):
    rng = np.random.default_rng(1)
    space = SolutionSpace(4)
    xs = [_solve(field.A, rng.standard_normal(field.n)) for _ in range(4)]
    for x in xs:
        space.add(x)
    A2 = (field.A + sp.diags_array(0.3 * field.A.diagonal())).tocsr()  # the matrix changed
    b = rng.standard_normal(field.n)
    x_true = _solve(A2, b)
    x0 = space.guess(A2, b)

    def err(v):
        e = x_true - v
        return float(np.sqrt(e @ (A2 @ e)))

    assert err(x0) <= err(np.zeros(field.n)) + 1e-12
    assert all(err(x0) <= err(c * x) + 1e-12 for x in xs for c in (0.5, 1.0, 2.0))
    # Galerkin: the residual is orthogonal to the span
    assert np.abs(np.stack(xs) @ (b - A2 @ x0)).max() < 1e-9 * np.linalg.norm(b)


def test_the_oldest_solution_is_dropped_and_sizes_are_checked(field):
    rng = np.random.default_rng(2)
    B = rng.standard_normal((3, field.n))
    space = SolutionSpace(2)
    for b in B:
        space.add(_solve(field.A, b))
    assert space.size == 2

    def relres(b):
        return np.linalg.norm(b - field.A @ space.guess(field.A, b)) / np.linalg.norm(b)

    assert relres(B[0]) > 0.1 and relres(B[1]) < 1e-10 and relres(B[2]) < 1e-10
    with pytest.raises(ValueError, match=r"call \.clear\(\) before a system of another size"):
        space.guess(sp.eye_array(5, format="csr"), np.ones(5))
    with pytest.raises(ValueError, match="`x` contains NaN"):
        space.add(np.full(field.n, np.nan))
    with pytest.raises(ValueError, match="`k` must be a non-negative integer"):
        SolutionSpace(-1)
    space.clear()
    assert space.size == 0 and space.guess(sp.eye_array(5, format="csr"), np.ones(5)) is None
    assert SolutionSpace(0).guess(field.A, B[0]) is None


def test_projected_starts_save_iterations_on_a_drifting_time_sequence():
    n = 64
    g = learnsolve.problems.gaussian_random_field((n, n), variance=1.0, seed=0)
    h = learnsolve.problems.gaussian_random_field((n, n), variance=1.0, seed=1)
    its = {}
    for k in (0, 4):
        space, u, total = SolutionSpace(k), np.zeros(n * n), 0
        for t in range(20):
            c = np.exp(g + 0.005 * t * h)
            A = learnsolve.problems.assemble((n, n), *learnsolve.problems.face_coefficients(c))
            A = (A + sp.diags_array(np.full(n * n, 0.25))).tocsr()  # implicit Euler's shift
            b = 0.25 * u + 1.0 / n ** 2
            x0 = space.guess(A, b) if k else (u if t else None)
            res = []
            u, info = learnsolve.krylov.cg(A, b, x0, rtol=1e-6, M=learnsolve.precond.build("amg-sa", A),
                                          residuals=res)
            assert info == 0 and learnsolve.relative_residual(A, u, b) < 1e-6
            space.add(u)
            total += len(res) - 1
        its[k] = total
    assert its[4] < 0.6 * its[0], its


def test_torch_vectors_keep_the_space_on_their_device_and_give_the_numpy_guess(field):
    torch = pytest.importorskip("torch")
    from learnsolve.ops import to_device

    rng = np.random.default_rng(3)
    xs = [_solve(field.A, rng.standard_normal(field.n)) for _ in range(3)]
    host, dev = SolutionSpace(3), SolutionSpace(3)
    for x in xs:
        host.add(x)
        dev.add(torch.from_numpy(x))
    assert isinstance(dev.X, torch.Tensor) and dev.X.dtype == torch.float64
    A2 = (field.A + sp.diags_array(0.2 * field.A.diagonal())).tocsr()
    b = rng.standard_normal(field.n)
    want = host.guess(A2, b)
    got = dev.guess(to_device(A2, "torch"), torch.from_numpy(b))
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    assert dev.guess(A2, b) is None  # a NumPy right-hand side for a torch space: no guess
    dev.add(xs[0])  # a vector of another library starts the space afresh
    assert dev.size == 1 and isinstance(dev.X, np.ndarray)
