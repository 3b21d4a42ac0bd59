"""Learned factors: the GNN's inputs and fused inference, shipped models, fallbacks."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve.nn import FactorGNN
from learnsolve.precond import LearnedFactor, factor_inputs, gnn_forward, inverse_factored, predict_factor

from ..helpers import iterations


def test_fsai_applies_gt_g():
    A = learnsolve.problems.poisson((6, 6)).A
    G = sp.csr_array(sp.tril(A) * 0.1 + sp.eye_array(36))
    r = np.random.default_rng(0).standard_normal(36)
    np.testing.assert_allclose(inverse_factored(G, name="g") @ r, G.T @ (G @ r), rtol=1e-12)


def test_unusable_factor_falls_back_with_warning():
    model = FactorGNN("ic")
    with torch.no_grad():
        model.node_head.bias.fill_(float("nan"))
    p = learnsolve.problems.diffusion(16, variance=1.0, seed=0)
    with pytest.warns(RuntimeWarning, match="unusable.*falling back to ic0"):
        P = LearnedFactor("broken", model, {}).aspreconditioner(p.A)
    assert P.name == "ic0" and "fallback" in P.info
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=P)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
    model = FactorGNN("fsai")
    with torch.no_grad():
        model.node_head.bias.fill_(float("inf"))
    with pytest.warns(RuntimeWarning, match="falling back to fsai-A"):
        P = LearnedFactor("broken", model, {}).aspreconditioner(p.A)
    assert P.name == "fsai-A"  # classical FSAI on the model's pattern


def test_shipped_models_load_and_converge():
    names = [n for n in learnsolve.pretrained() if n.startswith("gnn-")]
    assert names
    p = learnsolve.problems.diffusion(32, contrast=1e4, seed=9)
    for name in names:
        lf = learnsolve.pretrained(name)
        assert lf.meta["family"] in ("condiff-2d", "fem") and lf.meta["method"] == "factor"
        x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=lf.aspreconditioner(p.A))
        assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8


def test_shipped_model_is_built_by_name_and_listed_in_the_benchmark():
    from learnsolve import bench

    assert "gnn-ic-correct" in learnsolve.pretrained()
    assert "gnn-ic1-correct" in bench.default_preconds() and "gnn-fsai-select" in bench.default_preconds()
    assert "gnn-ic-correct" not in bench.default_preconds()  # superseded by gnn-ic1-correct
    assert "gnn-ic-fem" in learnsolve.pretrained() and "gnn-ic-fem" not in bench.default_preconds()
    p = learnsolve.problems.diffusion(24, variance=1.0, seed=0)
    P = learnsolve.precond.build("gnn-ic-correct", p.A)
    assert P.name == "gnn-ic-correct" and P.is_spd and P.setup_time > 0
    meta = learnsolve.pretrained("gnn-ic-correct").meta
    assert meta["kind"] == "correct" and meta["config"]["loss"] == "both"


def test_out_of_distribution_matrix_falls_back_to_ic0():
    lf = learnsolve.pretrained("gnn-ic-correct")
    p = learnsolve.problems.poisson((10, 10, 10))  # 3D: 6 off-diagonals per row, trained on 4
    with pytest.warns(RuntimeWarning, match="6 off-diagonal entries.*out of distribution.*ic0"):
        P = lf.aspreconditioner(p.A)
    assert P.name == "ic0" and "out of distribution" in P.info["fallback"]
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=P)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8


def test_probe_rejects_a_model_that_does_not_fit_the_matrix():
    """gnn-ic-fem (trained on FEM meshes) on a strongly anisotropic grid matrix: SPD but far
    worse than IC(0); the 10-step probe falls back to IC(0) and says so."""
    from learnsolve.precond import worse_than

    p = learnsolve.problems.anisotropic(48, eps=1e-3, theta=0.3)
    lf = learnsolve.pretrained("gnn-ic-fem")
    P = lf.aspreconditioner(p.A, probe=False)
    base = learnsolve.precond.ic0(p.A)
    its = {}
    for name, M in (("gnn", P), ("ic0", base)):
        res = []
        learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=5000)
        its[name] = len(res) - 1
    if its["gnn"] <= 2 * its["ic0"]:
        pytest.skip(f"the model fits this matrix after all ({its}); nothing to reject")
    assert worse_than(p.A, P, base) is not None
    with pytest.warns(RuntimeWarning, match="probe"):
        Q = lf.aspreconditioner(p.A)
    assert Q.name == "ic0" and "probe" in Q.info["fallback"]


@pytest.mark.parametrize("correction", ["add", "scale"])
def test_untrained_correction_on_ic1_pattern_is_ic1(correction):
    A = learnsolve.problems.diffusion(12, contrast=1e3, seed=2).A
    L = predict_factor(FactorGNN("correct", pattern="ic1", correction=correction), A)
    L1 = learnsolve.ops.ichol0(learnsolve.ops.with_fill(A, "ic1"))
    assert L.nnz == L1.nnz > sp.tril(A).nnz
    np.testing.assert_allclose(L.toarray(), L1.toarray(), atol=1e-5 * abs(L1).max())


def test_shipped_ic1_correction_beats_ic1_and_fsai_a2_is_near_ic0():
    """Unseen seed, a size not used in training: the learned correction on IC(1)'s pattern takes
    fewer iterations than IC(1) itself, and the learned FSAI on A²'s pattern is within 1.3× of
    IC(0) (two SpMVs per apply)."""
    p = learnsolve.problems.diffusion(160, variance=2.0, seed=12345)

    def its(M):
        return iterations(p.A, p.b, M)[0]

    learned = learnsolve.pretrained("gnn-ic1-correct").aspreconditioner(p.A)
    assert "fallback" not in learned.info
    assert its(learned) < 0.9 * its(learnsolve.precond.ick(p.A, 1))
    fsai = learnsolve.pretrained("gnn-fsai-a2").aspreconditioner(p.A)
    assert "fallback" not in fsai.info and fsai.info["nnz_G"] > 2 * sp.tril(p.A).nnz
    assert its(fsai) < 1.3 * its(learnsolve.precond.ic0(p.A))


def test_untrained_fsai_correction_is_classical_fsai():
    A = learnsolve.problems.diffusion(12, contrast=1e3, seed=2).A
    G = predict_factor(FactorGNN("fsai", pattern="A2", correction="scale"), A)
    G0 = learnsolve.ops.fsai_factor(A, "A2")
    assert G.nnz == G0.nnz
    np.testing.assert_allclose(G.toarray(), G0.toarray(), atol=1e-6 * abs(G0).max())


@pytest.mark.parametrize("kind,pattern,correction", [("correct", "ic1", "scale"), ("correct", "A", "add"),
                                                     ("fsai", "A2", "add"), ("fsai", "A2", "scale"),
                                                     ("ic", "A", "add")])
def test_fused_inference_matches_the_torch_forward(kind, pattern, correction):
    """The fused numba inference computes the same factor as the torch forward, for random
    weights (heads and α moved off their zero start)."""
    torch.manual_seed(3)
    model = FactorGNN(kind, channels=8, layers=2, pattern=pattern, correction=correction)
    with torch.no_grad():
        for prm in model.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    A = learnsolve.problems.diffusion(20, contrast=1e3, seed=7).A
    F_fused, F_torch = predict_factor(model, A), predict_factor(model, A, fused=False)
    assert F_fused.nnz == F_torch.nnz and abs(F_torch).max() > 0
    np.testing.assert_allclose(F_fused.toarray(), F_torch.toarray(), rtol=1e-4,
                               atol=1e-5 * abs(F_torch).max())


def test_edge_tables_reverse_and_features():
    from learnsolve.problems import edge_tables

    A = learnsolve.ops.with_fill(learnsolve.problems.diffusion(9, contrast=1e2, seed=1).A, "A2")
    (row, col), w, x, d, reverse = edge_tables(A)
    np.testing.assert_array_equal(row[reverse], col)
    np.testing.assert_array_equal(col[reverse], row)
    dense = A.toarray() / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(w, dense[row, col])
    np.testing.assert_allclose(x[:, 0], dense.sum(axis=1))
    np.testing.assert_allclose(x[:, 1], np.abs(dense - np.diag(np.diag(dense))).sum(axis=1))


@pytest.mark.parametrize("dim,n", [(2, 64), (3, 20)])
def test_gnn_ic_fem_converges_and_beats_ic0(dim, n):
    p = learnsolve.problems.fem_diffusion(n, dim=dim, contrast=1e4, seed=123)
    counts = {}
    for name in ("ic0", "gnn-ic-fem"):
        counts[name] = iterations(p.A, p.b, learnsolve.precond.build(name, p.A))[0]
    assert counts["gnn-ic-fem"] < counts["ic0"], counts
    assert learnsolve.pretrained("gnn-ic-fem").meta["family"] == "fem"


def test_gnn_factor_inputs_survive_an_ic0_breakdown():
    # Kershaw's matrix: SPD, but IC(0) on its pattern meets a negative pivot
    A = sp.csr_array(np.array([[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]]))
    with pytest.raises(learnsolve.ops.FactorizationBreakdown):
        learnsolve.ops.ichol0(A)
    assert np.linalg.eigvalsh(A.toarray())[0] > 0
    tensors, _ = factor_inputs(FactorGNN("correct", channels=4, layers=1), A)
    assert np.all(np.isfinite(tensors["base_diag"].numpy())) and np.all(tensors["base_diag"].numpy() > 0)


def test_select_model_is_fsai_on_its_scored_pattern():
    A = learnsolve.problems.diffusion(10, contrast=1e4, seed=5).A
    model = FactorGNN("select", pattern="A3")
    tensors, _ = factor_inputs(model, A)
    f_fused, f_torch = gnn_forward(model, tensors)[0], gnn_forward(model, tensors, fused=False)[0]
    np.testing.assert_allclose(f_fused, f_torch, rtol=1e-4, atol=1e-5)
    C, budget = learnsolve.ops.candidates(A)
    G = predict_factor(model, A)
    want = learnsolve.ops.fsai_factor(A, learnsolve.ops.top_per_row(C, f_torch, budget))
    assert (abs(G - want) > 1e-12).nnz == 0
    with pytest.raises(ValueError, match="kind 'select'.*'A3'"):
        FactorGNN("select", pattern="A2")
    with pytest.raises(ValueError, match="kind 'select'.*'A3'"):
        FactorGNN("fsai", pattern="A3")


def test_shipped_learned_pattern_beats_fsai_a2_and_is_near_ic0():
    """Unseen seed and size, contrast 1e4: the shipped learned pattern (FSAI values, two SpMVs per
    apply, as many entries as FSAI on A²'s pattern) takes fewer iterations than FSAI on A²'s
    pattern and at most 1.2× IC(0)'s."""
    p = learnsolve.problems.diffusion(96, contrast=1e4, seed=4321)
    P = learnsolve.pretrained("gnn-fsai-select").aspreconditioner(p.A)
    assert "fallback" not in P.info and P.info["method"] == "gnn-fsai (learned pattern)"
    a2 = learnsolve.precond.fsai(p.A)
    assert P.info["nnz_G"] == a2.info["nnz_G"]
    its = iterations(p.A, p.b, P)[0]
    assert its < iterations(p.A, p.b, a2)[0]
    assert its <= 1.2 * iterations(p.A, p.b, learnsolve.precond.ic0(p.A))[0]
