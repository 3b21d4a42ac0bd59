"""The epoch loop shared by the fits (V-cycle, algebraic smoother, DCDM): checkpoints, resume,
selection, budget; their set-up and weights files."""

from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch


def fit_epochs(model, opt, rng, cfg, ckpt, *, step, validate, resume=False, progress=True, desc=""):
    """Train ``model`` for ``cfg.epochs`` epochs of ``cfg.steps_per_epoch`` calls of ``step()``.

    ``step()`` draws its batch from ``rng``, takes one optimizer step and
    returns the loss; ``validate()`` returns ``(mean iterations, list)``.  The
    starting point is validated first (epoch -1) and is a candidate, so the
    best state is never worse on validation than the start.  Everything
    (model, optimizer, RNG state, history, best state) is checkpointed to
    ``ckpt`` after every epoch; ``resume`` continues from it.  Stops early
    after ``cfg.minutes``.

    Returns
    -------
    history : list of dict
        ``{"epoch", "loss", "val", "val_its"}`` per epoch, the start first.
    best : tuple
        ``(val, state_dict, epoch)`` of the best epoch.
    minutes : float
        Wall time spent in this call.
    """
    start, history, best = 0, [], (np.inf, None, -1)
    if resume and os.path.exists(ckpt):
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, history = state["epoch"] + 1, state["history"]
        best = (state["best_val"], state["best_state"], state["best_epoch"])
        rng.bit_generator.state = state["rng"]
    if start == 0:
        v0, its0 = validate()
        history.append({"epoch": -1, "loss": None, "val": v0, "val_its": its0})
        best = (v0, copy.deepcopy(model.state_dict()), -1)
    t_start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start, desc=desc, unit="epoch")
    for epoch in range(start, cfg.epochs):
        losses = [step() for _ in range(cfg.steps_per_epoch)]
        v, its = validate()
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val": v, "val_its": its})
        if v < best[0]:
            best = (v, copy.deepcopy(model.state_dict()), epoch)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
                    "history": history, "best_val": float(best[0]), "best_state": best[1],
                    "best_epoch": best[2], "rng": rng.bit_generator.state}, ckpt)
        if bar is not None:
            bar.set_postfix(loss=f"{np.mean(losses):.3f}", val=f"{v:.2f}", best=f"{best[0]:.2f}")
            bar.update()
        if (time.perf_counter() - t_start) / 60 > cfg.minutes:
            break
    if bar is not None:
        bar.close()
    return history, best, (time.perf_counter() - t_start) / 60


def start_run(cfg, make_model):
    """``(model, optimizer, rng)`` for a fit: torch seeded with ``cfg.seed`` and limited to
    ``cfg.threads``, ``make_model()`` in float64, Adam at ``cfg.lr``, a NumPy generator."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    model = make_model().double()
    return model, torch.optim.Adam(model.parameters(), lr=cfg.lr), np.random.default_rng(cfg.seed)


def write_weights(path, meta, state_dict):
    """Write a weights file (``{"meta", "state_dict"}``) atomically: a temporary file, then a
    rename, so an interrupted write never leaves a half file under ``path``."""
    tmp = path + ".tmp"
    torch.save({"meta": meta, "state_dict": state_dict}, tmp)
    os.replace(tmp, path)


def optimizer_step(opt, params, loss):
    """Backward, clip the gradient norm to 1, step; returns the loss as a float."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return float(loss.detach())
