#!/usr/bin/env bash
# A one-node Slurm for the tests, on a machine without systemd: munged, slurmctld and slurmd started by hand.
#
#   bash .ci/slurm.sh install    # Debian's slurm-wlm and munge (apt, as root or through sudo)
#   bash .ci/slurm.sh up         # generate slurm.conf under $SLURM_DIR, start the daemons, wait for the node
#   bash .ci/slurm.sh down       # stop them, by the PIDs they wrote
#
# The daemons run as root, from $SLURM_DIR (default /tmp/gnnpart-slurm). `srun -O` (--overcommit) runs more tasks
# than the node has CPUs, and the partition oversubscribes (OverSubscribe=FORCE), so several steps share the 2
# cores of a CI machine. The environment to use it is written to $SLURM_DIR/env (SLURM_CONF).
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/tmp/gnnpart-slurm}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

install() {
  if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    echo "[slurm] slurm-wlm and munge (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
}

up() {
  down  # daemons of an earlier `up` from this folder, if any
  mkdir -p "$SLURM_DIR"/{ctld,d,log,munge}
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  # job ids that no earlier Slurm on this machine gave: MPICH names its shared-memory segment after the PMI job
  # id (jobid.step), and a segment left in /dev/shm by a killed job of an earlier run with the same id would hang
  # the new job's MPI_Init
  local first=$(( $(date +%s) % 50000000 + 1000 ))
  cat > "$SLURM_DIR/slurm.conf" <<EOF
ClusterName=gnnpart-ci
FirstJobId=$first
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmdSpoolDir=$SLURM_DIR/d
StateSaveLocation=$SLURM_DIR/ctld
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SchedulerType=sched/backfill
KillWait=5
InactiveLimit=0
MinJobAge=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
EOF
  # munge: the key the package made; its socket and PID file in our folder (no systemd here)
  if [ ! -S "$SLURM_DIR/munge/munge.socket.2" ]; then
    $SUDO munged --force --socket="$SLURM_DIR/munge/munge.socket.2" --pid-file="$SLURM_DIR/munge/munged.pid" \
      --log-file="$SLURM_DIR/log/munged.log" --seed-file="$SLURM_DIR/munge/munged.seed"
  fi
  # slurm's tools look for munge's socket where the package puts it: point that path at ours
  $SUDO mkdir -p /run/munge
  [ -S /run/munge/munge.socket.2 ] || $SUDO ln -sf "$SLURM_DIR/munge/munge.socket.2" /run/munge/munge.socket.2
  export SLURM_CONF="$SLURM_DIR/slurm.conf"
  $SUDO env SLURM_CONF="$SLURM_CONF" slurmctld -f "$SLURM_CONF"
  $SUDO env SLURM_CONF="$SLURM_CONF" slurmd -f "$SLURM_CONF"
  echo "export SLURM_CONF=$SLURM_CONF" > "$SLURM_DIR/env"
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "[slurm] node $host up ($cpus CPUs); SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.5
  done
  echo "[slurm] the node did not come up; the logs:" >&2
  tail -20 "$SLURM_DIR"/log/*.log >&2 || true
  return 1
}

down() {
  local f pid i
  for f in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    $SUDO kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do  # wait for it to exit (at most 5 s), so that a following `up` finds its port free
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$f"
  done
  if [ -L /run/munge/munge.socket.2 ]; then $SUDO rm -f /run/munge/munge.socket.2; fi
  rm -f "$SLURM_DIR/munge/munge.socket.2"
  return 0
}

"${1:?usage: slurm.sh install|up|down}"
