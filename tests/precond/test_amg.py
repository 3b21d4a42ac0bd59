"""The algebraic V-cycle: local-Chebyshev and learned smoothers, fallbacks, devices, ``auto``."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve import problems
from learnsolve.multigrid import aggregation_hierarchy
from learnsolve.nn import AMGSmootherNet
from learnsolve.precond import NET_MIN_ROWS, amg_chebyshev, auto, chebyshev_smoother, learned_smoother
from learnsolve.precond._amg_smoother import coefficients, network_parameters, smoother_inputs

from ..helpers import iterations

FAMILIES = {
    "fem-2d": lambda: problems.fem_diffusion(80, contrast=1e5, seed=1, rhs="random"),
    "fem-3d": lambda: problems.fem_diffusion(14, dim=3, contrast=1e4, seed=2, rhs="random"),
    "graph": lambda: problems.graph_laplacian(8000, seed=3),
    "poisson-3d": lambda: problems.poisson((20, 20, 20)),
}


@pytest.fixture(scope="module")
def learned():
    return learnsolve.pretrained("amg-learned")


def random_net(seed=0, scale=0.3):
    torch.manual_seed(seed)
    net = AMGSmootherNet().double()
    for prm in net.parameters():
        torch.nn.init.normal_(prm, std=scale)
    return net


def test_kernels_equal_the_torch_network():
    """Numba's features, message passing and MLP against AMGSmootherNet, and the assembled K
    against the action training uses (K = S (g I + ½(T diag(h) + diag(h) T)) S)."""
    A = problems.fem_diffusion(24, dim=3, contrast=1e3, seed=4).A
    net = random_net()
    x, edges, w, T = smoother_inputs(A)
    g_t, h_t = net.coefficients(torch.as_tensor(x), torch.as_tensor(edges), torch.as_tensor(w))
    g, h = coefficients(A, network_parameters(net))
    assert np.allclose(g, g_t.detach().numpy(), rtol=1e-12)
    assert np.allclose(h, h_t.detach().numpy(), rtol=1e-12)
    K = learned_smoother(A, network_parameters(net))
    s = 1 / np.sqrt(A.diagonal())
    y = np.random.default_rng(0).standard_normal(A.shape[0])
    reference = s * (g * (s * y) + 0.5 * (T @ (h * (s * y)) + h * (T @ (s * y))))
    assert np.allclose(K @ y, reference, rtol=1e-12, atol=1e-14)
    assert abs(K - K.T).max() <= 1e-14 * abs(K).max()


def test_zero_network_is_the_local_chebyshev_smoother():
    A = problems.fem_diffusion(20, contrast=1e2).A
    K0 = learned_smoother(A, network_parameters(AMGSmootherNet().double()))
    assert abs(K0 - chebyshev_smoother(A)).max() <= 1e-15 * abs(K0).max()
    # the smoother alone converges in the A-norm: the eigenvalues of K A lie in (0, 2)
    lam = np.linalg.eigvals((chebyshev_smoother(A) @ A).toarray()).real
    assert 0 < lam.min() and lam.max() < 2


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cycles_converge_in_few_iterations(family, learned):
    p = FAMILIES[family]()
    bound = {"fem-2d": 16, "fem-3d": 20, "graph": 20, "poisson-3d": 10}[family]
    n_cheb = iterations(p.A, p.b, amg_chebyshev(p.A), rtol=1e-8)[0]
    n_learned = iterations(p.A, p.b, learned.aspreconditioner(p.A), rtol=1e-8)[0]
    assert n_cheb <= bound and n_learned <= n_cheb + 1


def test_learned_smoother_beats_chebyshev_on_3d_meshes(learned):
    """The trained network's gain on unseen 3D meshes (contrast 1e5): at least one iteration."""
    p = problems.fem_diffusion(20, dim=3, contrast=1e5, seed=11, rhs="random")
    n_cheb = iterations(p.A, p.b, amg_chebyshev(p.A))[0]
    M = learned.aspreconditioner(p.A, min_rows=0)
    assert M.info["network_levels"] == M.info["levels"] - 1
    n_learned = iterations(p.A, p.b, M)[0]
    assert n_learned < n_cheb


def test_small_levels_keep_the_chebyshev_smoother(learned):
    """Below ``NET_MIN_ROWS`` rows the learned cycle is the Chebyshev cycle, bit for bit."""
    p = problems.fem_diffusion(20, dim=3, contrast=1e5, seed=11, rhs="random")
    M = learned.aspreconditioner(p.A)
    assert p.A.shape[0] < NET_MIN_ROWS and M.info["network_levels"] == 0
    assert np.array_equal(M.matvec(p.b), amg_chebyshev(p.A).matvec(p.b))


def test_cycle_is_symmetric_and_equals_the_scipy_reference(learned):
    p = FAMILIES["fem-2d"]()
    M = learned.aspreconditioner(p.A)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, p.A.shape[0]))
    assert abs(y @ M.matvec(x) - x @ M.matvec(y)) <= 1e-12 * abs(x @ M.matvec(x))
    H = aggregation_hierarchy(p.A)
    K = [learned.smoother(lvl.A, NET_MIN_ROWS) for lvl in H.levels[:-1]]
    assert np.allclose(M.matvec(x), H.with_stencils(K, K).apply(x), rtol=1e-12, atol=1e-14)


def test_classical_coarsening_for_anisotropy(learned):
    p = problems.anisotropic(96, eps=1e-3, theta=np.pi / 6)
    n_sa = iterations(p.A, p.b, learned.aspreconditioner(p.A))[0]
    M = learnsolve.precond.build("amg-learned:rs", p.A)
    n_rs = iterations(p.A, p.b, M)[0]
    assert M.info["coarsening"] == "rs" and M.name == "amg-learned:rs"
    assert n_rs < 0.7 * n_sa


def test_unusable_smoother_falls_back_with_a_warning():
    """A network whose smoother overshoots (diagonal scaled by e²) fails the contraction check:
    the cycle warns, takes the local-Chebyshev smoother on the same levels and converges."""
    net = AMGSmootherNet().double()
    with torch.no_grad():
        net.out.bias[:] = torch.tensor([20.0, -20.0])
    bad = learnsolve.precond.LearnedAMG("bad", net, {})
    p = FAMILIES["fem-2d"]()
    with pytest.warns(RuntimeWarning, match="local-Chebyshev"):
        M = bad.aspreconditioner(p.A, min_rows=0)
    assert "fallback" in M.info and M.name == "amg-chebyshev"
    assert iterations(p.A, p.b, M)[0] <= 16


def test_indefinite_matrix_never_returns_a_wrong_solution(learned):
    p = FAMILIES["fem-2d"]()
    A = sp.csr_array(p.A - 0.5 * sp.diags_array(p.A.diagonal()))  # indefinite, positive diagonal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        M = learned.aspreconditioner(A)
        x, info = learnsolve.krylov.cg(A, p.b, M=M, maxiter=200)
    assert "fallback" in M.info
    assert info != 0 or np.linalg.norm(p.b - A @ x) <= 1e-5 * np.linalg.norm(p.b)


def test_pure_neumann_matrix_warns_and_never_reports_convergence(learned):
    """Singular ``A`` (rows summing to zero): a warning at set-up; neither our CG nor SciPy's
    reports convergence for a right-hand side with a null-space component."""
    import scipy.sparse.linalg as spla

    A0 = sp.csr_array(problems.fem_diffusion(60, contrast=1e3, seed=1).A)
    W = sp.csr_array(abs(A0 - sp.diags_array(A0.diagonal())))
    A = sp.csr_array(sp.diags_array(np.asarray(W.sum(axis=1)).ravel()) - W)  # A 1 = 0
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    for build in (lambda: learned.aspreconditioner(A, min_rows=0), lambda: amg_chebyshev(A)):
        with pytest.warns(RuntimeWarning, match="rows of `A` sum to zero, so `A` is singular"):
            M = build()
        for solve in (learnsolve.krylov.cg, spla.cg):
            x, info = solve(A, b, M=M, maxiter=200)
            assert info != 0 and np.linalg.norm(b - A @ x) > 1e-3 * np.linalg.norm(b)


def test_bad_input_names_the_function(learned):
    A = problems.fem_diffusion(20).A.tolil()
    A[3, :] = 0
    A[:, 3] = 0
    with pytest.raises(ValueError, match="aspreconditioner.*diagonal"):
        learned.aspreconditioner(sp.csr_array(A))
    with pytest.raises(ValueError, match="amg_chebyshev.*coarsening"):
        amg_chebyshev(problems.poisson((8, 8)).A, coarsening="pmis")
    with pytest.raises(ValueError, match="symmetric"):
        amg_chebyshev(sp.csr_array(sp.random_array((30, 30), density=0.2, random_state=0)
                                   + 5 * sp.eye_array(30)))


def test_small_matrix_is_solved_directly(learned):
    p = problems.fem_diffusion(12, contrast=1e3)
    M = learned.aspreconditioner(p.A)
    assert M.info["levels"] == 1
    assert iterations(p.A, p.b, M, rtol=1e-10)[0] <= 1


def test_torch_tensors_take_the_same_iterations(learned):
    from learnsolve.ops import to_device

    p = FAMILIES["fem-2d"]()
    host = iterations(p.A, p.b, learned.aspreconditioner(p.A), rtol=1e-8)[0]
    T = to_device(p.A, "torch")
    M = learned.aspreconditioner(T)
    assert M.info["backend"] == "torch"
    dev = iterations(T, torch.from_numpy(p.b), M, rtol=1e-8)[0]
    assert abs(dev - host) <= 1


def test_auto_picks_by_the_matrix_form():
    grid = problems.diffusion(48, contrast=1e4, seed=1)
    mesh = FAMILIES["fem-2d"]()
    Mg, Mm = auto(grid.A), auto(mesh.A)
    assert Mg.name == "vcycle-2d" and "grid" in Mg.info["auto"]
    assert Mm.name == "amg-learned" and "not a grid" in Mm.info["auto"]
    assert iterations(mesh.A, mesh.b, Mm)[0] <= 16
    with pytest.raises(learnsolve.multigrid.NotAGrid):
        auto(mesh.A, shape=(10, 10))


def test_smoother_values_on_a_ranks_rows_equal_the_whole_smoother(learned):
    """The rows of each of three 'ranks' (local numbering, ghosts appended by an exchange that
    hands over the owners' values) give the serial smoother's entries, network and Chebyshev."""
    from learnsolve.precond import smoother_values
    from learnsolve.precond._amg_smoother import NODE_INPUTS, row_features

    A = problems.fem_diffusion(40, contrast=1e4, seed=3).A.tocsr()
    A.sort_indices()
    n = A.shape[0]
    for parameters in (learned.parameters, None):
        K = learned_smoother(A, parameters)
        x_all = row_features(A)
        _, h_all = coefficients(A, parameters)
        for r0, r1 in ((0, n // 3), (n // 3, n // 2), (n // 2, n)):
            rows = A[r0:r1]
            own = (rows.indices >= r0) & (rows.indices < r1)
            ghost = np.unique(rows.indices[~own])
            local = np.where(own, rows.indices - r0, (r1 - r0) + np.searchsorted(ghost, rows.indices))
            full = {NODE_INPUTS: x_all, 1: h_all[:, None]}

            def exchange(v, full=full, r0=r0, r1=r1, ghost=ghost):
                np.testing.assert_allclose(v, full[v.shape[1]][r0:r1], rtol=1e-12)  # owners agree
                return np.concatenate([v, full[v.shape[1]][ghost]])

            s = 1 / np.sqrt(A.diagonal())
            values = smoother_values(rows.indptr.astype(np.int64), local.astype(np.int64), rows.data,
                                     np.concatenate([s[r0:r1], s[ghost]]), parameters, exchange)
            np.testing.assert_allclose(values, K[r0:r1].data, rtol=1e-12)



@pytest.mark.parametrize("coarsening", ["sa", "rs"])
def test_refresh_keeps_the_transfers_and_redoes_the_numbers(learned, coarsening):
    """``refresh(A_new)``: the same ``P_l``, new Galerkin levels and smoothers — the cycle a
    hierarchy with those transfers gives for ``A_new``, and back to the fresh iteration count
    where the kept cycle needs several times more."""
    from learnsolve.ops import galerkin

    p = problems.fem_diffusion(64, contrast=1e4, seed=5)
    A2 = (1.3 * p.A + sp.diags_array(0.01 * p.A.diagonal())).tocsr()
    M = learned.aspreconditioner(p.A, coarsening=coarsening, min_rows=0)
    R = M.refresh(A2)
    assert R.info["setup"] == "refresh" and R.name == M.name
    H, H2 = M.hierarchy, R.hierarchy
    assert len(H2) == len(H) and all(a.P is b.P for a, b in zip(H.levels[:-1], H2.levels[:-1]))
    A1 = galerkin(A2, H.levels[0].P, H.levels[0].R)
    assert abs(H2.levels[1].A - A1).max() <= 1e-12 * abs(A1).max()
    np.testing.assert_allclose(
        R.refresh(p.A) @ p.b, M @ p.b, rtol=1e-10, atol=1e-14 * np.abs(M @ p.b).max())  # back again
    kept, refreshed = iterations(A2, p.b, M)[0], iterations(A2, p.b, R)[0]
    fresh = iterations(A2, p.b, learned.aspreconditioner(A2, coarsening=coarsening, min_rows=0))[0]
    assert refreshed <= fresh + 2 and kept >= 2 * refreshed, (kept, refreshed, fresh)
    with pytest.raises(ValueError, match=r"\(refresh\): `A` is 9×9 but the cycle was built for"):
        M.refresh(problems.poisson((3, 3)).A)
    with pytest.raises(ValueError, match=r"\(refresh\): `A` must be symmetric"):
        M.refresh(sp.triu(p.A, format="csr"))


def test_refresh_that_fails_the_check_returns_none(monkeypatch):
    from learnsolve.precond import _amg_cycle

    p = problems.fem_diffusion(32, contrast=1e2, seed=1)
    M = amg_chebyshev(p.A)
    monkeypatch.setattr(_amg_cycle, "_rho", lambda A, H: 2.0)
    assert M.refresh(p.A) is None
