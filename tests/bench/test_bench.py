import json

import numpy as np
import pytest

from learnsolve import _backend, bench, cli

from ..helpers import ROOT

needs_gpu = pytest.mark.skipif(not _backend.HAS_CUPY,
                               reason="no CUDA device: CuPy is not installed or sees no GPU "
                                      "(the GPU tests run on a GPU machine)")


def test_make_problem_specs():
    assert bench.make_problem("poisson:6x5").grid_shape == (6, 5)
    p = bench.make_problem("diffusion:8:dim=3:variance=2:seed=4")
    assert p.grid_shape == (8, 8, 8) and p.meta["seed"] == 4
    assert bench.make_problem("anisotropic:8:eps=0.1").n == 64
    with pytest.raises(ValueError, match="unknown problem family"):
        bench.make_problem("heat:8")


def test_runner_reports_true_residual_and_medians():
    p = bench.make_problem("diffusion:20:variance=1")
    res = bench.run([p], ["jacobi", "ic0"], rtol=1e-7, repeats=2, progress=False)
    assert [r.method for r in res] == ["jacobi", "ic0"]
    for r in res:
        assert r.info == 0 and r.relres < 1e-7 and r.repeats == 2
        assert np.isclose(r.total_s, r.setup_s + r.solve_s, rtol=0.5)
        assert len(r.history) == r.iterations + 1
        assert r.history[-1][1] < 1e-7
    assert res[1].iterations < res[0].iterations


def test_cli_bench_writes_markdown_json_and_plot(tmp_path, capsys):
    out = tmp_path / "r"
    rc = cli.main(["bench", "--problem", "poisson:16", "--precond", "jacobi,ic0",
                   "--repeats", "1", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| poisson-16x16 | 256 | ic0 |" in text
    data = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in data["results"]} == {"jacobi", "ic0"}
    assert all(r["relres"] < 1e-6 for r in data["results"])
    png = out / "convergence-poisson-16x16.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_budget_stops_repeating_and_the_report_says_so():
    p = bench.make_problem("poisson:16")
    rows = bench.run([p], ["jacobi", "ic0"], repeats=3, progress=False, budget=0.0)
    assert [r.repeats for r in rows] == [1, 1]  # a zero budget: one run each, never zero
    rows.append(bench.run_one(p, "ic0", repeats=3))
    assert rows[-1].repeats == 3 and rows[-1].info == 0
    md = bench.markdown(rows, rtol=1e-6)
    assert "jacobi (1 of 3 runs)" in md and "| ic0 |" in md


def test_bench_on_torch_tensors_runs_the_device_path(capsys):
    pytest.importorskip("torch")
    p = bench.make_problem("diffusion:32:contrast=1e3")
    results = bench.run([p], ["jacobi", "vcycle-2d", "ic0", "amg-sa"], repeats=1, progress=False,
                        device="torch-cpu")
    rows = {r.method: r for r in results}
    assert set(rows) == {"jacobi", "vcycle-2d", "amg-sa"}  # IC(0) has no torch path: no row
    assert "skipped ic0 on torch-cpu" in capsys.readouterr().err
    for r in rows.values():
        assert r.info == 0 and r.relres <= 1e-6
    # the device cycle has the host's cluster coarse space (built on the host, applied on the device)
    host = {r.method: r for r in bench.run([p], ["jacobi", "vcycle-2d"], repeats=1, progress=False)}
    assert abs(rows["vcycle-2d"].iterations - host["vcycle-2d"].iterations) <= 1
    assert "torch" in bench.machine_info(device="torch-cpu")


def _gpu_table():
    """``benchmarks/gpu_table.py`` as a module (the script the GPU table in docs/device.md comes from)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(ROOT) / "benchmarks" / "gpu_table.py"
    spec = importlib.util.spec_from_file_location("gpu_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_table_merges_parts_and_checks_the_bars(tmp_path):
    gt = _gpu_table()

    def row(problem, n, method, its, total, info=0):
        return bench.Result(problem, n, 5 * n, method, its, total / 2, total / 2, total, 1e-7, info, 3)

    n2 = 2048 ** 2
    part1 = [row("p2", n2, "vcycle-2d", 5, 0.08), row("p2", n2, "cupyx-jacobi", 4000, 2.0),
             row("p2", n2, "amg-sa", 8, 23.0)]
    part2 = [row("p3", 256 ** 3, "vcycle-3d", 7, 0.5), row("p3", 256 ** 3, "cupyx-jacobi", 700, 4.0),
             row("p3", 256 ** 3, "amg-sa", 9, 150.0)]
    for name, rows in (("a", part1), ("b", part2)):
        bench.write(rows, str(tmp_path / name), rtol=1e-6, machine="H100", plot=False)
    results, machine = gt.load([tmp_path / "a", tmp_path / "b"])
    assert machine == "H100" and [r.method for r in results] == [r.method for r in part1 + part2]
    cpu = {("p2", "vcycle-2d"): 5, ("p3", "vcycle-3d"): 5}
    text = gt.summary(results, cpu)
    lines = {ln.split(" | ")[0].lstrip("| "): ln for ln in text.splitlines()[2:]}
    # 0.08 s ≤ 0.1 s; 0.08/2.0 = 0.04 ≤ 1/20; 0.08/23 ≤ 1/100; 5 its against 5
    assert "total ≤ 0.1 s: yes" in lines["p2"] and "≤ 1/20 Jacobi-PCG: yes" in lines["p2"]
    assert "≤ 1/100 SA: yes" in lines["p2"] and "CPU its ±1: yes" in lines["p2"]
    # 0.5/4.0 = 0.125 > 1/10; 0.5/150 ≤ 1/100; 7 its against 5
    assert "≤ 1/10 Jacobi-PCG: NO" in lines["p3"] and "≤ 1/100 SA: yes" in lines["p3"]
    assert "CPU its ±1: NO" in lines["p3"] and "0.1250" in lines["p3"]
    bench.write(part2, str(tmp_path / "c"), rtol=1e-6, machine="another GPU", plot=False)
    with pytest.raises(SystemExit, match="different machines"):
        gt.load([tmp_path / "a", tmp_path / "c"])
    host = [row("p2", n2, m, 6, 9.0) for m in ("vcycle-2d:noclusters", "vcycle-2d:float32:noclusters")]
    bench.write(host, str(tmp_path / "cpu"), rtol=1e-6, machine="CPU", plot=False)
    assert gt.cpu_iterations([tmp_path / "cpu"]) == {("p2", "vcycle-2d"): 6, ("p2", "vcycle-2d:float32"): 6}


def test_gpu_session_script_parses_names_every_part_and_fits_the_device_limits():
    import pathlib
    import re
    import subprocess

    script = pathlib.Path(ROOT) / "benchmarks" / "gpu_session.sh"
    run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = script.read_text()
    for part in ("quick2d", "quick3d", "2d", "3d128", "3d256"):  # each table part it runs exists
        assert re.search(rf"p\w+={part}\b", text) and part in _gpu_table().PARTS
    # one call of at most 9 minutes, an optional second of at most 3 (device calls: 10 minutes)
    limits = dict(re.findall(r"(main|extra)\) limit=\$\{LIMIT:-(\d+)\}", text))
    assert int(limits["main"]) <= 540 and int(limits["extra"]) <= 180
    assert 'timeout -k 5 "$t"' in text


@needs_gpu
def test_bench_on_the_gpu_with_cupyx_baselines_and_host_amg(tmp_path):
    from learnsolve import bench

    p = bench.make_problem("diffusion:64:contrast=1e3")
    rows = {r.method: r for r in bench.run([p], ["cupyx-cg", "cupyx-jacobi", "vcycle-2d", "amg-sa"],
                                           repeats=1, progress=False, device="cuda")}
    assert set(rows) == {"cupyx-cg", "cupyx-jacobi", "vcycle-2d", "amg-sa"}
    for r in rows.values():
        assert r.info == 0 and r.relres <= 1e-5
    assert "GPU:" in bench.machine_info(device="cuda")


def test_cli_version(capsys):
    import learnsolve

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"learnsolve {learnsolve.__version__}"
