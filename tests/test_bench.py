import json

import numpy as np
import pytest

from learnsolve import bench, cli


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
    host = {r.method: r for r in bench.run([p], ["jacobi", "vcycle-2d"], repeats=1, progress=False)}
    assert abs(rows["vcycle-2d"].iterations - host["vcycle-2d"].iterations) <= 1
    assert "torch" in bench.machine_info(device="torch-cpu")
