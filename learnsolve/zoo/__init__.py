"""Shipped pretrained weights, the :class:`LearnedModel` protocol and the :func:`pretrained` loader.

Each ``<name>.pt`` holds ``{"meta": {...}, "state_dict": {...}}`` readable by
``torch.load(weights_only=True)``; ``meta`` carries the method, model kind and
size, problem family, learnsolve version, dtype and the training config.

A learned preconditioner family subclasses :class:`LearnedModel` with the
``meta["method"]`` it loads (``class LearnedVCycle(LearnedModel, method="vcycle")``),
which registers its loader here; :func:`pretrained` reads a weights file and
hands it to the loader of its method.  This package imports no other part of
learnsolve: the families register themselves when :mod:`learnsolve.precond`
is imported (``import learnsolve`` does).
"""

from __future__ import annotations

import functools
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED = ("method", "kind", "channels", "layers", "family", "version")

#: ``meta["method"]`` -> the :class:`LearnedModel` subclass that loads it.
LOADERS = {}


class LearnedModel:
    """A trained network with its metadata, usable as a preconditioner.

    Subclasses declare the weights' method (``class X(LearnedModel, method="...")``),
    implement :meth:`from_weights` and :meth:`aspreconditioner`, and say which
    keyword options a preconditioner name's suffixes may set (:attr:`options`,
    e.g. ``vcycle-2d:float32``) and whether :meth:`aspreconditioner` takes a
    grid shape (:attr:`grid`).

    Attributes
    ----------
    name : str
    model : torch.nn.Module
    meta : dict
        Method, kind, problem family, version, training configuration.
    """

    method = None
    #: the keyword arguments of :meth:`aspreconditioner` a name's ``:option`` suffixes may set
    options = frozenset()
    #: whether :meth:`aspreconditioner` takes the matrix's grid shape as its second argument
    grid = False

    def __init_subclass__(cls, method=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if method is not None:
            cls.method = method
            LOADERS[method] = cls

    def __init__(self, name, model, meta):
        self.name = name
        self.model = model
        self.meta = dict(meta)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} family={self.meta.get('family')}>"

    @classmethod
    def from_weights(cls, name, meta, state, path):
        """The model described by ``meta`` with weights ``state`` (read from ``path``)."""
        raise NotImplementedError

    def aspreconditioner(self, A, *args, **options):
        """A preconditioner (``scipy`` LinearOperator) for ``A``."""
        raise NotImplementedError


def available(*, exclude_families=()):
    """Names of the shipped models (leaving out those trained on ``exclude_families``).

    Examples
    --------
    >>> from learnsolve.zoo import available
    >>> "vcycle-2d" in available(), "gnn-ic-fem" in available(exclude_families=("fem",))
    (True, False)
    """
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
    if not isinstance(meta, dict) or not isinstance(blob["state_dict"], dict):
        raise ValueError(f"{func}: {path!r} is not a learnsolve weights file (meta/state_dict are "
                         "not dictionaries).")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"{func}: weights file {path!r} lacks metadata {missing}.")
    if not isinstance(meta["method"], str):
        raise ValueError(f"{func}: weights file {path!r} has metadata method={meta['method']!r}, "
                         "not a method name; retrain it with `learnsolve train`.")
    return meta, blob["state_dict"]


def load_state(model, state, path):
    """``model.load_state_dict(state)`` with the package's error for weights that do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"learnsolve.pretrained: weights in {path!r} do not fit the model its "
                         f"metadata describes ({exc}).") from None
    return model.eval()


def require_meta(meta, keys, path):
    """Raise the package's error when ``meta`` lacks any of ``keys``."""
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ValueError(f"learnsolve.pretrained: weights file {path!r} lacks metadata {missing}.")


@functools.cache
def shipped(name):
    """:func:`pretrained` ``(name)`` read from its weights file once per process and shared: for
    the builders that only apply it (``precond.build``, ``precond.auto``, the CLI, PETSc)."""
    return pretrained(name)


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
    list of str or LearnedModel
        ``.aspreconditioner(A)`` gives a ``scipy`` LinearOperator (for DCDM
        models a nonlinear direction map, also ``.directions(problem)``).

    Examples
    --------
    >>> import learnsolve
    >>> isinstance(learnsolve.pretrained(), list)
    True
    >>> learnsolve.pretrained("vcycle-2d").method
    'vcycle'
    """
    if name is None and path is None:
        return available()
    if path is None:
        if name not in available():
            raise ValueError(f"learnsolve.pretrained: unknown model {name!r}; available: "
                             f"{available()}. Train one with `learnsolve train`.")
        path = os.path.join(HERE, f"{name}.pt")
    meta, state = load_weights(path)
    name = name or os.path.splitext(os.path.basename(path))[0]
    loader = LOADERS.get(meta["method"])
    if loader is None:
        raise ValueError(f"learnsolve.pretrained: {path!r} is a {meta['method']!r} model, which "
                         "this version cannot load; upgrade learnsolve.")
    try:
        return loader.from_weights(name, meta, state, path)
    except ValueError as exc:
        if str(exc).startswith("learnsolve"):
            raise
        problem = exc
    except (TypeError, KeyError, IndexError, AttributeError, RuntimeError) as exc:
        problem = exc
    raise ValueError(f"learnsolve.pretrained: the metadata or weights in {path!r} do not describe a "
                     f"{meta['method']!r} model ({type(problem).__name__}: {problem}); retrain it "
                     "with `learnsolve train` or reinstall learnsolve.") from None


__all__ = ["LOADERS", "LearnedModel", "available", "load_state", "load_weights", "pretrained", "shipped",
           "require_meta"]
