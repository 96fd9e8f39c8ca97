#!/bin/sh
# The GPU figures in one call on a lent GPU machine (docs/benchmarks.md, "GPU").
#
# That machine has torch, numpy, tiktoken, attrs and httpx but not this project's
# environment, and no network: the packages are used from their source folders, and
# the prepared data travels with the call. Prepare it here first (10 s):
#   uv run hpdream-run prepare --dataset builtin --vocab-size 8192 --data-dir .gpu-data
# (25 MB; with /.gpu-data/ in .git/info/exclude), then run, carrying .gpu-data:
#   sh benchmarks/gpu_device.sh            # seed (cold, warm) and depth8, 60 s each: ~5 min
# Results: $OUT/gpu_bench.log and $OUT/gpu/gpu_bench.json (or hpdream-out/gpu without $OUT).
# GPU_DATA names another data folder (a check of this script here:
#   GPU_DATA=~/.cache/hpdream PYTHON=.venv/bin/python sh benchmarks/gpu_device.sh --tiny).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/hpdream-out/gpu}
mkdir -p "$out/gpu"
PYTHONPATH="$root/packages/hpdream_core/src:$root/packages/hpdream_runner/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
"$python" -c "import torch, numpy, tiktoken, attrs, httpx; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
"$python" "$root/benchmarks/gpu_bench.py" --data-dir "${GPU_DATA:-$root/.gpu-data}" --out "$out/gpu" "$@" 2>&1 | tee "$out/gpu_bench.log"
