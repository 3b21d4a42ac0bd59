"""Fit a :class:`~learnsolve.nn.FactorGNN` on ConDiff-type problems generated on the fly."""

from __future__ import annotations

import copy
import dataclasses
import os
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .. import __version__, krylov, precond, problems
from ..nn import FactorGNN
from ._sparse import factor_triplets
from .losses import KaporinFSAI, fsai_low_frequency, fsai_residual, hutchinson, kaporin_ic, low_frequency

LOSSES = {"ic": ("lowfreq", "hutchinson", "both", "kaporin"),
          "correct": ("lowfreq", "hutchinson", "both", "kaporin"),
          "fsai": ("kaporin", "fsai", "lowfreq", "both"),
          "select": ("imitate",)}


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved inside the weights file)."""

    kind: str = "correct"
    loss: str = "lowfreq"
    family: str = "condiff-2d"  # or "fem": P1 on unstructured triangle/tetrahedron meshes
    channels: int = 16
    layers: int = 3
    pattern: str = "A"  # or "ic1" (IC(1)'s level-1 fill), "A2" (A²'s pattern, for FSAI)
    correction: str = "add"  # kind "correct": "add" (l + α f) or "scale" (l · exp(α f))
    lr: float = 3e-4
    epochs: int = 40
    samples_per_epoch: int = 24
    sizes: tuple = (32, 48, 64, 96, 128)
    contrast_range: tuple = (1e1, 1e4)
    variance_range: tuple = (0.1, 2.0)
    family_weights: tuple = (0.5, 0.4, 0.1)  # piecewise, log-normal, Poisson
    fem_sizes: tuple = ((16, 24, 32, 48), (6, 8, 10, 12))  # lattice cells per side, 2D and 3D
    fem_dim_weights: tuple = (0.5, 0.5)
    rhs_per_matrix: int = 4
    val_size: int = 128
    seed: int = 0
    minutes: float = 25.0
    threads: int = 2


def draw_problem(cfg, n, rng, *, dim=2, length_scales=(0.05, 0.2)):
    """ConDiff piecewise / log-normal diffusion or Poisson on an ``n``-per-side grid.

    The family is drawn with ``cfg.family_weights``, contrast and variance from
    ``cfg.contrast_range`` / ``cfg.variance_range``; deterministic for ``rng``'s state.
    """
    fam = rng.choice(3, p=np.asarray(cfg.family_weights) / np.sum(cfg.family_weights))
    seed = int(rng.integers(2**31))
    cov = str(rng.choice(["exponential", "gaussian", "cubic"]))
    ls = float(rng.uniform(*length_scales))
    if fam == 0:
        c = float(np.exp(rng.uniform(*np.log(cfg.contrast_range))))
        return problems.diffusion(n, dim=dim, contrast=c, covariance=cov, length_scale=ls, seed=seed)
    if fam == 1:
        v = float(rng.uniform(*cfg.variance_range))
        return problems.diffusion(n, dim=dim, variance=v, covariance=cov, length_scale=ls, seed=seed)
    return problems.poisson((n,) * dim, seed=seed)


def draw_fem_problem(cfg, rng):
    """P1 FEM diffusion with inclusions on a jittered 2D/3D mesh (size, contrast, count drawn)."""
    d = int(rng.choice(2, p=np.asarray(cfg.fem_dim_weights) / np.sum(cfg.fem_dim_weights)))
    n = int(rng.choice(cfg.fem_sizes[d]))
    c = float(np.exp(rng.uniform(*np.log(cfg.contrast_range))))
    count = int(rng.integers(4, 32 if d == 0 else 20))
    return problems.fem_diffusion(n, dim=d + 2, contrast=c, count=count, seed=int(rng.integers(2**31)),
                                  rhs="random")


def sample_problem(cfg, rng):
    """One training problem: ConDiff piecewise / log-normal 2D diffusion or Poisson, or FEM."""
    if cfg.family == "fem":
        return draw_fem_problem(cfg, rng)
    return draw_problem(cfg, int(rng.choice(cfg.sizes)), rng)


def validation_set(cfg):
    """Fixed problems (seeds unseen in training) for selection by PCG iterations."""
    if cfg.family == "fem":
        return [problems.fem_diffusion(64, dim=2, contrast=1e4, seed=10_001, rhs="random"),
                problems.fem_diffusion(64, dim=2, contrast=1e2, seed=10_002, rhs="random"),
                problems.fem_diffusion(16, dim=3, contrast=1e4, seed=10_003, rhs="random"),
                problems.fem_diffusion(16, dim=3, contrast=1e1, seed=10_004, rhs="random")]
    n = cfg.val_size
    return [problems.diffusion(n, contrast=1e4, seed=10_001),
            problems.diffusion(n, contrast=1e2, seed=10_002),
            problems.diffusion(n, variance=2.0, seed=10_003),
            problems.poisson((n, n), seed=10_004)]


def pcg_iterations(A, b, M, rtol=1e-6):
    res = []
    x, info = krylov.cg(A, b, rtol=rtol, M=M, residuals=res, maxiter=20 * A.shape[0])
    return len(res) - 1 if info == 0 else np.inf


def select_targets(A):
    """Labels and weights of the learned-pattern loss (kind ``'select'``).

    Labels: the Kaporin-optimal pattern of every row (exhaustive selection).
    Weights: each row's gain from it over ``A²``'s pattern, ``log(s_i(A²) / s_i(opt))``
    (``s_i = g_ii⁻²``), normalized to mean 1 over the candidates: most rows have several
    near-equivalent patterns and gain nothing, while the rows at coefficient jumps gain a
    lot, and it is there the pattern decides the iteration count.
    """
    from ..ops import candidates, fsai_factor, selection_mask, top_per_row

    A = sp.csr_array(A)
    labels = selection_mask(A, "exhaustive")
    C, budget = candidates(A)
    keep = top_per_row(C, labels.astype(float), budget)
    gain = 2.0 * np.log(fsai_factor(A, keep).diagonal() / fsai_factor(A, "A2").diagonal())
    w = np.repeat(np.maximum(gain, 0.0), np.diff(C.indptr)) + 1e-3
    return (torch.as_tensor(labels, dtype=torch.float32),
            torch.as_tensor(w / w.mean(), dtype=torch.float32))


class Sample:
    """A problem turned into model inputs and loss data (scaled space)."""

    def __init__(self, model, p, cfg, rng):
        self.tensors, (rows, cols, d) = precond.factor_inputs(model, p.A)
        if cfg.kind == "select":
            self.labels, self.weights = select_targets(p.A)
            return
        self.rows = torch.as_tensor(rows, dtype=torch.int64)
        self.cols = torch.as_tensor(cols, dtype=torch.int64)
        s = 1.0 / np.sqrt(d)
        At = sp.csr_array(sp.diags_array(s) @ p.A @ sp.diags_array(s))
        C = sp.coo_array(At)
        self.A = (torch.as_tensor(C.row.astype(np.int64)), torch.as_tensor(C.col.astype(np.int64)),
                  torch.as_tensor(C.data))
        k = cfg.rhs_per_matrix
        if cfg.loss in ("lowfreq", "both"):
            b = rng.standard_normal((At.shape[0], k))
            x = spla.splu(sp.csc_matrix(At)).solve(b)
            self.x, self.b = torch.as_tensor(x), torch.as_tensor(b)
        self.z = torch.as_tensor(rng.standard_normal((At.shape[0], k)))
        if cfg.loss in ("kaporin", "both") and cfg.kind == "fsai":
            n = At.shape[0]
            r = np.concatenate([rows, np.arange(n)])
            c = np.concatenate([cols, np.arange(n)])
            self.perm = torch.as_tensor(np.lexsort((c, r)))
            pattern = sp.csr_array((np.ones(r.size), (r, c)), shape=(n, n))
            self.kaporin = KaporinFSAI(pattern, At)

    def loss(self, model, cfg):
        """The configured loss; the relative ones are minimized in log form so that
        every sample weighs by its relative improvement, whatever its conditioning."""
        off, diag = model(**self.tensors)
        if cfg.kind == "select":  # imitate the exhaustive selection (logistic loss per candidate)
            return torch.nn.functional.binary_cross_entropy_with_logits(off, self.labels,
                                                                        weight=self.weights)
        L = factor_triplets(off.double(), diag.double(), self.rows, self.cols)
        if cfg.kind == "fsai" and cfg.loss in ("lowfreq", "both"):
            lf = torch.log(fsai_low_frequency(L, self.x, self.b))
            return lf if cfg.loss == "lowfreq" else lf + self.kaporin(L[2][self.perm])
        if cfg.loss == "lowfreq":
            return torch.log(low_frequency(L, self.x, self.b))
        if cfg.loss == "both":  # low-frequency fit + Hutchinson's all-frequency fit
            return (torch.log(low_frequency(L, self.x, self.b))
                    + torch.log(hutchinson(L, self.A, self.z)))
        if cfg.loss == "hutchinson":
            return torch.log(hutchinson(L, self.A, self.z))
        if cfg.loss == "fsai":
            return torch.log(fsai_residual(L, self.A, self.z))
        if cfg.kind != "fsai":  # kaporin for L Lᵀ
            return kaporin_ic(L, self.A, self.z)
        return self.kaporin(L[2][self.perm])  # already a log


def validate(model, val, baseline):
    """Mean ratio of PCG iterations with the model's factor to the baseline's."""
    lf = precond.LearnedFactor("val", model, {})
    ratios = []
    for p, base in zip(val, baseline):
        ratios.append(pcg_iterations(p.A, p.b, lf.aspreconditioner(p.A, probe=False)) / base)
    return float(np.mean(ratios))


def meta_for(cfg, best_ratio, baseline_name):
    return {"method": "factor", "kind": cfg.kind, "channels": cfg.channels, "layers": cfg.layers,
            "pattern": cfg.pattern, "correction": cfg.correction,
            "family": cfg.family, "version": __version__, "dtype": "float32",
            "validation_ratio": best_ratio, "validation_baseline": baseline_name,
            "config": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in dataclasses.asdict(cfg).items()}}


def fit(cfg, out, *, resume=False, progress=True):
    """Train, checkpoint every epoch to ``out + '.ckpt'``, write the best model to ``out``.

    Selection is by real PCG iteration counts on :func:`validation_set`
    (ratio to IC(0), or to Jacobi for FSAI), not by the loss.  Stops after
    ``cfg.epochs`` epochs or ``cfg.minutes`` of wall time; ``resume=True``
    continues from the checkpoint.  Returns the history.
    """
    if cfg.family not in ("condiff-2d", "fem"):
        raise ValueError(f"learnsolve train: unknown family {cfg.family!r}; use 'condiff-2d' or 'fem'.")
    if cfg.loss not in LOSSES[cfg.kind]:
        raise ValueError(f"learnsolve train: loss {cfg.loss!r} does not fit kind {cfg.kind!r}; "
                         f"use one of {LOSSES[cfg.kind]}.")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = FactorGNN(cfg.kind, channels=cfg.channels, layers=cfg.layers, pattern=cfg.pattern,
                      correction=cfg.correction)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ckpt = out + ".ckpt"
    start, history = 0, []
    val = validation_set(cfg)
    base_fn = precond.jacobi if cfg.kind in ("fsai", "select") else precond.ic0
    baseline = [pcg_iterations(p.A, p.b, base_fn(p.A)) for p in val]
    best_ratio, best_state = validate(model, val, baseline), copy.deepcopy(model.state_dict())
    if resume and os.path.exists(ckpt):
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = int(state["epoch"]) + 1, list(state["history"])
        best_ratio, best_state = float(state["best_ratio"]), state["best_state"]
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(range(start, cfg.epochs), desc=f"train {cfg.kind}/{cfg.loss}", disable=not progress)
    for epoch in bar:
        rng = np.random.default_rng([cfg.seed, epoch])
        losses = []
        model.train()
        for _ in range(cfg.samples_per_epoch):
            sample = Sample(model, sample_problem(cfg, rng), cfg, rng)
            loss = sample.loss(model, cfg)
            if not torch.isfinite(loss):
                continue
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
        ratio = validate(model, val, baseline)
        if ratio < best_ratio:
            best_ratio, best_state = ratio, copy.deepcopy(model.state_dict())
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
                        "val_ratio": ratio})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3g}", val=f"{ratio:.3f}", best=f"{best_ratio:.3f}")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                    "history": history, "best_ratio": best_ratio, "best_state": best_state}, ckpt)
        if time.perf_counter() - t0 > 60 * cfg.minutes:
            break
    torch.save({"meta": meta_for(cfg, best_ratio, base_fn.__name__), "state_dict": best_state}, out)
    return history
