#!/usr/bin/env bash
# Train on one machine with one MPI rank per part.
#
#   launch/mpirun.sh PART_DIR [gnnpart train options...]
#   e.g. launch/mpirun.sh /tmp/cora-4 --model gcn --epochs 200 --metrics metrics.jsonl
#
# The number of ranks is read from PART_DIR/meta.json. Works with MPICH and Open MPI; with Open MPI,
# --oversubscribe (more ranks than cores), --bind-to none (oversubscribed, Open MPI binds every rank to the first
# core) and, as root, --allow-run-as-root are added.
# Environment: MPIEXEC (default: $GNNPART_MPIEXEC, else mpiexec), PYTHON (default: python3), THREADS (torch threads per rank).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 PART_DIR [gnnpart train options...]" >&2
  exit 2
fi
PART_DIR=$1
shift
# the interpreter by its full path: a launcher may put its own folder first on the ranks' PATH (Debian's Open MPI)
PY=$("${PYTHON:-python3}" -c "import sys; print(sys.executable)")
MPIEXEC=${MPIEXEC:-${GNNPART_MPIEXEC:-mpiexec}}
NP=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1] + '/meta.json'))['num_parts'])" "$PART_DIR")
FLAGS=()
if "$MPIEXEC" --version 2>/dev/null | grep -E "Open MPI|OpenRTE" >/dev/null; then  # no -q: see install.sh
  FLAGS+=(--oversubscribe --bind-to none)
  [ "$(id -u)" = 0 ] && FLAGS+=(--allow-run-as-root)
fi
THREADS_OPT=()
[ -n "${THREADS:-}" ] && THREADS_OPT=(--threads "$THREADS")
exec "$MPIEXEC" "${FLAGS[@]}" -n "$NP" "$PY" -m mpi4py -m gnnpart train "$PART_DIR" "${THREADS_OPT[@]}" "$@"
