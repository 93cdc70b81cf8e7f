#!/usr/bin/env bash
# GPU check, one script: the test suite, the README's main job, the large-n preset's job at
# n = 2^20 and the benchmarks on this machine's accelerator.
#
#   bash scripts/gpu_check.sh                              # `uv run --extra cuda python`
#   WHEELS=wheels PYTHON=python3 bash scripts/gpu_check.sh # an image with its own jax, no index:
#       installs the carried pure-Python wheels (docs/environment.md) into /tmp/nnkrr-site
#       with --no-index first and runs the checkout from PYTHONPATH
#   PARTS="tests large_n" PYTEST_ARGS="tests/test_krr.py" bash scripts/gpu_check.sh  # some parts
#
# Parts (PARTS, default all): tests, main (the README's job), large_n (configs/experiment/
# large_n.yaml's job, both samplers, 3 seeds, at n = LARGE_N, default 1,048,576, through
# benchmarks/job.py: the time of each stage, in NTK matvecs too, and the peak device memory;
# training by the fused pass, whose memory is O(m d + chunk n)), benchmarks (each benchmark's
# figures and ratios to the device's fp32 matmul peak, measured in the same run). Several
# processes on one GPU: XLA preallocation is off. Outputs of each part go to ${OUT:-gpu_check_out}/.
set -uo pipefail
cd "$(dirname "$0")/.."
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-"uv run --extra cuda python"}
PYTEST_ARGS=${PYTEST_ARGS:-""}
PARTS=${PARTS:-"tests main large_n benchmarks"}
LARGE_N=${LARGE_N:-1048576}
part() { [[ " $PARTS " == *" $1 "* ]]; }
OUTDIR=${OUT:-gpu_check_out}
mkdir -p "$OUTDIR"
status=0

if [ -n "${WHEELS:-}" ]; then
    echo "== installing carried wheels from $WHEELS"
    $PYTHON -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target /tmp/nnkrr-site \
        "$WHEELS"/*.whl || exit 1
    export PYTHONPATH="/tmp/nnkrr-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

echo "== device"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PYTHON -c "import jax, flax, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'numpy', numpy.__version__, jax.devices())" || exit 1

if part tests; then
    echo "== tests"
    # shellcheck disable=SC2086
    timeout 300 $PYTHON -m pytest -q -rf -p no:cacheprovider $PYTEST_ARGS 2>&1 | tee "$OUTDIR/tests.txt" | tail -15 || status=1
fi

if part main; then
    echo "== main job (README): experiments/sweep.py -m"
    start=$(date +%s)
    timeout 240 $PYTHON experiments/sweep.py -m hydra.sweep.dir="$OUTDIR/main_job" > "$OUTDIR/main_job.log" 2>&1 || status=1
    echo "main job wall time: $(( $(date +%s) - start )) s; rows: $(ls "$OUTDIR"/main_job/results.csv >/dev/null 2>&1 && $PYTHON -c "import pandas as pd; print(len(pd.read_csv('$OUTDIR/main_job/results.csv')))")"
fi

if part large_n; then
    echo "== large n: +experiment=large_n at n = $LARGE_N (benchmarks/job.py)"
    timeout "${LARGE_N_TIMEOUT:-1800}" $PYTHON benchmarks/job.py --n "$LARGE_N" --ridge preset \
        --solver cg +experiment=large_n --out "$OUTDIR/large_n_rows.csv" \
        2>&1 | tee "$OUTDIR/large_n.txt" || status=1
fi

if ! part benchmarks; then exit $status; fi

echo "== benchmarks/kernels.py"
timeout 60 $PYTHON benchmarks/kernels.py --sizes 2048 8192 --repeats 2 || status=1
echo "== benchmarks/sampling.py"
timeout 120 $PYTHON benchmarks/sampling.py --quick || status=1
echo "== benchmarks/train.py"
timeout 120 $PYTHON benchmarks/train.py --chunks 4096 16384 || status=1
timeout 120 $PYTHON benchmarks/train.py --width 65536 --chunks 16384 65536 || status=1
exit $status
