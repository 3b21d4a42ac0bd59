"""Shipped pretrained weights and the :func:`pretrained` loader.

Each ``<name>.pt`` holds ``{"meta": {...}, "state_dict": {...}}`` readable by
``torch.load(weights_only=True)``; ``meta`` carries the method, model kind and
size, problem family, learnsolve version, dtype and the training config.
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = ("method", "kind", "channels", "layers", "family", "version")


def available(*, exclude_families=()):
    """Names of the shipped models (leaving out those trained on ``exclude_families``)."""
    names = sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".pt"))
    if exclude_families:
        names = [n for n in names
                 if load_weights(os.path.join(HERE, n + ".pt"))[0]["family"] not in exclude_families]
    return names


def load_weights(path, func="learnsolve.pretrained"):
    """Read and validate a weights file; returns ``(meta, state_dict)``."""
    import torch

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{func}: could not read weights file {path!r} ({type(exc).__name__}: "
                         f"{exc}); the file is corrupt or not a learnsolve model — retrain it "
                         "with `learnsolve train` or reinstall learnsolve.") from None
    if not isinstance(blob, dict) or "meta" not in blob or "state_dict" not in blob:
        raise ValueError(f"{func}: {path!r} is not a learnsolve weights file (no meta/state_dict).")
    meta = blob["meta"]
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"{func}: weights file {path!r} lacks metadata {missing}.")
    return meta, blob["state_dict"]


def pretrained(name=None, *, path=None):
    """A shipped learned preconditioner by name, or the list of names when ``name`` is None.

    Parameters
    ----------
    name : str, optional
        A shipped model (see ``learnsolve.pretrained()``).
    path : str, optional
        Load a weights file written by ``learnsolve train`` instead.

    Returns
    -------
    list of str or LearnedFactor or LearnedVCycle or LearnedDCDM
        ``.aspreconditioner(A)`` gives a ``scipy`` LinearOperator (for DCDM
        models a nonlinear direction map, also ``.directions(problem)``).

    Examples
    --------
    >>> import learnsolve
    >>> isinstance(learnsolve.pretrained(), list)
    True
    """
    from ..nn import DirectionNet, FactorGNN, SmootherNet
    from ..precond import LearnedDCDM, LearnedVCycle
    from ..precond._learned import LearnedFactor

    if name is None and path is None:
        return available()
    if path is None:
        if name not in available():
            raise ValueError(f"learnsolve.pretrained: unknown model {name!r}; available: "
                             f"{available()}. Train one with `learnsolve train`.")
        path = os.path.join(HERE, f"{name}.pt")
    meta, state = load_weights(path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    if meta["method"] in ("vcycle", "dcdm") and "dim" not in meta:
        raise ValueError(f"learnsolve.pretrained: weights file {path!r} lacks metadata ['dim'].")
    if meta["method"] == "dcdm":
        if "vcycle" not in meta:
            raise ValueError(f"learnsolve.pretrained: weights file {path!r} lacks metadata "
                             "['vcycle'].")
        vm = meta["vcycle"]
        smoother = SmootherNet(int(meta["dim"]), int(vm["channels"]), int(vm["layers"]))
        net = DirectionNet(int(meta["dim"]), int(meta["channels"]))
        _load_state(smoother, {k[7:]: v for k, v in state.items() if k.startswith("vcycle.")}, path)
        _load_state(net, {k[4:]: v for k, v in state.items() if k.startswith("net.")}, path)
        vc = LearnedVCycle(name, smoother.eval(), {"nu": vm.get("nu", 1)},
                           family="dcdm")
        return LearnedDCDM(name, vc, net.eval(), meta)
    if meta["method"] == "vcycle":
        model = SmootherNet(int(meta["dim"]), int(meta["channels"]), int(meta["layers"]))
        wrap = LearnedVCycle
    elif meta["method"] == "factor":
        model = FactorGNN(meta["kind"], channels=int(meta["channels"]), layers=int(meta["layers"]),
                          pattern=meta.get("pattern", "A"), correction=meta.get("correction", "add"))
        wrap = LearnedFactor
    else:
        raise ValueError(f"learnsolve.pretrained: {path!r} is a {meta['method']!r} model, which "
                         "this version cannot load; upgrade learnsolve.")
    _load_state(model, state, path)
    return wrap(name, model.eval(), meta)


def _load_state(model, state, path):
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"learnsolve.pretrained: weights in {path!r} do not fit the model its "
                         f"metadata describes ({exc}).") from None
