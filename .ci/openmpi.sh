#!/usr/bin/env bash
# Open MPI beside the MPICH that install.sh put in the environment, for the tests that run on both
# (tests/launch/): Debian's openmpi-bin and libopenmpi-dev. The mpi4py wheel loads either library; the tests point
# it at Open MPI's with MPI4PY_LIBMPI=libmpi.so.40 and start ranks with mpirun.openmpi (tests/launch/conftest.py).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v mpirun.openmpi >/dev/null 2>&1; then
  echo "[openmpi] openmpi-bin, libopenmpi-dev (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
fi
echo "[openmpi] $(mpirun.openmpi --version 2>/dev/null | head -1)"
