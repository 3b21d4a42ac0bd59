"""krypy's recycling CG as an outside reference for ``learnsolve.krylov.rcg`` (issue 25).

20 random right-hand sides with one 2D P1 FEM matrix (22,201 unknowns, contrast 1e4), Jacobi-
preconditioned on both sides: a long solve (hundreds of iterations), where recycling has
something to deflate.  krypy's recycling CG builds its Ritz vectors in the inner product of
``M⁻¹``, so it needs ``Minv``; that exists for Jacobi (``diag(A)``) but not for a multigrid
cycle, which ``rcg`` handles without it (it takes ``M A p`` from the solve).  krypy 2.2.0 (the
last release) needs SciPy < 1.12 and NumPy < 2, so it runs in its own environment on matrices
this script writes::

    python benchmarks/sequences_krypy.py write /tmp/kdata          # here: the systems
    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install krypy==2.2.0 "scipy==1.11.4" "numpy<2"
    /tmp/kvenv/bin/python benchmarks/sequences_krypy.py krypy /tmp/kdata
    python benchmarks/sequences_krypy.py learnsolve /tmp/kdata     # here: cg and rcg

Each prints total iterations, total time and the worst true relative residual over the
solves, for plain CG and for recycling 8 Ritz vectors of smallest value.
"""

import sys
import time

import numpy as np
import scipy.sparse as sp

K, COUNT, TOL = 8, 20, 1e-6
#: krypy stops on ``‖r‖_M / ‖b‖_M`` (the preconditioned norm); this tolerance brings its true
#: relative residual to the 1e-6 the learnsolve side reaches (measured).
KRYPY_TOL = 2e-8


def write(folder):
    import os

    import learnsolve

    os.makedirs(folder, exist_ok=True)
    p = learnsolve.problems.fem_diffusion(150, contrast=1e4, seed=0, rhs="random")
    sp.save_npz(f"{folder}/A.npz", sp.csr_matrix(p.A))
    rng = np.random.default_rng(0)
    np.save(f"{folder}/B.npy", rng.standard_normal((COUNT, p.n)))


def load(folder):
    """``(A, B, M, M⁻¹)`` with Jacobi ``M = D⁻¹``."""
    A = sp.load_npz(f"{folder}/A.npz").tocsr()
    B = np.load(f"{folder}/B.npy")
    d = A.diagonal()
    return A, B, sp.diags(1.0 / d).tocsr(), sp.diags(d).tocsr()


def report(name, its, seconds, relres):
    print(f"{name}: {sum(its)} iterations ({min(its)}-{max(its)} per solve), {seconds:.2f} s, "
          f"worst true relres {max(relres):.1e}", flush=True)


def run_krypy(folder):
    import krypy

    A, B, M, Minv = load(folder)
    for name, recycle in (("krypy Cg", False), (f"krypy RecyclingCg ({K} Ritz, smallest)", True)):
        recycler = krypy.recycling.RecyclingCg() if recycle else None
        factory = krypy.recycling.factories.RitzFactorySimple(n_vectors=K, which="sm")
        its, relres = [], []
        t0 = time.perf_counter()
        for b in B:
            ls = krypy.linsys.LinearSystem(A, b[:, None], M=M, Minv=Minv, self_adjoint=True,
                                           positive_definite=True)
            if recycle:
                sol = recycler.solve(ls, vector_factory=factory, tol=KRYPY_TOL, maxiter=5000)
            else:
                sol = krypy.linsys.Cg(ls, tol=KRYPY_TOL, maxiter=5000)
            its.append(len(sol.resnorms) - 1)
            x = np.asarray(sol.xk).ravel()
            relres.append(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
        report(name, its, time.perf_counter() - t0, relres)


def run_learnsolve(folder):
    import learnsolve
    from learnsolve.bench import blas_single_thread

    A, B, M, _ = load(folder)
    with blas_single_thread():
        for name, space in (("learnsolve cg", None),
                            (f"learnsolve rcg ({K} Ritz, smallest)", learnsolve.krylov.RecycleSpace(K))):
            its, relres = [], []
            t0 = time.perf_counter()
            for b in B:
                res = []
                if space is None:
                    x, info = learnsolve.krylov.cg(A, b, rtol=TOL, M=M, residuals=res)
                else:
                    x, info = learnsolve.krylov.rcg(A, b, rtol=TOL, M=M, residuals=res,
                                                    recycle=space)
                its.append(len(res) - 1)
                relres.append(learnsolve.relative_residual(A, x, b))
            report(name, its, time.perf_counter() - t0, relres)


if __name__ == "__main__":
    {"write": write, "krypy": run_krypy, "learnsolve": run_learnsolve}[sys.argv[1]](sys.argv[2])
