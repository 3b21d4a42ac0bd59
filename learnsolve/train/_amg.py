"""Fit the algebraic V-cycle's smoother network (:class:`~learnsolve.nn.AMGSmootherNet`).

Training problems are generated small: P1 FEM diffusion on unstructured 2D
triangle and 3D tetrahedron meshes with inclusions of contrast 1e0–1e6,
anisotropic grid diffusion (ε 1e-3–1, any angle) and grounded graph
Laplacians.  Each gets PyAMG's smoothed-aggregation levels
(:func:`learnsolve.multigrid.aggregation_hierarchy`) or, for a share of them,
its classical ones (:func:`learnsolve.multigrid.classical_hierarchy`),
coarsened further than at run time so that small problems have several
levels; the network predicts
every level's smoother, and the loss is the cycle's energy-norm error
reduction ``log(‖(I − M A)^s e‖_A / ‖e‖_A) / s`` on random errors — the
same loss as the grid cycle's.  Epochs are selected by real PCG iterations on
larger, unseen problems of each family.  Checkpoints every epoch,
``resume``, a time budget, the configuration in the weights file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .. import __version__, krylov, problems
from ..multigrid import aggregation_hierarchy, classical_hierarchy
from ..nn import AMGSmootherNet
from ..precond import LearnedAMG, smoother_inputs
from ._loop import fit_epochs, optimizer_step, start_run, write_weights

FAMILIES = ("fem-2d", "fem-3d", "anisotropic", "graph")


@dataclasses.dataclass
class AMGConfig:
    """Everything that defines a training run of the algebraic smoother (saved with the weights)."""

    hidden: int = 16
    layers: int = 2
    lr: float = 3e-3
    epochs: int = 30
    steps_per_epoch: int = 16
    batch: int = 4
    vectors: int = 4
    power_steps: int = 3
    family_weights: tuple = (0.35, 0.3, 0.2, 0.15)  # FAMILIES
    contrast_range: tuple = (1.0, 1e6)
    fem_sizes: tuple = ((24, 32, 48), (8, 10, 12))  # cells per side, 2D and 3D
    grid_sizes: tuple = (24, 32, 48)
    graph_sizes: tuple = (800, 1500, 3000)
    max_coarse: int = 40
    classical_share: float = 0.25  # problems trained on classical (RS) levels instead of SA's
    val_scale: int = 4  # validation problems are about this much larger per side
    seed: int = 0
    minutes: float = 25.0
    threads: int = 2

    def __post_init__(self):
        self.family_weights = tuple(self.family_weights)
        self.fem_sizes = tuple(tuple(s) for s in self.fem_sizes)


def draw_problem(cfg, rng):
    """One training problem, its family drawn with ``cfg.family_weights`` (deterministic)."""
    fam = FAMILIES[rng.choice(len(FAMILIES), p=np.asarray(cfg.family_weights) /
                              np.sum(cfg.family_weights))]
    seed = int(rng.integers(2**31))
    if fam.startswith("fem"):
        d = 2 if fam == "fem-2d" else 3
        n = int(rng.choice(cfg.fem_sizes[d - 2]))
        c = float(np.exp(rng.uniform(*np.log(cfg.contrast_range))))
        count = int(rng.integers(4, 30 if d == 2 else 16))
        return problems.fem_diffusion(n, dim=d, contrast=c, count=count, seed=seed, rhs="random")
    if fam == "anisotropic":
        n = int(rng.choice(cfg.grid_sizes))
        return problems.anisotropic(n, eps=float(10 ** rng.uniform(-3, 0)),
                                    theta=float(rng.uniform(0, np.pi)), seed=seed)
    return problems.graph_laplacian(int(rng.choice(cfg.graph_sizes)), dim=int(rng.choice([2, 3])),
                                    sigma=float(rng.uniform(0.2, 1.5)), seed=seed)


def validation_set(cfg):
    """Fixed validation problems, one per family, larger than training's and with unseen seeds,
    each with the coarsening it is meant for: ``[(problem, coarsening)]``."""
    s = cfg.val_scale
    return [(problems.fem_diffusion(max(cfg.fem_sizes[0]) * s, contrast=1e4, seed=20_001,
                                    rhs="random"), "sa"),
            (problems.fem_diffusion(max(cfg.fem_sizes[1]) * 2, dim=3, contrast=1e5, seed=20_002,
                                    rhs="random"), "sa"),
            (problems.anisotropic(max(cfg.grid_sizes) * s, eps=1e-3, theta=np.pi / 6,
                                  seed=20_003), "rs"),
            (problems.graph_laplacian(max(cfg.graph_sizes) * s, seed=20_004), "sa")]


class TorchLevels:
    """One problem's levels as torch tensors: what the differentiable cycle needs (no gradients
    flow into them; the network's output does)."""

    def __init__(self, A, max_coarse, coarsening="sa"):
        build = aggregation_hierarchy if coarsening == "sa" else classical_hierarchy
        H = build(A, max_coarse=max_coarse)
        from ..ops import to_device

        def as_t(M):
            return to_device(M, "torch")

        self.A = [as_t(lvl.A) for lvl in H.levels]
        self.P = [as_t(lvl.P) for lvl in H.levels[:-1]]
        self.R = [as_t(lvl.R) for lvl in H.levels[:-1]]
        self.inputs, self.scale, self.offdiag = [], [], []
        for lvl in H.levels[:-1]:
            x, edges, weight, T = smoother_inputs(lvl.A)
            self.inputs.append((torch.as_tensor(x), torch.as_tensor(edges), torch.as_tensor(weight)))
            self.scale.append(torch.as_tensor(1 / np.sqrt(lvl.A.diagonal()))[:, None])
            self.offdiag.append(as_t(T))
        self.coarse = torch.as_tensor(np.linalg.inv(H.levels[-1].A.toarray()))

    def __len__(self):
        return len(self.A)

    def cycle(self, coef, r, level=0):
        """One V-cycle ``M r`` (columns of ``r``) with smoother coefficients ``coef[l] = (g, h)``."""
        if level == len(self.A) - 1:
            return self.coarse @ r
        A = self.A[level]

        def smooth(v):
            g, h = coef[level]
            s, T = self.scale[level], self.offdiag[level]
            y = s * v
            return s * (g[:, None] * y + 0.5 * (T @ (h[:, None] * y) + h[:, None] * (T @ y)))

        x = smooth(r)
        x = x + self.P[level] @ self.cycle(coef, self.R[level] @ (r - A @ x), level + 1)
        return x + smooth(r - A @ x)

    def error_reduction(self, model, e, steps):
        """``log(‖(I − M A)^steps e‖_A / ‖e‖_A) / steps`` per column of ``e``."""
        coef = [model.coefficients(*inp) for inp in self.inputs]
        A = self.A[0]

        def anorm(v):
            return torch.sqrt((v * (A @ v)).sum(0))

        n0 = anorm(e)
        for _ in range(steps):
            e = e - self.cycle(coef, A @ e)
        return torch.log(anorm(e) / n0) / steps


def validate(model, val, maxiter=300):
    """Mean PCG iterations (rtol 1e-6) of the learned algebraic cycle on ``val``
    (``[(problem, coarsening)]``), the network on every level as in training."""
    lm = LearnedAMG("val", model, {})
    its = []
    for p, coarsening in val:
        M = lm.aspreconditioner(p.A, coarsening=coarsening, check=False, min_rows=0)
        res = []
        _, info = krylov.cg(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=maxiter)
        its.append(len(res) - 1 if info == 0 else maxiter)
    return float(np.mean(its)), its


def save(path, model, cfg, extra):
    meta = {"method": "amg", "kind": "smoothed-aggregation", "channels": cfg.hidden,
            "layers": cfg.layers, "inputs": model.inputs_, "ratio": model.ratio,
            "family": "sparse-spd", "version": __version__, "dtype": "float64",
            "config": dataclasses.asdict(cfg), **extra}
    write_weights(path, meta, model.state_dict())


def fit_amg(cfg, out, *, resume=False, progress=True):
    """Train and write the best weights (by validation PCG iterations) to ``out``.

    Returns the history (list of dicts per epoch).
    """
    model, opt, rng = start_run(cfg, lambda: AMGSmootherNet(hidden=cfg.hidden, layers=cfg.layers))
    val = validation_set(cfg)

    def step():
        losses = []
        for _ in range(cfg.batch):
            p = draw_problem(cfg, rng)
            coarsening = "rs" if rng.uniform() < cfg.classical_share else "sa"
            levels = TorchLevels(p.A, cfg.max_coarse, coarsening)
            if len(levels) < 2:
                continue
            e = torch.as_tensor(rng.standard_normal((p.A.shape[0], cfg.vectors)))
            losses.append(levels.error_reduction(model, e, cfg.power_steps).mean())
        return optimizer_step(opt, model.parameters(), torch.stack(losses).mean())

    history, best, minutes = fit_epochs(model, opt, rng, cfg, out + ".ckpt", step=step,
                                        validate=lambda: validate(model, val), resume=resume,
                                        progress=progress, desc="amg")
    final = AMGSmootherNet(hidden=cfg.hidden, layers=cfg.layers).double()
    final.load_state_dict(best[1])
    save(out, final, cfg, {"best_epoch": best[2], "val_iterations": best[0],
                           "train_minutes": round(minutes, 2)})
    return history
