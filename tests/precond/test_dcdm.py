"""The DCDM direction network on a learned V-cycle: apply path, shipped models, weights files."""

import copy
import warnings

import numpy as np
import pytest
import torch

import learnsolve
from learnsolve.nn import DirectionNet
from learnsolve.precond import LearnedDCDM

from ..helpers import iterations


def dcdm_its(p, M):
    return iterations(p.A, p.b, M, solver="dcdm", k=2, maxiter=500)


@pytest.fixture(scope="module")
def vcycle2d():
    return learnsolve.pretrained("vcycle-2d")


def perturbed(dim, seed=0, std=0.2):
    torch.manual_seed(seed)
    net = DirectionNet(dim)
    torch.nn.init.normal_(net.out.weight, std=std)
    return net.eval()


def test_zero_correction_is_exactly_the_vcycle(vcycle2d, monkeypatch):
    p = learnsolve.problems.diffusion((40, 40), contrast=1e3, seed=4)
    q = LearnedDCDM("z", vcycle2d, DirectionNet(2).eval(), {}).directions(p)
    assert q.info["correction"].startswith("zero")  # the network is skipped
    v = vcycle2d.aspreconditioner(p.A, p.grid_shape)
    r = np.random.default_rng(1).standard_normal(p.n)
    np.testing.assert_allclose(q @ r, v @ r, rtol=1e-12, atol=1e-14)
    # the full path through the network gives the cycle's directions (without the cluster space)
    monkeypatch.setattr(DirectionNet, "is_zero", property(lambda self: False))
    full = LearnedDCDM("z", vcycle2d, DirectionNet(2).eval(), {}).directions(p)
    assert full.info["correction"] == "trained" and "clusters" not in full.info
    v = vcycle2d.aspreconditioner(p.A, p.grid_shape, clusters=False)
    np.testing.assert_allclose(full @ r, v @ r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
def test_directions_are_scale_equivariant_and_nonlinear(dim):
    shape = (24, 20) if dim == 2 else (10, 9, 8)
    p = learnsolve.problems.diffusion(shape, dim=dim, variance=2.0, seed=5)
    base = learnsolve.pretrained(f"vcycle-{dim}d")
    q = LearnedDCDM("t", base, perturbed(dim), {}).directions(p)
    assert q.is_linear is False and q.is_spd is False
    rng = np.random.default_rng(2)
    r1, r2 = rng.standard_normal(p.n), rng.standard_normal(p.n)
    np.testing.assert_allclose(q @ (3.5 * r1), 3.5 * (q @ r1), rtol=1e-5, atol=1e-8)
    lhs, rhs = q @ (r1 + r2), q @ r1 + q @ r2
    assert np.linalg.norm(lhs - rhs) > 1e-4 * np.linalg.norm(lhs)
    x, info = learnsolve.krylov.dcdm(p.A, p.b, rtol=1e-8, M=q, k=2, maxiter=300)
    assert info == 0
    assert np.linalg.norm(p.b - p.A @ x) <= 1e-8 * np.linalg.norm(p.b)


def test_pretrained_dcdm_2d_converges_and_is_multilevel():
    model = learnsolve.pretrained("dcdm-2d")
    assert model.meta["method"] == "dcdm" and model.meta["vcycle"]["name"] == "vcycle-2d"
    for n in (64, 128):
        p = learnsolve.problems.diffusion(n, variance=2.0, seed=11)
        its, info, x = dcdm_its(p, model.directions(p))
        assert info == 0 and its <= 8
        assert np.linalg.norm(p.b - p.A @ x) <= 1e-6 * np.linalg.norm(p.b)
        res = []
        learnsolve.krylov.cg(p.A, p.b, rtol=1e-6, M=learnsolve.precond.ic0(p.A), residuals=res)
        assert 3 * its <= len(res) - 1  # at most a third of IC(0)-PCG's iterations
    p = learnsolve.problems.diffusion(128, contrast=1e4, seed=12)
    its, info, _ = dcdm_its(p, model.aspreconditioner(p.A))
    assert info == 0 and its <= 60


def test_pretrained_dcdm_3d_converges():
    p = learnsolve.problems.diffusion((16, 16, 16), dim=3, variance=2.0, seed=13)
    its, info, _ = dcdm_its(p, learnsolve.pretrained("dcdm-3d").directions(p))
    assert info == 0 and its <= 10


def test_cg_warns_when_handed_dcdm_directions():
    p = learnsolve.problems.poisson((32, 32))
    M = learnsolve.pretrained("dcdm-2d").directions(p)
    with pytest.warns(RuntimeWarning, match="nonlinear"):
        learnsolve.krylov.cg(p.A, p.b, M=M, rtol=1e-6)


def test_dcdm_model_for_other_dimension_is_refused():
    with pytest.raises(ValueError, match=r"for 2D grids .* use learnsolve.pretrained\('dcdm-3d'\)"):
        learnsolve.pretrained("dcdm-2d").directions(learnsolve.problems.poisson((6, 6, 6)))


def test_bench_runs_nonlinear_maps_with_dcdm():
    from learnsolve import bench

    rows = bench.run([bench.make_problem("diffusion:48:variance=2")], ["dcdm-2d", "vcycle-2d"],
                     repeats=1, progress=False)
    assert [r.method for r in rows] == ["dcdm-2d", "vcycle-2d"]
    assert all(r.info == 0 and r.relres <= 1e-6 for r in rows)


def test_dcdm_weights_without_vcycle_metadata_are_refused(tmp_path):
    src = learnsolve.zoo.HERE + "/dcdm-2d.pt"
    blob = torch.load(src, weights_only=True)
    bad = copy.deepcopy(blob)
    del bad["meta"]["vcycle"]
    path = str(tmp_path / "bad.pt")
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"lacks metadata \['vcycle'\]"):
        learnsolve.pretrained(path=path)
    bad = copy.deepcopy(blob)
    bad["state_dict"] = {k: v for k, v in bad["state_dict"].items() if not k.startswith("net.mid")}
    torch.save(bad, path)
    with pytest.raises(ValueError, match="do not fit the model"):
        learnsolve.pretrained(path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(learnsolve.pretrained("dcdm-2d"), LearnedDCDM)
