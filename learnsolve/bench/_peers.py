"""The peers the benchmark scripts compare against, and their timing protocol.

hypre BoomerAMG runs through petsc4py (PETSc's CG with ``-pc_type hypre``,
its default BoomerAMG options, the unpreconditioned residual norm; set-up =
``KSPSetUp`` with the matrix already assembled in PETSc).  petsc4py comes
from Debian's packages in its own environment (``make petsc`` builds
``.venv-petsc``), so :func:`hypre_rows` runs it in this process when petsc4py
is importable, else in that environment as a subprocess on the same
matrices (handed over as ``.npz`` files), else leaves hypre out.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from .. import relative_residual
from .._backend import blas_single_thread

PETSC_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), ".venv-petsc", "bin", "python")
HYPRE = "hypre BoomerAMG"


def timed_runs(run, repeats):
    """One untimed ``run()`` (imports, cached kernels, first touch of memory), then ``repeats``
    timed ones: medians of ``setup``, ``solve`` and ``total``; the last run's iterations, the
    worst ``info`` and true residual."""
    run()
    runs = [run() for _ in range(repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in ("setup", "solve")}
    med["total"] = statistics.median(r["setup"] + r["solve"] for r in runs)
    return dict(med, its=runs[-1]["its"], info=max(abs(r["info"]) for r in runs),
                relres=max(r["relres"] for r in runs), repeats=repeats,
                history=runs[-1].get("history", []))


def hypre_run(A, b, *, rtol=1e-6, maxiter=5000):
    """One BoomerAMG-preconditioned CG solve of ``A x = b`` in this process (needs petsc4py);
    ``history`` holds ``‖r_k‖/‖b‖`` per iteration (PETSc records no per-iteration times)."""
    from petsc4py import PETSc

    A = sp.csr_array(A)
    it = PETSc.IntType
    M = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(it), A.indices.astype(it), A.data),
                              comm=PETSc.COMM_SELF)
    ksp = PETSc.KSP().create(comm=PETSc.COMM_SELF)
    ksp.setOperators(M)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.getPC().setHYPREType("boomeramg")
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setTolerances(rtol=rtol, max_it=maxiter)
    ksp.setConvergenceHistory()
    bv, x = M.createVecLeft(), M.createVecLeft()
    bv.setArray(b)
    t0 = time.perf_counter()
    ksp.setUp()
    t1 = time.perf_counter()
    ksp.solve(bv, x)
    t2 = time.perf_counter()
    history = (np.asarray(ksp.getConvergenceHistory()) / np.linalg.norm(b)).tolist()
    return {"its": ksp.getIterationNumber(), "setup": t1 - t0, "solve": t2 - t1,
            "info": 0 if ksp.getConvergedReason() > 0 else -1,
            "relres": relative_residual(A, x.getArray().copy(), b), "history": history}


def hypre_rows(systems, repeats, *, rtol=1e-6):
    """``{name: row}`` (see :func:`timed_runs`) of hypre on ``systems`` (``{name: (A, b)}``):
    here, or in the PETSc environment, or ``{}`` (with a note on stderr) when neither has it."""
    if importlib.util.find_spec("petsc4py") is not None:
        with blas_single_thread():
            return {name: timed_runs(lambda A=A, b=b: hypre_run(A, b, rtol=rtol), repeats)
                    for name, (A, b) in systems.items()}
    if not os.path.exists(PETSC_PYTHON):
        print(f"no petsc4py here and no {PETSC_PYTHON} (make petsc): no hypre rows", file=sys.stderr)
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        names = list(systems)
        for k, name in enumerate(names):
            A, b = systems[name]
            sp.save_npz(os.path.join(tmp, f"{k}.npz"), sp.csr_matrix(A))
            np.save(os.path.join(tmp, f"{k}.npy"), b)
        with open(os.path.join(tmp, "names.json"), "w") as f:
            json.dump(names, f)
        env = dict(os.environ, OMP_NUM_THREADS="1")
        out = subprocess.run([PETSC_PYTHON, "-m", "learnsolve.bench._peers", tmp, str(repeats),
                              str(rtol)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"the hypre run failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _main(folder, repeats, rtol):
    """The PETSc environment's part: hypre on the saved systems, rows as JSON on the last line."""
    with open(os.path.join(folder, "names.json")) as f:
        names = json.load(f)
    systems = {name: (sp.load_npz(os.path.join(folder, f"{k}.npz")),
                      np.load(os.path.join(folder, f"{k}.npy"))) for k, name in enumerate(names)}
    print(json.dumps(hypre_rows(systems, int(repeats), rtol=float(rtol))))


if __name__ == "__main__":
    _main(*sys.argv[1:4])
