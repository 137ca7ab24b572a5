#!/usr/bin/env bash
# The GPU check: one command for a machine with an NVIDIA GPU and a CUDA torch (about 6 minutes on an H200).
#
#   bash benchmarks/gpu_check.sh            # logs and bench_gpu.json under $OUT (default /tmp/gnnpart-gpu-check)
#
# It builds gnnpart._C with its CUDA kernels, runs every CUDA test (each op against its reference, opcheck and
# gradients on cpu and cuda; the same checks on both devices), the GPU training tests (2 ranks sharing the GPU
# against 1 CPU rank in float64 for gcn, sage, gat, gin and gine; multi-label and regression runs, their metrics and
# the rows predict writes against the CPU's; overlap on and off giving the same bits; the exact-in-the-limit halo
# policies; transports; checkpoints across devices), then the GPU benchmark, and prints one table of what passed.
# It exits non-zero when any step failed.
#
# Before a GPU machine: `bash benchmarks/cuda_compile_check.sh` compiles every CUDA source here, and
# `GNNPART_GPU_TEST_DEVICE=cpu python3 -m pytest tests/gpu` runs the training tests' logic on the CPU.
# A bare machine gets MPICH, mpi4py and METIS from .whl/ (see benchmarks/gpu_env.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gnnpart-gpu-check}
mkdir -p "$OUT"
# shellcheck source=benchmarks/gpu_env.sh
source benchmarks/gpu_env.sh
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}

rows=()
failed=0
step() {  # step NAME LIMIT_SECONDS COMMAND...: run, keep the log in $OUT/NAME.log, record the result
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS result
  echo "== $name"
  if timeout "$limit" "$@" >"$OUT/$name.log" 2>&1; then result=passed; else result="FAILED (exit $?)"; failed=1; fi
  tail -n 25 "$OUT/$name.log"
  rows+=("| $name | $result | $((SECONDS - t0)) s |")
}

if ! python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check.sh needs a GPU that python3's torch can use (every CUDA test would only skip)"; exit 1
fi
nvidia-smi -L
echo "compilers: CC=${CC:-} CXX=${CXX:-}; $(${CXX:-g++} --version | head -1)"
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())'
step build 90 bash -c 'source benchmarks/gpu_env.sh >/dev/null && gpu_build'
export GNNPART_REQUIRE_CUDA=1  # a CUDA test that would skip fails instead
step cuda-tests 80 python3 -m pytest -q -rs -p no:cacheprovider tests/ops tests/comm/test_row_ops.py \
  tests/comm/test_codec_ops.py tests/hashing tests/nn/test_kernels.py
# GPU_CHECK_K: a pytest -k expression choosing some of the training tests (to rerun them); GPU_CHECK_BENCHMARK=0
# skips the benchmark.
step gpu-training 240 python3 -m pytest -q -rs -p no:cacheprovider tests/gpu ${GPU_CHECK_K:+-k "$GPU_CHECK_K"}
if [ "${GPU_CHECK_BENCHMARK:-1}" = 1 ]; then
  step benchmark 200 python3 benchmarks/bench_gpu.py --epochs 5 --json "$OUT/bench_gpu.json"
fi

echo
echo "| step | result | time |"
echo "| --- | --- | --- |"
printf '%s\n' "${rows[@]}"
[ -f "$OUT/benchmark.log" ] && grep -E '^\|' "$OUT/benchmark.log"
exit $failed
