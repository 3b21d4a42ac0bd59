#!/usr/bin/env bash
# The GPU measurements for one session on a lent GPU machine, in steps that each fit one
# device call (10 minutes) and together about 25 of the session's 30 minutes of device time.
#
# Here, once (PyAMG, array-api-compat and array-api-strict are missing from the GPU image,
# which reaches no registry):
#     make gpu-wheels                                   # -> .whl/ (ignored; Python 3.12 wheels)
# Then one device call per step, back to back so that the machine stays warm (30 s):
#     run(command="bash benchmarks/gpu_session.sh test",  carry=[".whl"])   # ~5 min
#     run(command="bash benchmarks/gpu_session.sh 2d",    carry=[".whl"])   # ~8 min
#     run(command="bash benchmarks/gpu_session.sh 3d128", carry=[".whl"])   # ~3 min
#     run(command="bash benchmarks/gpu_session.sh 3d256", carry=[".whl"])   # ~7 min
# Each step installs what is missing (a fresh machine is bare) and writes under $OUT/<step>/
# (at most 8 files come back: the log, results.md/.json, plots.tar).  Back here, join the parts:
#     python benchmarks/gpu_table.py --merge <files_at>/2d <files_at>/3d128 <files_at>/3d256 \
#         --cpu-reference benchmarks/results/gpu/cpu_reference/2d benchmarks/results/gpu/cpu_reference/3d \
#         --out benchmarks/results/gpu
# The parts' results.json name the machine; --merge refuses parts from different machines.
set -uo pipefail
step=${1:?usage: bash benchmarks/gpu_session.sh test|quick|2d|3d128|3d256}
OUT=${OUT:-/tmp/gpu_session_out}
work=/tmp/gpu_session/$step
mkdir -p "$OUT/$step" "$work"
log=$OUT/$step/log.txt
export PYTHONUNBUFFERED=1
# PY and DEVICE=torch-cpu are for a dry run of the plumbing on a CPU machine
py=${PY:-python3}
device=${DEVICE:-cuda}

install() {
    if [ -d .whl ] && [ ! -d /tmp/site ] && ! $py -c "import pyamg, array_api_compat, array_api_strict" 2>/dev/null; then
        $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || return 1
    fi
    # the source tree first (also when the editable install below fails), then the carried wheels
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    [ -d /tmp/site ] && export PYTHONPATH=$PYTHONPATH:/tmp/site
    $py -m pip show learnsolve >/dev/null 2>&1 ||
        $py -m pip install -q --no-build-isolation --no-deps -e . ||
        echo "WARNING: pip install -e . failed; running from the source tree (learnsolve._C may be missing)"
    $py -c "import pyamg, array_api_compat, torch, learnsolve; from learnsolve import _backend, bench
print('learnsolve', learnsolve.__version__, 'torch', torch.__version__, 'pyamg', pyamg.__version__,
      'HAS_C', _backend.HAS_C, 'HAS_CUPY', _backend.HAS_CUPY); print(bench.machine_info('$device'))"
}

table() {  # gpu_table.py part $1 with extra options; the plots go into one tar
    $py benchmarks/gpu_table.py --part "$1" --device "$device" --out "$work" "${@:2}" || return 1
    cp "$work"/results.md "$work"/results.json "$OUT/$step/"
    tar -cf "$OUT/$step/plots.tar" -C "$work" $(cd "$work" && ls ./*.png)
}

{
    rc=0  # any failed command fails the step (its output is in the log), the later ones still run
    echo "== $(date -u +%FT%TZ) step $step on $(hostname)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || true
    install || { echo "install failed"; exit 1; }
    case $step in
        test)
            # the GPU tests (kernels, device preconditioners), then the CPU suites of the device
            # path's packages, then the quick table
            $py -m pytest -q -rs -p no:cacheprovider tests/ops/test_cuda.py tests/precond/test_device.py \
                || rc=1
            $py -m pytest -q -p no:cacheprovider tests/multigrid tests/krylov tests/bench || rc=1
            table quick --repeats 1 --amg amg-sa || rc=1 ;;
        quick) table quick || rc=1 ;;
        2d) table 2d --amg-budget 20 || rc=1 ;;          # SA ~23 s a run there: one SA run, two RS
        3d128) table 3d128 --amg-budget 30 || rc=1 ;;
        3d256) table 3d256 --amg amg-sa --amg-budget 1 || rc=1 ;;  # one SA run (~2.5 min); no RS
        *) echo "unknown step $step"; exit 2 ;;
    esac
    echo "== $(date -u +%FT%TZ) step $step done (rc $rc)"
    exit $rc
} 2>&1 | tee "$log"
