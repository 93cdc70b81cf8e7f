#!/usr/bin/env bash
# GPU check, one script: the whole test suite, the README's main job and the benchmarks on this
# machine's accelerator; about 8 minutes on an H200.
#
#   bash scripts/gpu_check.sh                              # `uv run --extra cuda python`
#   WHEELS=wheels PYTHON=python3 bash scripts/gpu_check.sh # an image with its own jax, no index:
#       installs the carried pure-Python wheels (docs/environment.md) with --no-index first
#
# Prints the device, the test summary, the main job's wall time, then each benchmark's figures
# and ratios to the device's fp32 matmul peak (measured in the same run). Several processes on one
# GPU: XLA preallocation is off. Outputs of each part go to ${OUT:-gpu_check_out}/.
set -uo pipefail
cd "$(dirname "$0")/.."
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-"uv run --extra cuda python"}
PYTEST_ARGS=${PYTEST_ARGS:-""}
OUTDIR=${OUT:-gpu_check_out}
mkdir -p "$OUTDIR"
status=0

if [ -n "${WHEELS:-}" ]; then
    echo "== installing carried wheels from $WHEELS"
    $PYTHON -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl || exit 1
    $PYTHON -m pip install --quiet --no-index --no-deps --no-build-isolation -e . || exit 1
fi

echo "== device"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PYTHON -c "import jax, flax, numpy; print('jax', jax.__version__, 'flax', flax.__version__, 'numpy', numpy.__version__, jax.devices())" || exit 1

echo "== tests"
# shellcheck disable=SC2086
timeout 300 $PYTHON -m pytest -q -p no:cacheprovider $PYTEST_ARGS 2>&1 | tee "$OUTDIR/tests.txt" | tail -15 || status=1

echo "== main job (README): experiments/sweep.py -m"
start=$(date +%s)
timeout 240 $PYTHON experiments/sweep.py -m hydra.sweep.dir="$OUTDIR/main_job" > "$OUTDIR/main_job.log" 2>&1 || status=1
echo "main job wall time: $(( $(date +%s) - start )) s; rows: $(ls "$OUTDIR"/main_job/results.csv >/dev/null 2>&1 && $PYTHON -c "import pandas as pd; print(len(pd.read_csv('$OUTDIR/main_job/results.csv')))")"

echo "== benchmarks/kernels.py"
timeout 60 $PYTHON benchmarks/kernels.py --sizes 2048 8192 --repeats 2 || status=1
echo "== benchmarks/sampling.py"
timeout 120 $PYTHON benchmarks/sampling.py --quick || status=1
echo "== benchmarks/train.py"
timeout 120 $PYTHON benchmarks/train.py --chunks 4096 16384 || status=1
timeout 120 $PYTHON benchmarks/train.py --width 65536 --chunks 16384 65536 || status=1
exit $status
