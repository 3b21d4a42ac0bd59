"""Fit the DCDM direction network: a nonlinear correction on top of a trained V-cycle.

The V-cycle (``vcycle-2d``/``vcycle-3d`` from the zoo, or any weights file)
is frozen; only :class:`~learnsolve.nn.DirectionNet` is trained.  Loss: the
energy-norm error left after ``unroll`` DCDM iterations (directions
A-orthogonalized against the last two, exact line searches), per iteration,

    log(‖e_s‖²_A / ‖e_0‖²_A) / s,

differentiated through all of them.  Kaneda et al. minimize the one-step
residual form ‖r − α A q‖²; measured here, a network trained on one step
lowered that step's error but *raised* the DCDM iteration count (a greedy
nonlinear direction spoils the later ones), so the loss follows the solve.  The
errors ``e`` mix white noise and smooth noise and are then run through a
random number (0–8) of V-cycle PCG steps, so the batch
concentrates on the error the V-cycle removes slowest — the directions a
conjugate-direction solve actually meets (Ritz-vector-like, as in the paper).
Checkpoints every epoch, ``resume``, selection of the best epoch by real DCDM
iteration counts on fixed validation problems; the starting point (zero
correction, i.e. the V-cycle itself) is a candidate, so the shipped model is
never worse on validation than its V-cycle.
"""

from __future__ import annotations

import copy
import dataclasses
import os

import numpy as np
import torch

from .. import __version__, krylov, multigrid
from ..nn import DirectionNet
from ._loop import fit_epochs, optimizer_step, write_weights
from ._vcycle import sample_problem
from ._vcycle import validation_set as vcycle_validation_set


@dataclasses.dataclass
class DCDMConfig:
    """Everything that defines a DCDM training run (saved inside the weights file)."""

    dim: int = 2
    hidden: int = 8
    base: str | None = None  # zoo name or path of the V-cycle; default vcycle-<dim>d
    lr: float = 2e-3
    epochs: int = 30
    steps_per_epoch: int = 20
    batch: int = 4
    sizes: tuple | None = None  # (32, 64) in 2D, (12, 16) in 3D
    contrast_range: tuple = (1e1, 1e4)
    variance_range: tuple = (0.5, 3.0)
    family_weights: tuple = (0.5, 0.3, 0.2)  # piecewise, log-normal, Poisson
    max_descent_steps: int = 8
    unroll: int = 4
    val_size: int | None = None  # 128 in 2D, 24 in 3D
    seed: int = 0
    minutes: float = 20.0
    threads: int = 2

    def __post_init__(self):
        if self.base is None:
            self.base = f"vcycle-{self.dim}d"
        if self.sizes is None:
            self.sizes = (32, 64) if self.dim == 2 else (12, 16)
        if self.val_size is None:
            self.val_size = 128 if self.dim == 2 else 24
        self.sizes = tuple(self.sizes)


def load_base(cfg):
    """The frozen V-cycle (LearnedVCycle) named by ``cfg.base`` (zoo name or path)."""
    from ..zoo import pretrained

    if os.path.exists(cfg.base):
        return pretrained(path=cfg.base)
    return pretrained(cfg.base)


def dcdm_iterations(M, p, maxiter=500):
    res = []
    _, info = krylov.dcdm(p.A, p.b, rtol=1e-6, M=M, residuals=res, maxiter=maxiter, k=2)
    return len(res) - 1 if info == 0 else maxiter


def validate(net, base, val):
    """Mean DCDM iterations (k=2, rtol 1e-6) with the current network on ``val``."""
    from ..precond import LearnedDCDM

    model = LearnedDCDM("val", base, copy.deepcopy(net).float().eval(), {})
    its = [dcdm_iterations(model.directions(p, check=False, clusters=False), p) for p in val]
    return float(np.mean(its)), its


class Batch:
    """Problems of one grid size with their V-cycles, as torch tensors (float64)."""

    def __init__(self, cfg, base, n, rng):
        hs = [multigrid.grid_hierarchy(p.A, p.grid_shape)
              for p in (sample_problem(cfg, n, rng) for _ in range(cfg.batch))]
        self.H = H = multigrid.stack(hs)
        model = copy.deepcopy(base.model).double()
        with torch.no_grad():
            H.with_stencils([model.smoother(lvl.A.S) for lvl in H.levels[:-1]],
                            sweeps=int(base.meta.get("nu", 1)))
        self.A0 = H.levels[0].A
        self.S = self.A0.S
        self.n = self.A0.n

    def A(self, x):
        return self.A0 @ x

    def V(self, r):
        return self.H.cycle(r)

    def errors(self, rng, max_steps):
        """Random errors, then 0..max_steps V-cycle PCG steps (no gradient)."""
        B = self.S.shape[0]
        white = self.A0.pad(torch.as_tensor(rng.standard_normal((B, self.n))))
        with torch.no_grad():
            smooth = self.V(white)
            smooth = smooth * torch.sqrt((white * white).sum((1, 2, 3), keepdim=True)
                                         / (smooth * smooth).sum((1, 2, 3), keepdim=True))
            w = torch.as_tensor(rng.uniform(0, 1, (B, 1, 1, 1)))
            e = w * white + (1 - w) * smooth
            steps = rng.integers(0, max_steps + 1, B)
            r = self.A(e)
            p, rz = None, None
            for k in range(int(steps.max())):
                z = self.V(r)
                rz_new = _dot(r, z)
                p = z if p is None else z + (rz_new / rz) * p
                rz = rz_new
                Ap = self.A(p)
                alpha = rz / _dot(p, Ap)
                live = torch.as_tensor(steps > k).view(B, 1, 1, 1)
                e = torch.where(live, e - alpha * p, e)
                r = torch.where(live, r - alpha * Ap, r)
            e = e / torch.sqrt(_dot(e, self.A(e)))
        return e


def _dot(a, b):
    return (a * b).sum((1, 2, 3), keepdim=True)


def unrolled_loss(net, batch, static, e, steps, k=2):
    """Mean over the batch of ``log(‖e_steps‖²_A / ‖e_0‖²_A) / steps`` after ``steps``
    DCDM iterations (directions A-orthogonalized against the last ``k``, exact
    line searches), differentiated through all of them."""
    e0 = _dot(e, batch.A(e))
    hist = []
    for _ in range(steps):
        r = batch.A(e)
        v = batch.V(r)
        z = net.direction(static, r, v, r - batch.A(v))
        p = z
        for p_j, q_j, pq_j in hist[-k:]:
            p = p - (_dot(z, q_j) / pq_j) * p_j
        q = batch.A(p)
        pq = _dot(p, q)
        e = e - (_dot(p, r) / pq) * p
        hist.append((p, q, pq))
    left = _dot(e, batch.A(e)) / e0
    return (torch.log(torch.clamp(left, min=1e-30)) / steps).mean()


def save(path, net, base, cfg, extra):
    bm = base.meta
    meta = {"method": "dcdm", "kind": f"{cfg.dim}d", "dim": cfg.dim, "channels": cfg.hidden,
            "layers": 3, "family": f"grid-diffusion-{cfg.dim}d", "version": __version__,
            "dtype": "float32", "config": dataclasses.asdict(cfg),
            "vcycle": {"name": base.name, "channels": int(bm["channels"]),
                       "layers": int(bm["layers"]), "nu": int(bm.get("nu", 1)),
                       "config": bm.get("config", {})}, **extra}
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    state.update({f"vcycle.{k}": v.float() for k, v in base.model.state_dict().items()})
    write_weights(path, meta, state)


def fit_dcdm(cfg, out, *, resume=False, progress=True):
    """Train the correction and write the best weights (by validation DCDM iterations) to ``out``.

    Returns the history (list of dicts per epoch, the first the zero-correction start).
    """
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    base = load_base(cfg)
    net = DirectionNet(cfg.dim, cfg.hidden).double()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    val = vcycle_validation_set(cfg)

    def step():
        batch = Batch(cfg, base, int(rng.choice(cfg.sizes)), rng)
        e = batch.errors(rng, cfg.max_descent_steps)
        return optimizer_step(opt, net.parameters(),
                              unrolled_loss(net, batch, net.static(batch.S), e, cfg.unroll))

    history, best, minutes = fit_epochs(net, opt, rng, cfg, out + ".ckpt", step=step,
                                        validate=lambda: validate(net, base, val), resume=resume,
                                        progress=progress, desc=f"dcdm-{cfg.dim}d")
    final = DirectionNet(cfg.dim, cfg.hidden)
    final.load_state_dict({k: v.float() for k, v in best[1].items()})
    save(out, final, base, cfg, {"best_epoch": best[2], "val_iterations": best[0],
                                 "start_val_iterations": history[0]["val"],
                                 "train_minutes": round(minutes, 2)})
    return history
