"""Problem specifications for the benchmark command: ``family:size[:key=value...]``."""

from __future__ import annotations

import glob
import os

from .. import precond, problems

DEFAULT_PROBLEM = "diffusion:256:contrast=1e4"
# identity, jacobi, ..., amg-chebyshev (not its variant amg-chebyshev:rs, nor auto)
CLASSICAL = tuple(b for b in precond.BUILDERS if b != "auto" and ":" not in b)


# Shipped models left out of the default benchmark because a newer model does the same job better
# (benchmarks/learned_factors.py still compares them): keeps `make demo` under two minutes.
SUPERSEDED = {"gnn-ic-correct": "gnn-ic1-correct", "gnn-fsai": "gnn-fsai-a2",
              "gnn-fsai-a2": "gnn-fsai-select"}


def default_preconds():
    """The classical baselines, the geometric V-cycle and the shipped pretrained models for grids.

    Models trained on unstructured FEM meshes (``gnn-ic-fem``) are left out:
    the default problems are grid matrices (``examples/fem`` compares them);
    so are the models in ``SUPERSEDED``.
    """
    from ..zoo import available

    models = [m for m in available(exclude_families=("fem",)) if m not in SUPERSEDED]
    return CLASSICAL + tuple(precond.GRID_BUILDERS) + tuple(models)


README_PROBLEMS = ("poisson:512", "diffusion:256:contrast=1e4", "poisson:64x64x64", "shared")


def shared_dir():
    """``shared/matrices`` beside the project (``$LEARNSOLVE_SHARED`` overrides)."""
    env = os.environ.get("LEARNSOLVE_SHARED")
    if env:
        return os.path.join(env, "matrices")
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (os.getcwd(), os.path.join(here, "..", "..")):
        cand = os.path.normpath(os.path.join(up, "..", "shared", "matrices"))
        if os.path.isdir(cand):
            return cand
    return None


def _value(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _size(text):
    parts = [int(p) for p in text.split("x")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def expand(specs):
    """Expand ``'shared'`` into the Matrix Market files of the shared folder."""
    out = []
    for spec in specs:
        if spec == "shared":
            folder = shared_dir()
            if folder is None:
                raise ValueError("learnsolve bench: 'shared' given but no ../shared/matrices "
                                 "found; set LEARNSOLVE_SHARED to the shared folder.")
            out += sorted(glob.glob(os.path.join(folder, "*.mtx")))
        else:
            out.append(spec)
    return out


def make_problem(spec):
    """Build a :class:`~learnsolve.problems.Problem` from a spec string.

    ``poisson:512`` (2D), ``poisson:64x64x64``, ``diffusion:256:contrast=1e4``,
    ``diffusion:64:dim=3:variance=2``, ``anisotropic:256:eps=0.01:theta=0.5``,
    ``pyamg:airfoil`` or a path to a ``.mtx`` file.

    Examples
    --------
    >>> from learnsolve.bench import make_problem
    >>> make_problem("poisson:8x8x8").n
    512
    """
    if spec.endswith(".mtx"):
        return problems.load_matrix(spec)
    family, _, rest = spec.partition(":")
    fields = rest.split(":") if rest else []
    if family == "pyamg":
        return problems.pyamg_example(fields[0])
    if not fields:
        raise ValueError(f"learnsolve bench: problem spec {spec!r} needs a size, e.g. {family}:256.")
    size, kwargs = _size(fields[0]), {}
    for item in fields[1:]:
        key, _, val = item.partition("=")
        kwargs[key] = _value(val)
    makers = {"poisson": problems.poisson, "diffusion": problems.diffusion,
              "anisotropic": problems.anisotropic}
    if family not in makers:
        raise ValueError(f"learnsolve bench: unknown problem family {family!r} in {spec!r}; use "
                         f"{sorted(makers)}, 'pyamg:NAME' or a .mtx path.")
    return makers[family](size, **kwargs)
