#!/usr/bin/env bash
# GPU check: the test suite and the benchmarks on this machine's accelerator, in about 5 minutes.
#
#   bash scripts/gpu_check.sh                 # uses `uv run --extra cuda python` (jax CUDA 12 wheels)
#   PYTHON=python3 PYTEST_ARGS="tests/test_sampling.py" bash scripts/gpu_check.sh   # another interpreter
#
# Prints the device, then each benchmark's achieved FLOP/s and its ratio to the device's fp32
# matmul peak (measured in the same run). Several processes on one GPU: XLA preallocation is off.
set -uo pipefail
cd "$(dirname "$0")/.."
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-"uv run --extra cuda python"}
PYTEST_ARGS=${PYTEST_ARGS:-""}
status=0

echo "== device"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PYTHON -c "import jax; print('jax', jax.__version__, jax.devices())" || exit 1

echo "== tests"
# shellcheck disable=SC2086
timeout 180 $PYTHON -m pytest -q -x -p no:cacheprovider $PYTEST_ARGS || status=1

echo "== benchmarks/kernels.py"
timeout 60 $PYTHON benchmarks/kernels.py --sizes 2048 8192 --repeats 2 || status=1
echo "== benchmarks/sampling.py"
timeout 120 $PYTHON benchmarks/sampling.py --quick || status=1
echo "== benchmarks/train.py"
timeout 60 $PYTHON benchmarks/train.py --chunks 4096 16384 || status=1
exit $status
