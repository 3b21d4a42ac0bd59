"""Headroom below classical FSAI: how few PCG iterations can *any* G on A²'s pattern reach?

The target for a learned ``G`` (``M⁻¹ = Gᵀ G``, lower triangular on ``A``'s or
``A²``'s pattern) is at most 1.2× IC(0)'s iterations.  Classical FSAI on
``A²``'s pattern is the Kaporin-optimal ``G`` there and takes 1.16–1.19×.  This
script asks whether a network could do better than classical FSAI, by skipping
the network: for one problem at a time every entry of
``G = G_FSAI ∘ exp(θ)`` is a free parameter, optimized by Adam from ``θ = 0``
(classical FSAI) against

- ``kaporin``: the exact Kaporin number of ``G A Gᵀ`` (FSAI minimizes it, so
  its gradient at the start should vanish: a check of the set-up);
- ``pcg-K``: ``log`` of the A-norm error left after ``K`` unrolled PCG steps
  from zero, for fixed right-hand sides ``b`` (``x = A⁻¹ b``), which is what CG
  minimizes over its Krylov space;
- ``spectrum``: ``log λ_max − mean log λ_1..10`` of ``G A Gᵀ`` (eigenvectors
  recomputed each step, gradient through the Rayleigh quotients).

Every ``--every`` steps the real PCG iteration count (rtol 1e-6, median over
three held-out right-hand sides) is recorded.  The table gives classical FSAI's
count, the fewest seen at any step (optimistic: picked on the evaluation
itself) and the last.  It also prints the directional derivative of the
``pcg-K`` objective by autograd against central differences: beyond a few
dozen steps, unrolled PCG in floating point is not usefully differentiable.

    python benchmarks/fsai_headroom.py     # about 6 min; writes benchmarks/results/factors/headroom.md/.png
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

import learnsolve
from learnsolve.bench import blas_single_thread, machine_info
from learnsolve.ops import fsai_factor, with_fill
from learnsolve.train import KaporinFSAI, coo_matmul
from learnsolve.train.losses import fsai_pcg_error


def triplets(M):
    C = sp.coo_array(M)
    return (torch.as_tensor(C.row.astype(np.int64)), torch.as_tensor(C.col.astype(np.int64)),
            torch.as_tensor(C.data))


class Instance:
    """One problem in Jacobi-scaled form with classical FSAI on A²'s pattern."""

    def __init__(self, problem, rhs=16, seed=0):
        A = sp.csr_array(problem.A)
        s = 1.0 / np.sqrt(A.diagonal())
        self.A = sp.csr_array(sp.diags_array(s) @ A @ sp.diags_array(s))
        G0 = sp.csr_array(fsai_factor(with_fill(self.A, "A2"), "A"))
        G0.sort_indices()
        self.pattern = G0
        self.rows, self.cols, self.g0 = triplets(G0)  # CSR order (COO of a sorted CSR)
        self.At = triplets(self.A)
        rng = np.random.default_rng(seed)
        lu = spla.splu(sp.csc_matrix(self.A))
        self.x = torch.as_tensor(lu.solve(rng.standard_normal((self.A.shape[0], rhs))))
        self.held_out = rng.standard_normal((3, self.A.shape[0]))
        self.kaporin = KaporinFSAI(G0, self.A)

    def G(self, g):
        return sp.csr_array((np.asarray(g), self.pattern.indices, self.pattern.indptr),
                            shape=self.A.shape)

    def iterations(self, g=None, M=None):
        """Median PCG iterations (rtol 1e-6) over the held-out right-hand sides, with
        ``M⁻¹ = Gᵀ G`` for values ``g`` (or the preconditioner ``M``)."""
        if M is None:
            M = learnsolve.precond.inverse_factored(self.G(g), name="G")
        counts = []
        for b in self.held_out:
            res = []
            learnsolve.krylov.cg(self.A, b, rtol=1e-6, M=M, residuals=res, maxiter=20_000)
            counts.append(len(res) - 1)
        return int(np.median(counts))

    def rayleigh(self, g, U):
        n = U.shape[0]
        y = coo_matmul(self.cols, self.rows, g, U, n)
        y = coo_matmul(self.rows, self.cols, g, coo_matmul(*self.At, y, n), n)
        return (U * y).sum(0) / (U * U).sum(0)

    def objective(self, name):
        """``f(g) -> loss`` (a torch scalar) for the objective's name."""
        if name == "kaporin":
            return self.kaporin
        if name.startswith("pcg-"):
            steps = int(name[4:])
            return lambda g: fsai_pcg_error((self.rows, self.cols, g), self.At, self.x, steps)

        def spectrum(g):
            G = self.G(g.detach().numpy())
            S = sp.csc_matrix(G @ self.A @ G.T)
            _, lo = spla.eigsh(S, k=10, sigma=0, which="LM")
            _, hi = spla.eigsh(S, k=1, which="LA")
            return (torch.log(self.rayleigh(g, torch.as_tensor(hi))[0])
                    - torch.log(self.rayleigh(g, torch.as_tensor(lo))).mean())
        return spectrum


def optimize(inst, name, steps, lr, every):
    """Adam on θ from 0; PCG iterations every ``every`` steps: list of (step, its)."""
    f = inst.objective(name)
    theta = torch.zeros_like(inst.g0, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    trace, grad0 = [], None
    for step in range(steps + 1):
        g = inst.g0 * torch.exp(theta)
        if step % every == 0:
            trace.append((step, inst.iterations(g.detach().numpy())))
        if step == steps:
            break
        loss = f(g)
        opt.zero_grad()
        loss.backward()
        if grad0 is None:
            grad0 = float(theta.grad.norm())
        opt.step()
    return trace, grad0


def derivative_check(inst, steps, seed=1):
    """Directional derivative of ``pcg-steps`` at FSAI: autograd, and central differences."""
    f = inst.objective(f"pcg-{steps}")
    v = torch.as_tensor(np.random.default_rng(seed).standard_normal(inst.g0.shape))
    theta = torch.zeros_like(inst.g0, requires_grad=True)
    f(inst.g0 * torch.exp(theta)).backward()
    ad = float(theta.grad @ v)
    fd = [float((f(inst.g0 * torch.exp(h * v)) - f(inst.g0 * torch.exp(-h * v))) / (2 * h))
          for h in (1e-3, 1e-5, 1e-7)]
    return ad, fd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/factors/headroom.md")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    n = args.side
    cases = [learnsolve.problems.diffusion(n, contrast=1e4, seed=3),
             learnsolve.problems.diffusion(n, contrast=1e2, seed=5),
             learnsolve.problems.diffusion(n, variance=2.0, seed=4)]
    objectives = [("kaporin", 1e-2), ("pcg-30", 2e-3), ("spectrum", 1e-2)]
    rows, curves, checks = [], {}, []
    t0 = time.perf_counter()
    with blas_single_thread():
        for p in cases:
            inst = Instance(p)
            ic0 = inst.iterations(M=learnsolve.precond.ic0(inst.A))
            for name, lr in objectives:
                trace, grad0 = optimize(inst, name, args.steps, lr, args.every)
                its = [t[1] for t in trace]
                rows.append((p.name, ic0, name, its[0], min(its), its[-1], grad0))
                curves[(p.name, name)] = trace
                print(rows[-1], f"{time.perf_counter() - t0:.0f} s", flush=True)
            for k in (10, 30, 100):
                checks.append((p.name, k, *derivative_check(inst, k)))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    lines = [f"# Headroom below classical FSAI on A²'s pattern ({n}² grids)", "",
             f"`python benchmarks/fsai_headroom.py --side {n} --steps {args.steps}` on "
             f"{machine_info()}; total {time.perf_counter() - t0:.0f} s.", "",
             "Per-instance optimization of every entry of `G = G_FSAI ∘ exp(θ)` (Adam, "
             f"{args.steps} steps, from classical FSAI). PCG iterations at rtol 1e-6, median "
             "over 3 held-out right-hand sides, every "
             f"{args.every} steps; 'fewest' is picked on that evaluation itself (optimistic).", "",
             "| problem | IC(0) its | objective | FSAI its | fewest its | last its | fewest / FSAI | "
             "‖∇‖ at FSAI |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, ic0, obj, first, best, last, grad0 in rows:
        lines.append(f"| {name} | {ic0} | {obj} | {first} | {best} | {last} | {best / first:.3f} | "
                     f"{grad0:.1e} |")
    lines += ["", "Directional derivative of `pcg-K` at classical FSAI (random direction): "
              "autograd against central differences with steps 1e-3, 1e-5, 1e-7.", "",
              "| problem | K | autograd | FD 1e-3 | FD 1e-5 | FD 1e-7 |", "|---|---:|---:|---:|---:|---:|"]
    for name, k, ad, fd in checks:
        lines.append(f"| {name} | {k} | {ad:.4g} | " + " | ".join(f"{v:.4g}" for v in fd) + " |")
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.4), squeeze=False)
    for ax, p in zip(axes[0], cases):
        for name, _ in objectives:
            steps, its = zip(*curves[(p.name, name)])
            ax.plot(steps, its, marker="o", ms=3, label=name)
        ax.set_title(p.name, fontsize=8)
        ax.set_xlabel("optimization step")
        ax.set_ylabel("PCG iterations (rtol 1e-6)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = os.path.splitext(args.out)[0] + ".png"
    fig.savefig(png, dpi=120)
    print("\n".join(lines))
    print("wrote", args.out, png)


if __name__ == "__main__":
    main()
