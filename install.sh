#!/usr/bin/env bash
# Install gnnpart and everything it needs, on a fresh Debian/Ubuntu machine with Python >= 3.10.
#
#   bash install.sh            # system libraries (apt, when root or with sudo), Python packages, the extension
#
# Environment:
#   PYTHON         interpreter to install into (default: python3)
#   TORCH_VERSION  torch release to install (default 2.13.0; its CPU build where one is available)
#   GNNPART_WITH_KAMINPAR=1  also install KaMinPar's Python binding (`gnnpart partition --method kaminpar`)
#   GNNPART_WITH_PTSCOTCH=1  also install PT-Scotch and Open MPI, which it links (`gnnpart partition --method ptscotch`;
#                            apt, last: the MPI that `gnnpart train` uses stays the one chosen in step 3)
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

# 3. MPI: keep an MPI that is already there (mpiexec on PATH: a cluster's own, Debian's Open MPI), else MPICH from
#    PyPI; then mpi4py (its wheel loads MPICH or Open MPI; step 5 checks that it runs under that mpiexec).
if command -v mpiexec >/dev/null 2>&1; then
  echo "[install] using the MPI already here: $(command -v mpiexec)"
else
  echo "[install] mpich (PyPI)"
  pip_install mpich
fi
echo "[install] Python dependencies"
pip_install "numpy>=1.24" "mpi4py>=3.1" "torch-geometric>=2.5" "pytest>=7" "psutil>=5" scipy "matplotlib>=3.5" \
  ninja setuptools wheel
if [ "${GNNPART_WITH_KAMINPAR:-0}" = 1 ]; then
  echo "[install] kaminpar (PyPI): the multi-threaded partitioner of --method kaminpar"
  pip_install --only-binary kaminpar "kaminpar==3.7.3"
  "$PY" -c "import kaminpar"
fi

# 4. gnnpart itself, its extension compiled against the torch above (no build isolation).
echo "[install] gnnpart (compiling gnnpart._C)"
pip_install --no-build-isolation -e .

# 5. mpi4py must start as one job under the mpiexec that `gnnpart train -n` uses. When the wheel cannot (an MPI it
#    does not load, such as a vendor's), build mpi4py from source against that MPI's own compiler wrapper.
if ! "$PY" -m gnnpart mpi --check; then
  MPIEXEC_PATH=$("$PY" -m gnnpart mpi --mpiexec)
  MPICC_PATH=$(dirname "$MPIEXEC_PATH")/mpicc
  [ -x "$MPICC_PATH" ] || MPICC_PATH=$(command -v mpicc || true)
  if [ -z "$MPICC_PATH" ]; then
    echo "[install] mpi4py does not run under $MPIEXEC_PATH and there is no mpicc to build it against that MPI:" \
      "install the MPI's development files (e.g. libopenmpi-dev), or set MPI4PY_LIBMPI (see the README)" >&2
    exit 1
  fi
  echo "[install] mpi4py, built against $MPICC_PATH (a few minutes)"
  MPICC="$MPICC_PATH" pip_install --no-binary mpi4py --no-cache-dir --force-reinstall "mpi4py>=3.1"
  "$PY" -m gnnpart mpi --check
fi

# 6. PT-Scotch on request: Debian's 64-bit library, used through ctypes, and the Open MPI it links. Its ranks start
#    on Open MPI (mpirun.openmpi; the mpi4py wheel loads Open MPI's library with MPI4PY_LIBMPI=libmpi.so.40).
if [ "${GNNPART_WITH_PTSCOTCH:-0}" = 1 ]; then
  if ! "$PY" -c "import sys; from gnnpart.partition.ptscotch import available; sys.exit(not available())" \
      || ! command -v mpirun.openmpi >/dev/null 2>&1; then
    echo "[install] libptscotch-dev, openmpi-bin, libopenmpi-dev (apt): the partitioner of --method ptscotch"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libptscotch-dev openmpi-bin libopenmpi-dev >/dev/null
  fi
  "$PY" -c "import sys; from gnnpart.partition.ptscotch import require_installed; print('[install] PT-Scotch:', require_installed())"
fi
"$PY" -c "import gnnpart; print('[install] gnnpart', gnnpart.__version__, 'ready')"
