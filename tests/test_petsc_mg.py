"""The distributed grid cycle (learnsolve.petsc with -learnsolve_mg) under mpiexec -n 1, 2, 4.

Runs ``tests/mpi_grid_cycle.py`` on each rank count (4 oversubscribed on a 2-core machine) in
the petsc4py environment (``make petsc-test``).
"""

import json
import subprocess
import sys

import pytest

pytest.importorskip("petsc4py.PETSc", reason="petsc4py is not installed in this environment; "
                    "`make petsc-test` runs these tests in one that has it")
import learnsolve.petsc  # noqa: E402

from .helpers import ROOT  # noqa: E402

SCRIPT = f"{ROOT}/tests/mpi_grid_cycle.py"
RANKS = (1, 2, 4)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for n in RANKS:
        cmd = learnsolve.petsc.mpiexec_command(n)
        if cmd is None:
            pytest.skip("mpiexec is not on the PATH (Debian: openmpi-bin)")
        # a hang (an error some ranks did not agree on) fails here instead of blocking CI
        proc = subprocess.run(cmd + [sys.executable, SCRIPT], capture_output=True, text=True,
                              timeout=600, env=learnsolve.petsc.embedded_env())
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
        out[n] = json.loads(lines[0][len("RESULT "):])
    return out


PROBLEMS = ["blocks-2d", "lognormal-2d", "lognormal-3d", "clusters-2d", "clusters-2d-mumps"]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_same_iterations_on_every_rank_count_and_the_serial_preconditioner(runs, problem):
    its = {n: runs[n][problem]["its"] for n in RANKS}
    for n in RANKS:
        r = runs[n][problem]
        assert r["reason"] > 0 and r["relres"] <= 1.01e-8
        assert abs(its[n] - its[1]) <= 2, its
        # the serial preconditioner (same hierarchy, smoothers, guard, cluster-space rule) up to
        # rounding: 1e-15 for the cycle alone, ~3e-12 with the space's coarse solve (contrast 1e4)
        assert r["serial"] <= 1e-11, r
        assert r["info"].get("clusters", 0) == r["serial_clusters"]
        assert r["info"]["ranks"] == n
        if r["info"].get("clusters"):  # E factored by LU on 1 rank, redundantly or by MUMPS on 2, 4
            mumps = problem.endswith("mumps")
            assert r["info"]["cluster_solver"] == ("lu" if n == 1 else "mumps" if mumps else "redundant")
    assert its[1] <= {"blocks-2d": 16, "lognormal-2d": 8, "lognormal-3d": 9, "clusters-2d": 13,
                      "clusters-2d-mumps": 13}[problem]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_the_distributed_preconditioner_is_symmetric(runs, problem):
    for n in RANKS:
        r = runs[n][problem]
        # the cycle alone: to 1e-12; the balanced cluster space adds its coarse solve's rounding
        # (2.3e-12 for the serial one on the blocks field, whose E = ZᵀAZ spans contrast 1e4)
        assert r["sym"] <= (1e-11 if r["info"].get("clusters") else 1e-12), r


@pytest.mark.parametrize("name", ["amg-learned", "amg-chebyshev"])
def test_the_distributed_algebraic_cycle(runs, name):
    its = {n: runs[n]["algebraic"][name]["its"] for n in RANKS}
    for n in RANKS:
        r = runs[n]["algebraic"][name]
        assert r["reason"] > 0 and r["relres"] <= 1.01e-8 and r["sym"] <= 1e-12
        assert abs(its[n] - its[1]) <= 2, its
        assert r["info"]["network_levels"] == (1 if name == "amg-learned" else 0)
        assert its[n] <= 2 * runs[n]["algebraic"]["gamg_its"]  # GAMG's own smoothers: 10


def test_bad_input_is_one_clear_error_on_every_rank(runs):
    for n in RANKS:
        bad = runs[n]["bad"]
        assert "DMCreateMatrix on a DMDA" in bad["no_dmda"] and "amg-learned" in bad["no_dmda"]
        assert "not symmetric" in bad["nonsymmetric"]
        assert "takes no options but ':clusters' and ':noclusters'" in bad["options"]
        assert "use learnsolve.pretrained('vcycle-2d')" in bad["other_dim"]
        for message in (bad["no_dmda"], bad["nonsymmetric"]):
            assert message.count("learnsolve.petsc.PC: -learnsolve_pc") == 1, message


def test_a_rank_with_no_rows_works(runs):
    for n in RANKS:
        for name, (_, relres, reason) in runs[n]["bad"]["zero_rows"].items():
            assert reason > 0 and relres <= 1.01e-8, (n, name)


def test_a_rank_one_column_wide_with_empty_coarse_boxes_works(runs):
    for n in RANKS:
        r = runs[n]["bad"]["narrow_rank"]
        assert r["reason"] > 0 and r["relres"] <= 1.01e-8 and r["its"] == r["its_ref"]
        its, relres, reason = runs[n]["bad"]["narrow_rank_jacobi"]
        assert reason > 0 and relres <= 1.01e-8 and its <= 30


def test_small_pages_switches_numpy_hugepages_off_inside_and_back_after():
    from learnsolve.petsc._grid_mg import small_pages

    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        from numpy.core.multiarray import _set_madvise_hugepage
    before = _set_madvise_hugepage(True)
    try:
        with pytest.raises(RuntimeError), small_pages():
            assert _set_madvise_hugepage(False) is False  # off inside (reads and keeps it off)
            raise RuntimeError
        assert _set_madvise_hugepage(True) is True  # restored after an error too
    finally:
        _set_madvise_hugepage(before)


def test_the_cluster_space_factors_redundantly_on_few_ranks_and_by_mumps_beyond():
    from learnsolve.petsc._clusters_mg import REDUNDANT_RANKS, solver

    assert [solver(n) for n in (1, 2, REDUNDANT_RANKS, REDUNDANT_RANKS + 1)] == [
        "lu", "redundant", "redundant", "mumps"]
