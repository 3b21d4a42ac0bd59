#!/usr/bin/env bash
# The GPU measurements of issue 26 in one device call that ends within 9 minutes, and an optional
# second one of at most 3 minutes for what did not fit.  A session has 15 minutes of device time
# (the machine's start takes 1-2 of them) and one call runs at most 10.
#
# Here, once (PyAMG, array-api-compat and array-api-strict are missing from the GPU image, which
# reaches no registry):
#     make gpu-wheels                                                   # -> .whl/ (ignored)
# Then:
#     run(command="bash benchmarks/gpu_session.sh main",  carry=[".whl"], timeout_s=590)
#     run(command="bash benchmarks/gpu_session.sh extra", carry=[".whl"], timeout_s=200)   # optional
# Every part runs under `timeout`, capped by its own limit and by the time the call has left, and
# writes under /tmp/gpu_session/<part>/ as it goes (gpu_table.py writes results.json after every
# problem).  After each part the script packs every part's results into $OUT/results.tar (written
# to a temporary file, then renamed: a call killed mid-part keeps the earlier parts) and appends
# the part's exit status and seconds to $OUT/summary.md; $OUT/log.txt has the whole output.
# Back here, unpack and join the parts into one table:
#     tar -xf <files_at>/results.tar -C /tmp/gpu    # (and the extra call's)
#     python benchmarks/gpu_table.py --merge /tmp/gpu/*-device /tmp/gpu/*-amg /tmp/gpu/*-rs --cpu-reference benchmarks/results/gpu/cpu_reference/2d \
#         benchmarks/results/gpu/cpu_reference/3d --out benchmarks/results/gpu
# A dry run of the plumbing on a CPU (small problems, torch tensors, a shorter limit):
#     PY=.venv/bin/python DEVICE=torch-cpu QUICK=1 OUT=/tmp/gs bash benchmarks/gpu_session.sh main
set -uo pipefail
step=${1:-main}
OUT=${OUT:-/tmp/gpu_session_out}
work=/tmp/gpu_session
mkdir -p "$OUT" "$work"
export PYTHONUNBUFFERED=1
py=${PY:-python3}
device=${DEVICE:-cuda}
quick=${QUICK:-0}
case $step in
    main) limit=${LIMIT:-540} ;;
    extra) limit=${LIMIT:-170} ;;
    *) echo "usage: bash benchmarks/gpu_session.sh main|extra"; exit 2 ;;
esac
start=$SECONDS

# the table's parts: the dry run swaps in the small problems
if [ "$quick" = 1 ]; then p2d=quick2d; p3d=quick3d; p3dbig=quick3d; else p2d=2d; p3d=3d128; p3dbig=3d256; fi

install() {
    if [ -d .whl ] && ! $py -c "import pyamg, array_api_compat, array_api_strict" 2>/dev/null; then
        $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || return 1
    fi
    $py -m pip show learnsolve >/dev/null 2>&1 ||
        $py -m pip install -q --no-build-isolation --no-deps -e . ||
        echo "WARNING: pip install -e . failed; running from the source tree (learnsolve._C may be missing)"
    $py -c "import pyamg, array_api_compat, torch, learnsolve; from learnsolve import _backend, bench
print('learnsolve', learnsolve.__version__, 'torch', torch.__version__, 'pyamg', pyamg.__version__,
      'HAS_C', _backend.HAS_C, 'HAS_CUPY', _backend.HAS_CUPY); print(bench.machine_info('$device'))"
}
# the source tree first (also when the editable install fails), then the carried wheels
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}

pack() {  # every part's results into $OUT/results.tar, atomically
    tar -cf "$OUT/.results.tar" -C "$work" . 2>/dev/null && mv "$OUT/.results.tar" "$OUT/results.tar"
}

part() {  # part NAME CAP COMMAND...: COMMAND under timeout min(CAP, seconds left - 10)
    local name=$1 cap=$2 t rc s=$SECONDS
    shift 2
    t=$(( limit - (SECONDS - start) - 10 ))
    (( t > cap )) && t=$cap
    if (( t < 15 )); then
        echo "| $name | skipped: ${t} s left | |" >> "$OUT/summary.md"
        return
    fi
    mkdir -p "$work/$name"
    echo "== $(date -u +%T) $name (at most $t s)"
    timeout -k 5 "$t" bash -c '"$@"' _ "$@" 2>&1 | tee "$work/$name/log.txt"
    rc=${PIPESTATUS[0]}
    echo "== $(date -u +%T) $name: exit $rc after $((SECONDS - s)) s"
    echo "| $name | exit $rc$([ "$rc" = 124 ] && echo ' (timed out)') | $((SECONDS - s)) s |" >> "$OUT/summary.md"
    pack
}

table() {  # table NAME PART ROWS [gpu_table.py options]: one part of the GPU table
    local name=$1 tpart=$2 rows=$3
    shift 3
    $py benchmarks/gpu_table.py --part "$tpart" --rows "$rows" --device "$device" --out "$work/$name" "$@"
}

pytests() {
    $py -m pytest -q -rs -p no:cacheprovider "$@"
}

export -f install table pytests  # for `timeout ... bash -c`
export py device work

{
    echo "== $(date -u +%FT%TZ) gpu_session.sh $step on $(hostname), ${limit} s"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || true
    printf '# gpu_session.sh %s\n\n| part | result | seconds |\n|---|---|---:|\n' "$step" >> "$OUT/summary.md"
    part install 150 install
    case $step in
        main)
            # the GPU tests (CUDA kernels against their references, every preconditioner in
            # cupyx's cg, the GPU cycle's iterations against the CPU one's), then the table's
            # device rows before the slow PyAMG rows, so that a short call keeps what matters most
            part gpu-tests 150 pytests tests/ops/test_cuda.py tests/precond/test_device.py
            part "$p2d-device" 140 table "$p2d-device" "$p2d" device --repeats 2
            part "$p3d-device" 60 table "$p3d-device" "$p3d" device --repeats 2
            part "$p2d-amg" 110 table "$p2d-amg" "$p2d" amg --amg amg-sa --amg-budget 1
            part "$p3d-amg" 60 table "$p3d-amg" "$p3d" amg --amg amg-sa --amg-budget 1 ;;
        extra)
            # what the first call had no room for: 3D 256³ on the device, RS on the host, the
            # CPU suites of the device path's packages
            part "$p3dbig-device" 80 table "$p3dbig-device" "$p3dbig" device --repeats 1
            part "$p2d-rs" 50 table "$p2d-rs" "$p2d" amg --amg amg-rs --amg-budget 1
            part suites 60 pytests tests/multigrid tests/krylov ;;
    esac
    echo "== $(date -u +%FT%TZ) done after $((SECONDS - start)) s"
} 2>&1 | tee "$OUT/log.txt"
