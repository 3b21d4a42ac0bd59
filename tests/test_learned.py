"""Learned factors: training loop, weights files, pretrained(), fallbacks."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve.nn import FactorGNN
from learnsolve.precond._learned import LearnedFactor, fsai
from learnsolve.train import TrainConfig, fit

TINY = dict(sizes=(12, 16), val_size=16, samples_per_epoch=2, channels=8, layers=2)


def test_fit_writes_weights_with_metadata_and_resumes(tmp_path):
    out = str(tmp_path / "m.pt")
    cfg = TrainConfig(kind="correct", loss="lowfreq", epochs=2, **TINY)
    hist = fit(cfg, out, progress=False)
    assert [h["epoch"] for h in hist] == [0, 1]
    blob = torch.load(out, weights_only=True)
    meta = blob["meta"]
    assert meta["kind"] == "correct" and meta["method"] == "factor"
    assert meta["config"]["sizes"] == [12, 16] and meta["version"] == learnsolve.__version__
    # resume from the checkpoint: continues at epoch 2
    cfg3 = TrainConfig(kind="correct", loss="lowfreq", epochs=3, **TINY)
    hist3 = fit(cfg3, out, resume=True, progress=False)
    assert [h["epoch"] for h in hist3] == [0, 1, 2]
    lf = learnsolve.pretrained(path=out)
    p = learnsolve.problems.diffusion(20, contrast=1e3, seed=5)
    x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=lf.aspreconditioner(p.A))
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8


@pytest.mark.parametrize("kind,loss", [("ic", "hutchinson"), ("correct", "both"), ("fsai", "kaporin"),
                                       ("fsai", "fsai")])
def test_fit_other_kinds_and_losses(tmp_path, kind, loss):
    out = str(tmp_path / f"{kind}.pt")
    hist = fit(TrainConfig(kind=kind, loss=loss, epochs=1, **TINY), out, progress=False)
    assert np.isfinite(hist[0]["loss"]) and hist[0]["val_ratio"] > 0


def test_fit_rejects_loss_of_other_kind(tmp_path):
    with pytest.raises(ValueError, match="does not fit kind"):
        fit(TrainConfig(kind="ic", loss="kaporin", **TINY), str(tmp_path / "x.pt"))


def test_fsai_applies_gt_g():
    A = learnsolve.problems.poisson((6, 6)).A
    G = sp.csr_array(sp.tril(A) * 0.1 + sp.eye_array(36))
    r = np.random.default_rng(0).standard_normal(36)
    np.testing.assert_allclose(fsai(G, name="g") @ r, G.T @ (G @ r), rtol=1e-12)


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
    with pytest.warns(RuntimeWarning, match="falling back to jacobi"):
        P = LearnedFactor("broken", model, {}).aspreconditioner(p.A)
    assert P.name == "jacobi"


def test_pretrained_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'nope'.*learnsolve train"):
        learnsolve.pretrained("nope")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="corrupt or not a learnsolve model"):
        learnsolve.pretrained(path=str(bad))
    torch.save({"meta": {"method": "factor"}, "state_dict": {}}, tmp_path / "meta.pt")
    with pytest.raises(ValueError, match="lacks metadata"):
        learnsolve.pretrained(path=str(tmp_path / "meta.pt"))
    meta = {"method": "mgno", "kind": "x", "channels": 1, "layers": 1, "family": "f",
            "version": "0"}
    torch.save({"meta": meta, "state_dict": {}}, tmp_path / "v.pt")
    with pytest.raises(ValueError, match="'mgno' model, which this version cannot load"):
        learnsolve.pretrained(path=str(tmp_path / "v.pt"))
    torch.save({"meta": dict(meta, method="vcycle"), "state_dict": {}}, tmp_path / "v2.pt")
    with pytest.raises(ValueError, match=r"lacks metadata \['dim'\]"):
        learnsolve.pretrained(path=str(tmp_path / "v2.pt"))
    torch.save({"meta": dict(meta, method="vcycle", dim=2), "state_dict": {}}, tmp_path / "v3.pt")
    with pytest.raises(ValueError, match="do not fit the model"):
        learnsolve.pretrained(path=str(tmp_path / "v3.pt"))
    p = learnsolve.problems.poisson((4, 4))
    lf = LearnedFactor("m", FactorGNN("ic"), {})
    N = p.A.tolil()
    N[0, 1] = 7.0
    with pytest.raises(ValueError, match="aspreconditioner: `A` must be symmetric"):
        lf.aspreconditioner(N.tocsr())


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
    assert "gnn-ic-correct" in bench.default_preconds()
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
    from learnsolve.precond._learned import worse_than

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
