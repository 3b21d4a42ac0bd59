"""GNN factor model and training losses: exact values and gradients against dense math."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve.nn import FactorGNN
from learnsolve.precond import factor_inputs, predict_factor
from learnsolve.train import KaporinFSAI, coo_matmul, hutchinson, llt_matmul, low_frequency


def _triplets(M, dtype=torch.float64):
    C = sp.coo_array(M)
    return (torch.as_tensor(C.row.astype(np.int64)), torch.as_tensor(C.col.astype(np.int64)),
            torch.as_tensor(C.data, dtype=dtype))


def test_sparse_products_match_dense():
    A = learnsolve.problems.diffusion(7, variance=1.0, seed=0).A
    L = learnsolve.ops.ichol0(A)
    z = torch.randn(A.shape[0], 3, dtype=torch.float64)
    n = A.shape[0]
    np.testing.assert_allclose(coo_matmul(*_triplets(A), z, n).numpy(), A @ z.numpy(), rtol=1e-12)
    np.testing.assert_allclose(llt_matmul(*_triplets(L), z, n).numpy(), L @ (L.T @ z.numpy()),
                               rtol=1e-12)


def test_loss_gradients_match_dense_autograd():
    A = learnsolve.problems.poisson((5, 5)).A
    L = learnsolve.ops.ichol0(A)
    rows, cols, vals = _triplets(L)
    vals = vals.clone().requires_grad_(True)
    z = torch.randn(A.shape[0], 4, dtype=torch.float64)
    loss = hutchinson((rows, cols, vals), _triplets(A), z)
    loss.backward()
    Ld = torch.zeros(A.shape, dtype=torch.float64)
    vd = vals.detach().clone().requires_grad_(True)
    Ld = Ld.index_put((rows, cols), vd)
    Ad = torch.as_tensor(A.toarray())
    dense = (((Ld @ Ld.T - Ad) @ z) ** 2).sum() / ((Ad @ z) ** 2).sum()
    dense.backward()
    assert torch.allclose(loss, dense) and torch.allclose(vals.grad, vd.grad)
    x = torch.randn(A.shape[0], 2, dtype=torch.float64)
    b = Ad @ x
    assert float(low_frequency((rows, cols, vals.detach()), x, b)) >= 0


def test_kaporin_fsai_matches_dense_and_is_minimal_at_inverse_cholesky():
    A = learnsolve.problems.diffusion(5, variance=1.0, seed=2).A
    P = sp.csr_array(sp.tril(A))
    P.sort_indices()
    g = torch.randn(P.nnz, dtype=torch.float64) * 0.1
    g[torch.as_tensor(P.indptr[1:] - 1)] = 1.0 + torch.rand(A.shape[0], dtype=torch.float64)
    K = KaporinFSAI(P, A)
    G = sp.csr_array((g.numpy(), P.indices, P.indptr), shape=A.shape).toarray()
    M = G @ A.toarray() @ G.T
    n = A.shape[0]
    logdetA = np.linalg.slogdet(A.toarray())[1]
    expected = np.log(np.trace(M) / n) - np.linalg.slogdet(M)[1] / n
    assert np.isclose(float(K(g)) - logdetA / n, expected, rtol=1e-10)
    assert float(K(g)) - logdetA / n >= 0  # Kaporin number >= 1


def test_factor_gnn_kinds_are_spd_factors_and_scale_invariant():
    A = learnsolve.problems.diffusion(12, contrast=1e3, seed=1).A
    torch.manual_seed(0)
    for kind in ("ic", "correct", "fsai"):
        model = FactorGNN(kind)
        for p in model.parameters():  # leave the zero-initialized start
            torch.nn.init.normal_(p, std=0.05)
        F = predict_factor(model, A)
        assert sp.triu(F, 1).nnz == 0 and np.all(F.diagonal() > 0)
        lower = sp.csr_array(sp.tril(A))
        assert set(zip(*F.nonzero())) <= set(zip(*lower.nonzero()))
        F2 = predict_factor(model, A * 1e4)  # scale invariance: factor scales by 1e2 (or 1e-2 for FSAI)
        s = 1e-2 if kind == "fsai" else 1e2
        np.testing.assert_allclose(F2.toarray(), s * F.toarray(), rtol=1e-4, atol=1e-8)


def test_gnn_ic_preconditioner_works_in_scipy_cg():
    p = learnsolve.problems.diffusion(24, variance=1.0, seed=0)
    L = predict_factor(FactorGNN("ic"), p.A)  # untrained: I + tril(Ã) start, a valid SPD factor
    P = learnsolve.precond.factored(L, name="gnn-ic")
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=P)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8


def test_unknown_kind():
    with pytest.raises(ValueError, match="FactorGNN: unknown `kind`"):
        FactorGNN("ilu")


def test_factor_gnn_block_split_forward_equals_the_concatenated_reference():
    """FactorConv/FactorGNN split their first linear layers by blocks (gather after the
    product); the map must be the plain concat-then-MLP one."""

    p = learnsolve.problems.diffusion(24, contrast=1e3, seed=1)
    torch.manual_seed(0)
    m = FactorGNN("correct", channels=8, layers=2)
    with torch.no_grad():
        m.alpha.fill_(0.7)
    T, _ = factor_inputs(m, p.A)

    def reference(x, edge_index, edge_attr, lower, reverse, base_offdiag, base_diag):
        h, e = m.node_enc(x), m.edge_enc(edge_attr)
        src, dst = edge_index
        for conv in m.convs:
            e = e + conv.edge_mlp(torch.cat([h[src], h[dst], e], dim=-1))
            h = h + conv.node_mlp(torch.cat([h, torch.zeros_like(h).index_add_(0, dst, e)], dim=-1))
        f = m.edge_head(torch.cat([e[lower], e[reverse[lower]]], dim=-1)).squeeze(-1)
        return base_offdiag + m.alpha * f, base_diag * torch.exp(m.alpha * m.node_head(h).squeeze(-1))

    with torch.no_grad():
        for got, want in zip(m(**T), reference(**T)):
            assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_unrolled_pcg_error_matches_the_krylov_projection_and_its_gradient():
    from learnsolve.train.losses import fsai_pcg_error

    A = learnsolve.problems.diffusion(6, contrast=1e2, seed=3).A
    G = learnsolve.ops.fsai_factor(A, "A")
    rows, cols, g = _triplets(G)
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((A.shape[0], 2)))
    k = 4
    Ad, Gd = A.toarray(), G.toarray()
    Minv = Gd.T @ Gd
    expected = []
    for xs in x.numpy().T:  # x_k = argmin over the Krylov space of ‖x − x*‖_A (Galerkin)
        b = Ad @ xs
        V = [Minv @ b]
        for _ in range(k - 1):
            V.append(Minv @ (Ad @ V[-1]))
        V = np.linalg.qr(np.array(V).T)[0]
        xk = V @ np.linalg.solve(V.T @ Ad @ V, V.T @ b)
        e = xs - xk
        expected.append(np.log((e @ Ad @ e) / (xs @ Ad @ xs)))
    g = g.clone().requires_grad_(True)
    loss = fsai_pcg_error((rows, cols, g), _triplets(A), x, k)
    assert np.isclose(float(loss.detach()), np.mean(expected), rtol=1e-8)
    loss.backward()
    v = torch.as_tensor(np.random.default_rng(1).standard_normal(g.shape))
    h = 1e-6
    fd = (fsai_pcg_error((rows, cols, g.detach() + h * v), _triplets(A), x, k)
          - fsai_pcg_error((rows, cols, g.detach() - h * v), _triplets(A), x, k)) / (2 * h)
    assert np.isclose(float(g.grad @ v), float(fd), rtol=1e-5)
