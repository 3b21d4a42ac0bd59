"""learnsolve.petsc: the PETSc python-PC context (run in the petsc4py environment, `make petsc-test`)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import learnsolve

PETSc = pytest.importorskip(
    "petsc4py.PETSc",
    reason="petsc4py is not installed in this environment; `make petsc-test` makes one with Debian's "
           "python3-petsc4py and runs these tests there")
import learnsolve.petsc  # noqa: E402

from .helpers import ROOT, iterations  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "petsc_c")


def to_petsc(A):
    A = A.tocsr()
    it = PETSc.IntType
    return PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(it), A.indices.astype(it), A.data),
                                 comm=PETSc.COMM_SELF)


def ksp_for(A, name, ksp_type="cg", rtol=1e-6):
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOperators(to_petsc(A))
    ksp.setType(ksp_type)
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=2000)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    pc = ksp.getPC()
    pc.setType("python")
    ctx = learnsolve.petsc.PC(name)
    ctx.ksp_type = ksp_type
    pc.setPythonContext(ctx)
    return ksp, ctx


def solve(ksp, b):
    A = ksp.getOperators()[0]
    bv = A.createVecLeft()
    bv.setArray(b)
    xv = bv.duplicate()
    ksp.solve(bv, xv)
    return xv.getArray().copy(), ksp.getIterationNumber(), int(ksp.getConvergedReason())


@pytest.mark.parametrize("name", ["ic0", "jacobi", "vcycle-2d", "amg-sa", "amg-learned", "amg-chebyshev"])
def test_pc_apply_equals_the_learnsolve_operator(name):
    p = learnsolve.problems.diffusion(48, contrast=1e3, seed=3)
    ksp, ctx = ksp_for(p.A, name)
    np.random.seed(0)  # noqa: NPY002 (PyAMG draws its spectral-radius vectors from the legacy RNG)
    ksp.setUp()
    np.random.seed(0)  # noqa: NPY002
    M = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    r = np.random.default_rng(0).standard_normal(p.n)
    x = ksp.getOperators()[0].createVecLeft()
    y = x.duplicate()
    x.setArray(r)
    ksp.getPC().apply(x, y)
    np.testing.assert_allclose(y.getArray(), M @ r, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["ic0", "vcycle-2d"])
def test_kspcg_iterations_equal_learnsolve_cg(name):
    p = learnsolve.problems.diffusion(64, contrast=1e4, seed=5)
    ksp, _ = ksp_for(p.A, name)
    x, its, reason = solve(ksp, p.b)
    M = learnsolve.precond.build(name, p.A, grid_shape=p.grid_shape)
    assert reason > 0
    assert abs(its - iterations(p.A, p.b, M)[0]) <= 1
    assert learnsolve.relative_residual(p.A, x, p.b) <= 1.01e-6


def test_dcdm_directions_under_fcg_converge_and_under_cg_are_refused():
    p = learnsolve.problems.diffusion(48, variance=2.0, seed=6)
    ksp, _ = ksp_for(p.A, "dcdm-2d", ksp_type="fcg")
    x, its, reason = solve(ksp, p.b)
    assert reason > 0 and its <= 10
    assert learnsolve.relative_residual(p.A, x, p.b) <= 1.01e-6
    ksp, _ = ksp_for(p.A, "dcdm-2d", ksp_type="cg")
    with pytest.raises(Exception, match=r"-learnsolve_pc dcdm-2d: .*nonlinear.*-ksp_type fcg"):
        solve(ksp, p.b)


def test_bad_input_is_a_clear_error():
    p = learnsolve.problems.diffusion(32, contrast=1e2, seed=7)
    with pytest.raises(Exception, match=r"-learnsolve_pc nosuch: .*unknown preconditioner.*choose from"):
        solve(ksp_for(p.A, "nosuch")[0], p.b)
    N = p.A.tolil()
    N[0, 1] = N[0, 1] * 2
    with pytest.raises(Exception, match=r"-learnsolve_pc ic0: .*symmetric"):
        solve(ksp_for(N.tocsr(), "ic0")[0], p.b)
    other_kind = r"-learnsolve_pc vcycle-3d: .*use learnsolve.pretrained\('vcycle-2d'\)"
    with pytest.raises(Exception, match=other_kind):
        solve(ksp_for(p.A, "vcycle-3d")[0], p.b)


def test_options_select_the_preconditioner():
    p = learnsolve.problems.diffusion(32, contrast=1e2, seed=8)
    opts = PETSc.Options()
    opts["ls_learnsolve_pc"] = "mic0"
    try:
        ksp = PETSc.KSP().create(PETSc.COMM_SELF)
        ksp.setOptionsPrefix("ls_")
        ksp.setOperators(to_petsc(p.A))
        ksp.getPC().setType("python")
        ksp.getPC().setPythonType("learnsolve.petsc.PC")
        ksp.setFromOptions()
        x, its, reason = solve(ksp, p.b)
        assert reason > 0
        assert ksp.getPC().getPythonContext().M.name == "mic0"
    finally:
        opts.delValue("ls_learnsolve_pc")


def _mpiexec():
    cmd = learnsolve.petsc.mpiexec_command(2)
    if cmd is None:
        pytest.skip("mpiexec is not on the PATH (Debian: openmpi-bin)")
    return cmd


def _example():
    binary = os.path.join(EXAMPLE, "diffusion")
    if not os.path.exists(binary):
        subprocess.run(["make", "-C", EXAMPLE, "diffusion"], check=True, capture_output=True)
    return binary


def _run_example(nprocs_cmd, args, timeout=240):
    # the C program's embedded interpreter finds this environment's packages through PYTHONPATH
    return subprocess.run(nprocs_cmd + [_example(), *args], capture_output=True, text=True,
                          timeout=timeout, env=learnsolve.petsc.embedded_env())


LEARNED = ["-n", "96", "-contrast", "1e4", "-ksp_type", "cg", "-ksp_rtol", "1e-6",
           "-ksp_norm_type", "unpreconditioned", "-pc_type", "python",
           "-pc_python_type", "learnsolve.petsc.PC"]


def _relres(out):
    return float(out.split("true relres")[1].split()[0])


def test_c_example_on_two_ranks_converges_to_the_same_residual():
    mpi = _mpiexec()
    one = _run_example([], LEARNED + ["-learnsolve_pc", "vcycle-2d"])
    two = _run_example(mpi, LEARNED + ["-learnsolve_pc", "vcycle-2d"])
    assert one.returncode == 0, one.stdout + one.stderr
    assert two.returncode == 0, two.stdout + two.stderr
    assert "CONVERGED_RTOL" in two.stdout and "ranks 2" in two.stdout
    assert _relres(one.stdout) <= 1e-6 and _relres(two.stdout) <= 1e-6


def test_c_example_bad_option_stops_both_ranks_with_the_message():
    out = _run_example(_mpiexec(), LEARNED + ["-learnsolve_pc", "nosuch"], timeout=180)
    assert out.returncode != 0
    assert "-learnsolve_pc nosuch" in out.stdout + out.stderr


PY_EXAMPLE = os.path.join(ROOT, "examples", "petsc_python", "diffusion.py")


def _its(out):
    return int(out.split(" its ")[1].split()[0])


def test_petsc4py_example_matches_the_c_example():
    args = ["-n", "64", "-contrast", "1e4", "-ksp_type", "cg", "-ksp_rtol", "1e-6",
            "-ksp_norm_type", "unpreconditioned", "-pc_type", "python",
            "-pc_python_type", "learnsolve.petsc.PC", "-learnsolve_pc", "ic0"]
    c = _run_example([], args)
    py = subprocess.run([sys.executable, PY_EXAMPLE, *args], capture_output=True, text=True, timeout=240,
                        env=learnsolve.petsc.embedded_env())
    assert c.returncode == 0 and py.returncode == 0, c.stdout + c.stderr + py.stdout + py.stderr
    # the same matrix, right-hand side and preconditioner: the same iterations and residual
    assert abs(_its(c.stdout) - _its(py.stdout)) <= 1
    assert _relres(py.stdout) <= 1e-6
    two = subprocess.run(_mpiexec() + [sys.executable, PY_EXAMPLE, "-n", "64", "-learnsolve_pc", "vcycle-2d"],
                         capture_output=True, text=True, timeout=240, env=learnsolve.petsc.embedded_env())
    assert two.returncode == 0, two.stdout + two.stderr
    assert "ranks 2" in two.stdout and "pc python vcycle-2d" in two.stdout and _relres(two.stdout) <= 1e-6


@pytest.mark.parametrize("reuse", [True, False])
def test_reuse_interpolation_refreshes_the_algebraic_cycle_on_a_new_operator(reuse):
    """``-learnsolve_reuse_interpolation``: a second set-up on changed values keeps the coarsening
    (``setup == "refresh"``) and converges as a fresh build does; without it the cycle is rebuilt."""
    p = learnsolve.problems.fem_diffusion(64, contrast=1e4, seed=5)
    ksp, ctx = ksp_for(p.A, "amg-chebyshev")
    opts = PETSc.Options()
    opts["learnsolve_reuse_interpolation"] = "true" if reuse else "false"
    try:
        ksp.getPC().setFromOptions()
    finally:
        del opts["learnsolve_reuse_interpolation"]
    x, its0, reason = solve(ksp, p.b)
    assert reason > 0 and ctx.reuse_interpolation is reuse
    import scipy.sparse as sp

    A2 = (1.3 * p.A + sp.diags_array(0.01 * p.A.diagonal())).tocsr()
    ksp.setOperators(to_petsc(A2))
    x, its, reason = solve(ksp, p.b)
    assert reason > 0 and learnsolve.relative_residual(A2, x, p.b) < 1e-5
    assert ctx.info.get("setup") == ("refresh" if reuse else None)
    fresh, _, _ = iterations(A2, p.b, learnsolve.precond.amg_chebyshev(A2), rtol=1e-6)
    assert its <= fresh + 2, (its, fresh)
    ctx.name = "amg-learned"  # another method (as -learnsolve_pc would set it): built anew
    ksp.setOperators(to_petsc(p.A))
    x, its, reason = solve(ksp, p.b)
    assert reason > 0 and "setup" not in ctx.info and ctx.M.name == "amg-learned"
