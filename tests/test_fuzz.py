"""Hostile inputs through the public entry points: a clear error or a correct result, never a crash.

Malformed sparse matrices (index arrays out of range, non-monotone ``indptr``,
wrong lengths, mixed integer types, NaN/Inf, empty and 1×1 matrices,
non-contiguous and read-only arrays, unsorted and duplicate entries, other
dtypes, other shapes) built around SciPy's constructor checks, which do not
look at index bounds, go through every preconditioner builder, the Krylov
solvers, the sparse kernels, the grid and graph readers and the device
conversion.  A crash would end the test run; an exception that is not a
``ValueError``/``TypeError`` naming the learnsolve function fails the test.
The number of examples is bounded here (``FUZZ_EXAMPLES``, default 60 per
test); ``benchmarks/fuzz.py`` runs many more.
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import learnsolve  # noqa: E402
from learnsolve import krylov, multigrid, ops, precond, problems  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
DEFECTS = ("none", "index high", "index negative", "indptr decreasing", "indptr short",
           "indptr long", "indptr past end", "data short", "mixed int", "nan", "inf",
           "non-contiguous", "read-only", "unsorted", "duplicates", "rectangular", "empty",
           "1x1", "int data", "complex", "coo out of range", "dense 1-D")


def _base(n, rng):
    """A small SPD matrix's CSR arrays (a diagonally dominant random symmetric pattern)."""
    M = sp.random_array((n, n), density=0.4, random_state=rng)
    M = M + M.T
    M = sp.csr_array(M + sp.diags_array(np.abs(M).sum(axis=1) + 1.0))
    M.sort_indices()
    return M.indptr.copy(), M.indices.copy(), M.data.copy()


@st.composite
def hostile(draw):
    """``(defect, A)``: a sparse matrix (or other object) carrying one defect."""
    defect = draw(st.sampled_from(DEFECTS))
    n = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    indptr, indices, data = _base(n, rng)
    shape = (n, n)
    if defect == "empty":
        return defect, sp.csr_array((0, 0))
    if defect == "1x1":
        return defect, sp.csr_array(np.array([[draw(st.sampled_from([2.0, 0.0, -1.0]))]]))
    if defect == "dense 1-D":
        return defect, np.ones(n)
    if defect == "coo out of range":
        A = sp.coo_array(sp.csr_array((data, indices, indptr), shape=shape))
        A.coords = (A.coords[0], A.coords[1] + n)
        return defect, A
    k = int(rng.integers(0, max(1, indices.size)))
    if defect == "index high":
        indices[k] = n + int(rng.integers(0, 5))
    elif defect == "index negative":
        indices[k] = -1 - int(rng.integers(0, 5))
    elif defect == "indptr decreasing":
        indptr[1:-1] = indptr[1:-1][::-1]
        indptr[min(1, n - 1)] = indptr[-1] + 3
    elif defect == "indptr short":
        indptr = indptr[:-1]
    elif defect == "indptr long":
        indptr = np.append(indptr, indptr[-1])
    elif defect == "indptr past end":
        indptr[-1] += 4
    elif defect == "data short":
        data = data[:-1]
    elif defect == "mixed int":
        indices = indices.astype(np.int64 if indices.dtype == np.int32 else np.int32)
    elif defect == "nan":
        data[k] = np.nan
    elif defect == "inf":
        data[k] = np.inf
    elif defect == "non-contiguous":
        data = np.repeat(data, 2)[::2]
        indices = np.repeat(indices, 2)[::2]
    elif defect == "read-only":
        for a in (indptr, indices, data):
            a.setflags(write=False)
    elif defect == "unsorted":
        for i in range(n):
            indices[indptr[i]:indptr[i + 1]] = indices[indptr[i]:indptr[i + 1]][::-1].copy()
            data[indptr[i]:indptr[i + 1]] = data[indptr[i]:indptr[i + 1]][::-1].copy()
    elif defect == "duplicates":
        indices[indptr[0]:indptr[1]] = indices[indptr[0]]
    elif defect == "rectangular":
        shape = (n, n + 1)
    elif defect == "int data":
        data = np.round(data).astype(np.int64)
    elif defect == "complex":
        data = data.astype(np.complex128)
    A = sp.csr_matrix(shape) if draw(st.booleans()) else sp.csr_array(shape)
    A.indptr, A.indices, A.data = indptr, indices, data  # past SciPy's constructor checks
    return defect, A


def _entry_points():
    """``(name, call)`` for every public function that takes a matrix."""
    def solve(f):
        return lambda A: f(A, np.ones(A.shape[0]), maxiter=50)

    points = [(f"precond.{k}", v) for k, v in precond.BUILDERS.items()]
    points += [("precond.gmg", precond.gmg), ("precond.tuned", lambda A: precond.tuned("mic0")(A))]
    points += [(f"pretrained({m})", lambda A, m=m: learnsolve.pretrained(m).aspreconditioner(A))
               for m in ("vcycle-2d", "gnn-ic1-correct", "gnn-fsai-select", "dcdm-2d", "amg-learned")]
    points += [(f"krylov.{f}", solve(getattr(krylov, f))) for f in ("cg", "fcg", "dcdm")]
    points += [("ops.CSRMatrix", ops.CSRMatrix), ("ops.spmv", lambda A: ops.spmv(A, np.ones(A.shape[-1]))),
               ("ops.ichol0", ops.ichol0), ("ops.ichol0_shifted", ops.ichol0_shifted),
               ("ops.fsai_factor", ops.fsai_factor), ("ops.fsai_pattern", ops.fsai_pattern),
               ("ops.with_fill", lambda A: ops.with_fill(A, "ic1")),
               ("ops.fill_levels", lambda A: ops.fill_levels(A, 1)),
               ("ops.TriangularSolver", ops.TriangularSolver),
               ("ops.compute_levels", ops.compute_levels),
               ("ops.candidates", ops.candidates), ("ops.selection_mask", ops.selection_mask),
               ("ops.lookup", lambda A: ops.lookup(A, np.zeros(1, np.int64), np.zeros(1, np.int64))),
               ("ops.to_device", lambda A: ops.to_device(A, "torch")),
               ("multigrid.grid_stencil", multigrid.grid_stencil),
               ("multigrid.grid_hierarchy", multigrid.grid_hierarchy),
               ("multigrid.aggregation_hierarchy", multigrid.aggregation_hierarchy),
               ("precond.chebyshev_smoother", precond.chebyshev_smoother),
               ("problems.graph_features", problems.graph_features),
               ("problems.to_graph", problems.to_graph),
               ("multigrid.cluster_labels", lambda A: multigrid.cluster_labels(A, (A.shape[0], 1))),
               ("multigrid.ClusterSpace", lambda A: multigrid.ClusterSpace(A, (A.shape[0], 1)).build()),
               ("multigrid.smoothed_basis",
                lambda A: multigrid.smoothed_basis(A, np.zeros(A.shape[0], dtype=np.int64))),
               ("krylov.batch_cg", lambda A: krylov.batch_cg(A, np.ones((A.shape[0], 2)), maxiter=20)),
               ("Sequence.solve", lambda A: learnsolve.Sequence("jacobi").solve(A, np.ones(A.shape[0]))),
               ("refresh", lambda A: _REFERENCE_CYCLE().refresh(A))]
    return points


def _REFERENCE_CYCLE():  # noqa: N802 - a cached factory
    """A valid algebraic cycle whose ``refresh`` gets the hostile matrices (built once)."""
    global _CYCLE
    if _CYCLE is None:
        _CYCLE = precond.amg_chebyshev(problems.poisson((8, 8)).A)
    return _CYCLE


_CYCLE = None


ENTRY_POINTS = _entry_points()
CLEAR = (ValueError, TypeError)


def _call(name, call, A):
    """Run ``call(A)``; a clear error is fine, anything else is returned as a finding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(A)
    except CLEAR as exc:
        if "learnsolve" not in str(exc) and "learnsolve" not in type(exc).__module__:
            return f"{name}: unclear {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - every other exception is a finding
        return f"{name}: {type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("group", range(4))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(case=hostile())
def test_hostile_matrices_give_clear_errors(group, case):
    defect, A = case
    findings = [f for name, call in ENTRY_POINTS[group::4] if (f := _call(name, call, A))]
    assert not findings, f"defect {defect!r}:\n" + "\n".join(findings)


TORCH_POINTS = [("precond.jacobi", precond.jacobi), ("precond.fsai", precond.fsai),
                ("precond.gmg", precond.gmg), ("precond.amg_chebyshev", precond.amg_chebyshev),
                ("pretrained(vcycle-2d)", lambda T: learnsolve.pretrained("vcycle-2d").aspreconditioner(T)),
                ("krylov.cg", lambda T: krylov.cg(T, _torch().ones(T.shape[0], dtype=_torch().float64),
                                                  maxiter=20)),
                ("ops.to_device", lambda T: ops.to_device(T, "scipy")),
                ("multigrid.grid_stencil", multigrid.grid_stencil)]


def _torch():
    import torch

    return torch


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(case=hostile())
def test_hostile_torch_tensors_give_clear_errors(case):
    """The same defects in a torch sparse CSR tensor (torch does not check them by default)."""
    torch = _torch()
    defect, A = case
    if not sp.issparse(A) or A.format != "csr" or A.dtype.kind not in "fc" or \
            A.indices.dtype != A.indptr.dtype or min(A.shape) == 0:
        return  # not expressible as a torch CSR tensor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        T = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)),
                                    torch.from_numpy(A.indices.astype(np.int64)),
                                    torch.from_numpy(np.ascontiguousarray(A.data)), size=A.shape,
                                    check_invariants=False)
    findings = [f for name, call in TORCH_POINTS if (f := _call(name, call, T))]
    assert not findings, f"defect {defect!r}:\n" + "\n".join(findings)


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(cut=st.floats(0.0, 1.0), flip=st.integers(0, 10 ** 6),
       tamper=st.sampled_from(["truncate", "flip", "meta", "state"]))
def test_corrupt_weight_files_give_clear_errors(tmp_path_factory, cut, flip, tamper):
    """Truncated, bit-flipped and tampered weight files: ``pretrained(path=...)`` raises a
    ``ValueError`` naming it, or loads a model that still works."""
    torch = _torch()
    src = os.path.join(learnsolve.zoo.HERE, "vcycle-2d.pt")
    path = str(tmp_path_factory.mktemp("w") / "m.pt")
    raw = open(src, "rb").read()
    if tamper == "truncate":
        raw = raw[:int(cut * len(raw))]
    elif tamper == "flip":
        raw = bytearray(raw)
        raw[flip % len(raw)] ^= 0xFF
        raw = bytes(raw)
    if tamper in ("truncate", "flip"):
        open(path, "wb").write(raw)
    else:
        blob = torch.load(src, weights_only=True)
        if tamper == "meta":
            key = sorted(blob["meta"])[flip % len(blob["meta"])]
            blob["meta"][key] = ["not", "a", "value"] if cut < 0.5 else -7
        else:
            key = sorted(blob["state_dict"])[flip % len(blob["state_dict"])]
            blob["state_dict"][key] = torch.zeros(3, 5)
        torch.save(blob, path)
    p = learnsolve.problems.poisson((8, 8))
    finding = _call("pretrained(path)", lambda A: learnsolve.pretrained(path=path).aspreconditioner(A),
                    p.A)
    assert finding is None, finding


def test_the_cli_reports_bad_input_as_an_error_message(tmp_path, capsys):
    from learnsolve import cli

    bad = tmp_path / "bad.mtx"
    bad.write_text("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n9 9 2.0\n")
    for argv in (["bench", "--problem", str(bad), "--precond", "jacobi", "--out", str(tmp_path)],
                 ["bench", "--problem", "poisson:8", "--precond", "nosuch", "--out", str(tmp_path)],
                 ["bench", "--problem", "nosuch:8", "--out", str(tmp_path)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("learnsolve: error: ") and "Traceback" not in err
