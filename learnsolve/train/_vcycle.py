"""Fit the learned V-cycle smoother (:class:`~learnsolve.nn.SmootherNet`) on small grids.

Loss: the V-cycle's error reduction ``log(‖(I − M A)^s e‖_A / ‖e‖_A) / s`` on
random errors ``e`` (a power-iteration surrogate of its convergence factor),
averaged over a batch of problems of one grid size drawn from Poisson,
log-normal and piecewise-constant (contrast 10–1e4) diffusion.  Checkpoints
every epoch, ``resume``, a time budget, selection of the best epoch by real
PCG iteration counts on fixed validation problems (larger than the training
grids, seeds unseen), the configuration saved in the weights file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import __version__, krylov, multigrid, problems
from ..nn import SmootherNet
from ._fit import draw_problem
from ._loop import fit_epochs, optimizer_step, start_run, write_weights


@dataclasses.dataclass
class VCycleConfig:
    """Everything that defines a V-cycle training run (saved inside the weights file)."""

    dim: int = 2
    hidden: int = 16
    layers: int = 1
    nu: int = 1
    lr: float = 2e-3
    epochs: int = 60
    steps_per_epoch: int = 25
    batch: int = 4
    sizes: tuple | None = None  # (32, 64) in 2D, (8, 12, 16) in 3D
    contrast_range: tuple = (1e1, 1e4)
    variance_range: tuple = (0.5, 3.0)
    family_weights: tuple = (0.4, 0.4, 0.2)  # piecewise, log-normal, Poisson
    power_steps: int = 3
    val_size: int | None = None  # 128 in 2D, 24 in 3D
    seed: int = 0
    minutes: float = 20.0
    pattern: bool = True  # the smoother on A's pattern (5/7 points on the fine grid)

    def __post_init__(self):
        if self.sizes is None:
            self.sizes = (32, 64) if self.dim == 2 else (8, 12, 16)
        if self.val_size is None:
            self.val_size = 128 if self.dim == 2 else 24
        self.sizes = tuple(self.sizes)
    threads: int = 2


def sample_problem(cfg, n, rng):
    """One training grid problem (deterministic for the generator's state)."""
    return draw_problem(cfg, n, rng, dim=cfg.dim, length_scales=(0.05, 0.3))


def validation_set(cfg):
    """Fixed validation problems: the three families at ``val_size`` (unseen seeds)."""
    n, d = cfg.val_size, cfg.dim
    return [problems.poisson((n,) * d, seed=10_001),
            problems.diffusion(n, dim=d, variance=2.0, seed=10_002),
            problems.diffusion(n, dim=d, contrast=1e4, seed=10_003)]


def error_reduction(H, e, steps=3):
    """``log(‖(I − M A)^steps e‖_A / ‖e‖_A) / steps`` per batch entry of torch hierarchy ``H``
    (with its smoothers set) for padded errors ``e`` (B, Pz, Py, Px)."""
    A = H.levels[0].A

    def anorm(v):
        return torch.sqrt((v * (A @ v)).sum((1, 2, 3)))

    n0 = anorm(e)
    for _ in range(steps):
        e = e - H.cycle(A @ e)
    return torch.log(anorm(e) / n0) / steps


def validate(model, cfg, val):
    """Mean PCG iterations (rtol 1e-6) of the learned V-cycle on ``val``."""
    from ..precond import LearnedVCycle

    lv = LearnedVCycle("val", model, {"nu": cfg.nu})
    its = []
    for p in val:
        M = lv.aspreconditioner(p.A, p.grid_shape, check=False, clusters=False)
        res = []
        _, info = krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=500)
        its.append(len(res) - 1 if info == 0 else 500)
    return float(np.mean(its)), its


def save(path, model, cfg, extra):
    meta = {"method": "vcycle", "kind": f"{cfg.dim}d", "dim": cfg.dim, "channels": cfg.hidden,
            "layers": cfg.layers, "nu": cfg.nu, "pattern": cfg.pattern,
            "family": f"grid-diffusion-{cfg.dim}d",
            "version": __version__, "dtype": "float32", "config": dataclasses.asdict(cfg), **extra}
    write_weights(path, meta, model.state_dict())


def fit_vcycle(cfg, out, *, resume=False, progress=True):
    """Train and write the best weights (by validation PCG iterations) to ``out``.

    Returns the history (list of dicts per epoch).
    """
    model, opt, rng = start_run(cfg, lambda: SmootherNet(cfg.dim, cfg.hidden, cfg.layers,
                                                               pattern=cfg.pattern))
    val = validation_set(cfg)

    def step():
        n = int(rng.choice(cfg.sizes))
        hs = []
        for _ in range(cfg.batch):
            p = sample_problem(cfg, n, rng)
            hs.append(multigrid.grid_hierarchy(p.A, p.grid_shape))
        H = multigrid.stack(hs)
        H.with_stencils([model.smoother(lvl.A.S) for lvl in H.levels[:-1]], sweeps=cfg.nu)
        A0 = H.levels[0].A
        e = A0.pad(torch.as_tensor(rng.standard_normal((cfg.batch, A0.n))))
        loss = error_reduction(H, e, cfg.power_steps).mean()
        return optimizer_step(opt, model.parameters(), loss)

    history, best, minutes = fit_epochs(model, opt, rng, cfg, out + ".ckpt", step=step,
                                        validate=lambda: validate(model, cfg, val), resume=resume,
                                        progress=progress, desc=f"vcycle-{cfg.dim}d")
    final = SmootherNet(cfg.dim, cfg.hidden, cfg.layers, pattern=cfg.pattern)
    final.load_state_dict({k: v.float() for k, v in best[1].items()})
    save(out, final, cfg, {"best_epoch": best[2], "val_iterations": best[0],
                           "train_minutes": round(minutes, 2)})
    return history
