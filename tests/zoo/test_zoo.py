"""The weights files, the :class:`LearnedModel` protocol and the loader registry."""

import numpy as np
import pytest
import torch

import learnsolve
from learnsolve.nn import FactorGNN
from learnsolve.zoo import LOADERS, LearnedModel, available, pretrained


def test_every_shipped_model_loads_through_the_registry_of_its_method():
    methods = set()
    for name in available():
        model = pretrained(name)
        assert isinstance(model, LearnedModel) and isinstance(model, LOADERS[model.meta["method"]])
        assert model.name == name and model.method == model.meta["method"]
        methods.add(model.method)
    assert methods == {"factor", "vcycle", "amg", "dcdm"}
    assert LOADERS["vcycle"] is learnsolve.precond.LearnedVCycle
    assert LOADERS["amg"] is learnsolve.precond.LearnedAMG


def test_a_new_family_registers_by_subclassing(tmp_path):
    """A family declares its method; ``pretrained`` hands such weights to it, and ``build`` uses
    its ``options``/``grid`` declarations."""

    class Scaled(LearnedModel, method="test-scaled"):
        @classmethod
        def from_weights(cls, name, meta, state, path):
            return cls(name, torch.nn.Identity(), dict(meta, scale=float(state["scale"])))

        def aspreconditioner(self, A):
            return learnsolve.precond.Preconditioner(lambda r: self.meta["scale"] * r, A.shape,
                                                     np.float64, name=self.name)

    try:
        meta = {"method": "test-scaled", "kind": "x", "channels": 1, "layers": 1, "family": "f",
                "version": learnsolve.__version__}
        torch.save({"meta": meta, "state_dict": {"scale": torch.tensor(0.5)}}, tmp_path / "s.pt")
        model = pretrained(path=str(tmp_path / "s.pt"))
        assert type(model) is Scaled and model.name == "s"
        A = learnsolve.problems.poisson((4, 4)).A
        np.testing.assert_allclose(model.aspreconditioner(A) @ np.ones(16), 0.5)
    finally:
        del LOADERS["test-scaled"]


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
    lf = learnsolve.precond.LearnedFactor("m", FactorGNN("ic"), {})
    N = p.A.tolil()
    N[0, 1] = 7.0
    with pytest.raises(ValueError, match="aspreconditioner: `A` must be symmetric"):
        lf.aspreconditioner(N.tocsr())
