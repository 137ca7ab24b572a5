#!/usr/bin/env bash
# Install gnnpart and everything it needs, on a fresh Debian/Ubuntu machine with Python >= 3.10.
#
#   bash install.sh            # system libraries (apt, when root or with sudo), Python packages, the extension
#
# Environment:
#   PYTHON         interpreter to install into (default: python3)
#   TORCH_VERSION  torch release to install (default 2.13.0; its CPU build where one is available)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# 1. METIS, the partitioner, is a system library used through ctypes (see README: why not pymetis).
# (grep without -q: -q exits at the first match, ldconfig then dies of SIGPIPE, and pipefail reports failure)
if ! ldconfig -p 2>/dev/null | grep 'libmetis\.so' >/dev/null; then
  echo "[install] libmetis5 (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmetis5 >/dev/null
fi

# 2. torch, pinned: a bare `torch` requirement in a fresh environment pulls a multi-GB CUDA build.
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "[install] torch==$TORCH_VERSION"
  pip_install "torch==$TORCH_VERSION"
fi

# 3. MPI: keep an MPI that is already there (mpiexec on PATH), else MPICH from PyPI; then mpi4py.
if ! command -v mpiexec >/dev/null 2>&1; then
  echo "[install] mpich (PyPI)"
  pip_install mpich
fi
echo "[install] Python dependencies"
pip_install "numpy>=1.24" "mpi4py>=3.1" "torch-geometric>=2.5" "pytest>=7" "psutil>=5" scipy "matplotlib>=3.5" \
  ninja setuptools wheel

# 4. gnnpart itself, its extension compiled against the torch above (no build isolation).
echo "[install] gnnpart (compiling gnnpart._C)"
pip_install --no-build-isolation -e .
"$PY" -c "import gnnpart; print('[install] gnnpart', gnnpart.__version__, 'ready')"
