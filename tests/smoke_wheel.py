"""Smoke test of an installed (not editable) learnsolve, run by `make wheel-test` in a fresh venv.

Run from outside the checkout so that the installed package is the one imported.
Not collected by pytest (no ``test_`` prefix).
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.sparse.linalg as spla

import learnsolve


def main():
    where = os.path.dirname(learnsolve.__file__)
    assert "site-packages" in where, f"imported the source tree ({where}), not the installed wheel"
    p = learnsolve.problems.diffusion(32, contrast=1e3, seed=0)
    for M in (learnsolve.precond.ic0(p.A), learnsolve.pretrained("vcycle-2d").aspreconditioner(p.A)):
        x, info = spla.cg(p.A, p.b, M=M, rtol=1e-8)
        assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8, M.name
    cu = learnsolve.ops.cuda.source_path()
    assert cu.startswith(where) and os.path.getsize(cu) > 0, cu
    exe = os.path.join(os.path.dirname(sys.executable), "learnsolve")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == f"learnsolve {learnsolve.__version__}", version
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exe, "bench", "--problem", "poisson:24", "--precond", "jacobi,vcycle-2d",
                        "--repeats", "1", "--no-plot", "--quiet", "--out", out, "--strict"],
                       check=True, capture_output=True)
        assert os.path.exists(os.path.join(out, "results.md"))
    print(f"wheel smoke test passed: learnsolve {learnsolve.__version__} from {where}; "
          f"CUDA sources {os.path.relpath(cu, where)}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
