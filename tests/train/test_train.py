"""Training: the factor, V-cycle and DCDM fits (weights, metadata, resume), their losses."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import learnsolve
from learnsolve.nn import DirectionNet
from learnsolve.train import DCDMConfig, TrainConfig, VCycleConfig, fit, fit_dcdm, fit_vcycle
from learnsolve.train.losses import kaporin_ic

from ..helpers import iterations

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


@pytest.mark.parametrize("kind,loss", [("ic", "hutchinson"), ("correct", "both"), ("correct", "kaporin"),
                                       ("fsai", "kaporin"), ("fsai", "both"),
                                       ("fsai", "fsai"), ("select", "imitate")])
def test_fit_other_kinds_and_losses(tmp_path, kind, loss):
    out = str(tmp_path / f"{kind}.pt")
    pattern = "A3" if kind == "select" else "A"
    hist = fit(TrainConfig(kind=kind, loss=loss, epochs=1, pattern=pattern, **TINY), out,
               progress=False)
    assert np.isfinite(hist[0]["loss"]) and hist[0]["val_ratio"] > 0


def test_fit_rejects_loss_of_other_kind(tmp_path):
    with pytest.raises(ValueError, match="does not fit kind"):
        fit(TrainConfig(kind="ic", loss="fsai", **TINY), str(tmp_path / "x.pt"))


def test_fit_on_filled_patterns(tmp_path):
    out = str(tmp_path / "m.pt")
    fit(TrainConfig(kind="correct", loss="both", pattern="ic1", correction="scale", **TINY), out,
        progress=False)
    lf = learnsolve.pretrained(path=out)
    assert lf.model.pattern == "ic1" and lf.model.correction == "scale"
    assert lf.meta["pattern"] == "ic1"
    p = learnsolve.problems.diffusion(24, variance=1.0, seed=5)
    P = lf.aspreconditioner(p.A, probe=False)
    assert P.info["nnz_L"] == sp.tril(learnsolve.ops.with_fill(p.A, "ic1")).nnz
    x, info = sp.linalg.cg(p.A, p.b, M=P, rtol=1e-8)
    assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-7
    fit(TrainConfig(kind="fsai", loss="kaporin", pattern="A2", **TINY), out, progress=False)
    G = learnsolve.precond.predict_factor(learnsolve.pretrained(path=out).model, p.A)
    assert G.nnz == sp.tril(learnsolve.ops.with_fill(p.A, "A2")).nnz


def test_upper_solve_gradients_and_kaporin_ic_bound():
    from learnsolve.train._sparse import upper_solve

    A = learnsolve.problems.diffusion(5, variance=1.0, seed=0).A
    L = sp.coo_array(learnsolve.ops.ichol0(A))
    rows, cols = torch.as_tensor(L.row.astype(np.int64)), torch.as_tensor(L.col.astype(np.int64))
    vals = torch.as_tensor(L.data).requires_grad_(True)
    z = torch.randn(25, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, w: upper_solve(rows, cols, v, w), (vals, z))
    # exact Cholesky: L Lᵀ = A, so K(M⁻¹A) = 1 and the loss is the dropped constant (1/n) log det A
    C = np.linalg.cholesky(A.toarray())
    r, c = np.nonzero(np.tril(C))
    Lt = (torch.as_tensor(r.astype(np.int64)), torch.as_tensor(c.astype(np.int64)),
          torch.as_tensor(C[r, c]))
    Ac = sp.coo_array(A)
    At = (torch.as_tensor(Ac.row.astype(np.int64)), torch.as_tensor(Ac.col.astype(np.int64)),
          torch.as_tensor(Ac.data))
    probes = torch.as_tensor(5.0 * np.eye(25))  # Z Zᵀ / k = I: the trace estimate is exact
    want = np.linalg.slogdet(A.toarray())[1] / 25
    assert abs(float(kaporin_ic(Lt, At, probes)) - want) < 1e-10
    # IC(0) is worse than the exact factor: a larger Kaporin number
    assert float(kaporin_ic((rows, cols, vals.detach()), At, probes)) > want


def test_cli_train_creates_the_output_folder(tmp_path):
    from learnsolve import cli

    out = tmp_path / "new" / "folder" / "m.pt"
    rc = cli.main(["train", "--kind", "correct", "--loss", "kaporin", "--epochs", "1", "--samples", "1",
                   "--channels", "4", "--layers", "1", "--sizes", "12,16", "--val-size", "16",
                   "--out", str(out), "--quiet"])
    assert rc == 0 and out.exists()
    meta = learnsolve.pretrained(path=str(out)).meta
    assert meta["kind"] == "correct" and meta["config"]["sizes"] == [12, 16]


def test_unrolled_loss_of_zero_correction_equals_vcycle_pcg_energy_reduction():
    """With q = V r (linear SPD), DCDM with k ≥ 1 is PCG: the torch loss must match it."""
    from learnsolve.train._dcdm import Batch, unrolled_loss

    vcycle2d = learnsolve.pretrained("vcycle-2d")
    cfg = DCDMConfig(dim=2, batch=2, family_weights=(1, 0, 0))
    rng = np.random.default_rng(3)
    batch = Batch(cfg, vcycle2d, 32, rng)
    e = batch.errors(rng, 0)
    net = DirectionNet(2).double()
    steps = 3
    with torch.no_grad():
        loss = float(unrolled_loss(net, batch, net.static(batch.S), e, steps))
    A0, m = batch.A0, batch.S.shape[1]
    logs = []
    for i in range(2):
        A = A0.tocsr(i)
        ei = A0.unpad(e[i:i + 1]).numpy()[0]
        M = vcycle2d.aspreconditioner(A, A0.grid, check=False, clusters=False)
        x, _ = learnsolve.krylov.cg(A, A @ ei, rtol=0.0, maxiter=steps, M=M)
        d = ei - x
        logs.append(np.log((d @ (A @ d)) / (ei @ (A @ ei))) / steps)
    assert m == 9
    assert loss == pytest.approx(np.mean(logs), rel=1e-6)


@pytest.mark.parametrize("method", ["vcycle", "dcdm"])
def test_fit_grid_models_write_loadable_weights_and_resume(tmp_path, method):
    out = str(tmp_path / f"{method}.pt")
    if method == "vcycle":
        cfg, fit_ = VCycleConfig(epochs=1, steps_per_epoch=2, batch=2, sizes=(16,), val_size=32), fit_vcycle
    else:
        cfg, fit_ = DCDMConfig(epochs=1, steps_per_epoch=2, batch=2, sizes=(16,), val_size=32,
                               unroll=2), fit_dcdm
    hist = fit_(cfg, out, progress=False)
    assert [h["epoch"] for h in hist] == [-1, 0]
    cfg.epochs = 2
    hist = fit_(cfg, out, resume=True, progress=False)
    assert [h["epoch"] for h in hist] == [-1, 0, 1]
    model = learnsolve.pretrained(path=out)
    assert model.meta["config"]["epochs"] == 2 and model.meta["method"] == method
    p = learnsolve.problems.poisson((32, 32))
    if method == "dcdm":
        assert isinstance(model, learnsolve.precond.LearnedDCDM)
        assert model.meta["vcycle"]["name"] == "vcycle-2d"
        iterations(p.A, p.b, model.directions(p), solver="dcdm", k=2)
    else:
        iterations(p.A, p.b, model.aspreconditioner(p.A))


def test_vcycle_loss_is_the_cycles_error_reduction():
    """The training loss on a batch equals ``log(‖(I − M A)^s e‖_A / ‖e‖_A) / s`` computed with
    the host cycle (same smoothers) for each problem."""
    from learnsolve import multigrid as mg
    from learnsolve.train._vcycle import error_reduction

    model = learnsolve.pretrained("vcycle-2d")
    ps = [learnsolve.problems.diffusion(24, contrast=1e3, seed=s) for s in (1, 2)]
    hs = [mg.grid_hierarchy(p.A) for p in ps]
    H = mg.stack(hs)
    with torch.no_grad():
        H.with_stencils([model.model.double().smoother(lvl.A.S) for lvl in H.levels[:-1]])
    model.model.float()
    e = np.random.default_rng(0).standard_normal((2, 24 * 24))
    with torch.no_grad():
        got = error_reduction(H, H.levels[0].A.pad(torch.as_tensor(e)), steps=2).numpy()
    for i, (p, h) in enumerate(zip(ps, hs)):
        K, KT = model.smoothers(h)
        h.with_stencils(K, KT)
        v = e[i]
        a0 = np.sqrt(v @ (p.A @ v))
        for _ in range(2):
            v = v - h.apply(p.A @ v)
        assert got[i] == pytest.approx(np.log(np.sqrt(v @ (p.A @ v)) / a0) / 2, rel=1e-4)
