#!/usr/bin/env bash
# Compile every CUDA source of gnnpart._C to an object file with nvcc, on a machine without a GPU, against the
# headers of the installed torch: a check that the CUDA kernels compile, before a GPU machine's few minutes.
#
#   bash benchmarks/cuda_compile_check.sh            # ARCH=sm_90 by default (Hopper); objects in $OUT
#
# A CPU build of torch ships the CUDA headers of c10 but not the one CMake generates for CUDA builds
# (c10/cuda/impl/cuda_cmake_macros.h); a stand-in with its one macro is put in a temporary include folder. Nothing
# built here is linked or run: benchmarks/gpu_check.sh builds and tests on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${ARCH:-sm_90}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
OUT=${OUT:-$(mktemp -d)}
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
mkdir -p "$stub/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$stub/c10/cuda/impl/cuda_cmake_macros.h"
TI=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
PYI=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
"$NVCC" --version | tail -1
failed=0
for f in csrc/*/cuda/*.cu; do
  if "$NVCC" -std=c++17 -O3 -arch="$ARCH" -Xcompiler -fPIC -I csrc -I "$stub" -I "$TI" -I "$TI/torch/csrc/api/include" \
      -I "$PYI" -DWITH_CUDA -DTORCH_EXTENSION_NAME=_C -DTORCH_API_INCLUDE_EXTENSION_H -c "$f" -o "$OUT/$(basename "$f").o" \
      > "$OUT/$(basename "$f").log" 2>&1; then
    echo "compiled $f ($ARCH)"
  else
    echo "FAILED $f ($ARCH):"; tail -20 "$OUT/$(basename "$f").log"; failed=1
  fi
done
exit $failed
