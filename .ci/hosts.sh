#!/usr/bin/env bash
# Several hosts on one machine, for the tests of what only a second host shows: network namespaces as nodes.
#
#   bash .ci/hosts.sh install     # iproute2 and util-linux (apt), if `ip`, `unshare` or `nsenter` is missing
#   bash .ci/hosts.sh up N        # make hosts node1..nodeN (N <= 8)
#   bash .ci/hosts.sh exec HOST CMD...   # run CMD on HOST (its network, host name and /etc/hosts)
#   bash .ci/hosts.sh link HOST up|down  # set HOST's link up or down (a cut cable)
#   bash .ci/hosts.sh kill HOST   # kill every process of HOST (a node that crashed)
#   bash .ci/hosts.sh slurm up    # a Slurm of the hosts (slurmctld on node1, slurmd on each); `slurm down` stops it
#   bash .ci/hosts.sh down        # remove everything `up` made, by name
#   bash .ci/hosts.sh check       # exit 0 if nothing of ours is left (namespaces, links, processes, files)
#
# Host i is a network namespace `gnp-nodeI` with one veth link (`gnp-vI` on our side, `eth0` on its) on the
# bridge `gnp-br0`, address 10.77.0.I/24 (a private /24: the bridge carries nothing beyond it, and has no route
# out), plus a UTS namespace (its host name, `nodeI`); the hosts share one mount namespace whose /etc/hosts names
# every host, and the rest of the file system, as a cluster's shared file system. `.ci/hosts-rsh` runs a command on a host
# the way `ssh HOST CMD` would: MPICH's hydra takes it as `-launcher ssh -launcher-exec .ci/hosts-rsh`
# (HYDRA_LAUNCHER=ssh, HYDRA_LAUNCHER_EXEC=...), Open MPI as its `plm_rsh_agent` (OMPI_MCA_plm_rsh_agent=...).
# State lives in $GNNPART_HOSTS_DIR (default /tmp/gnnpart-hosts). Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN).
set -euo pipefail
DIR=${GNNPART_HOSTS_DIR:-/tmp/gnnpart-hosts}
BRIDGE=gnp-br0
NET=10.77.0
HERE=$(cd "$(dirname "$0")" && pwd)

ns() { echo "gnp-node$1"; }
host_index() {  # node3 -> 3
  case "$1" in node[1-9]) echo "${1#node}" ;; *) echo "hosts.sh: no host '$1' (node1 .. node8)" >&2; exit 2 ;; esac
}

up() {
  local n=${1:?"hosts.sh up N"}
  [ "$n" -ge 1 ] && [ "$n" -le 8 ] || { echo "hosts.sh: N must be 1 .. 8 (got $n)" >&2; exit 2; }
  down
  mkdir -p "$DIR"
  mount --bind "$DIR" "$DIR"          # a private mount of our own, to hold the namespaces' bind mounts
  mount --make-private "$DIR"
  : > "$DIR/hosts"
  echo "127.0.0.1 localhost" >> "$DIR/hosts"
  local i
  for i in $(seq 1 "$n"); do echo "$NET.$i node$i" >> "$DIR/hosts"; done
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.254/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for i in $(seq 1 "$n"); do
    ip netns add "$(ns "$i")"
    ip link add "gnp-v$i" type veth peer name "gnp-p$i"
    ip link set "gnp-p$i" netns "$(ns "$i")"
    ip link set "gnp-v$i" master "$BRIDGE" up
    ip netns exec "$(ns "$i")" ip link set "gnp-p$i" name eth0
    ip netns exec "$(ns "$i")" ip addr add "$NET.$i/24" dev eth0
    ip netns exec "$(ns "$i")" ip link set eth0 up
    ip netns exec "$(ns "$i")" ip link set lo up
    touch "$DIR/node$i.uts"
    unshare --uts="$DIR/node$i.uts" hostname "node$i"
  done
  # one mount namespace for all hosts, made last (so that it sees every host's namespace files): the shared file
  # system, with an /etc/hosts that names the hosts
  touch "$DIR/cluster.mnt"
  unshare --mount="$DIR/cluster.mnt" --propagation private mount --bind "$DIR/hosts" /etc/hosts
  echo "$n" > "$DIR/count"
  echo "[hosts] node1 .. node$n up on $BRIDGE ($NET.0/24)"
}

on() {  # on HOST CMD...: CMD in HOST's namespaces, in this directory
  local host=$1
  shift
  local i
  i=$(host_index "$host")
  [ -e "/run/netns/$(ns "$i")" ] || { echo "hosts.sh: host $host is not up (bash .ci/hosts.sh up N)" >&2; exit 2; }
  local mnt=()
  # from outside the hosts' mount namespace, enter it; on a host already (an MPI launcher's ssh from one host to
  # another) we are in it, and its own file is not seen from inside (it was bound outside, after it was made)
  if [ "$(stat -f -c %T "$DIR/cluster.mnt" 2>/dev/null)" = nsfs ]; then
    mnt=(--mount="$DIR/cluster.mnt")
  fi
  exec nsenter --net="/run/netns/$(ns "$i")" --uts="$DIR/$host.uts" "${mnt[@]}" -- \
    sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' sh "$PWD" "$@"
}

link() {
  local i
  i=$(host_index "$1")
  ip link set "gnp-v$i" "$2"
}

kill_host() {
  local i pids
  i=$(host_index "$1")
  pids=$(ip netns pids "$(ns "$i")" 2>/dev/null || true)
  [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

down() {
  local i
  slurm_down
  for i in $(seq 1 8); do
    if [ -e "/run/netns/$(ns "$i")" ]; then
      kill_host "node$i"
      ip netns del "$(ns "$i")" 2>/dev/null || true
    fi
    ip link del "gnp-v$i" 2>/dev/null || true
    [ -d "$DIR" ] && umount "$DIR/node$i.uts" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [ -d "$DIR" ]; then
    umount "$DIR/cluster.mnt" 2>/dev/null || true
    umount "$DIR" 2>/dev/null || true
    rm -rf "$DIR"
  fi
}

slurm_up() {  # a Slurm of the hosts: slurmctld on node1, a slurmd on every host, a munged of their own
  local n s cpus mem i up
  n=$(cat "$DIR/count")
  s="$DIR/slurm"
  mkdir -p "$s/ctld" "$s/log" "$s/d"
  cpus=$(nproc)
  mem=$(awk -v n="$n" '/MemTotal/ {print int($2 / 1024 * 0.9 / n)}' /proc/meminfo)
  {
    echo "ClusterName=gnnpart-hosts"
    echo "FirstJobId=$(( $(date +%s) % 50000000 + 1000 ))"
    echo "SlurmctldHost=node1"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "AuthInfo=socket=$s/munge.socket"
    echo "CredType=cred/munge"
    echo "MailProg=/bin/true"
    echo "MpiDefault=none"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "ReturnToService=2"
    echo "SlurmctldPidFile=$s/slurmctld.pid"
    echo "SlurmdPidFile=$s/slurmd-%n.pid"
    echo "SlurmdSpoolDir=$s/d/%n"
    echo "StateSaveLocation=$s/ctld"
    echo "SlurmctldLogFile=$s/log/slurmctld.log"
    echo "SlurmdLogFile=$s/log/slurmd-%n.log"
    echo "SlurmctldPort=6817"
    echo "SlurmdPort=6818"
    echo "SchedulerType=sched/backfill"
    echo "KillWait=5"
    echo "InactiveLimit=0"
    echo "MinJobAge=30"
    echo "SlurmdTimeout=10"  # a node whose slurmd is gone is taken for failed in 10 s (Slurm's default: 300)
    echo "MessageTimeout=5"
    echo "EioTimeout=5"      # srun waits 5 s for a lost node's output streams (default: 60)
    echo "NodeName=node[1-$n] CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=hosts Nodes=node[1-$n] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE"
  } > "$s/slurm.conf"
  munged --force --socket="$s/munge.socket" --pid-file="$s/munged.pid" --log-file="$s/log/munged.log" \
    --seed-file="$s/munged.seed"
  bash "$HERE/hosts.sh" exec node1 env SLURM_CONF="$s/slurm.conf" slurmctld -f "$s/slurm.conf"
  for i in $(seq 1 "$n"); do
    mkdir -p "$s/d/node$i"
    bash "$HERE/hosts.sh" exec "node$i" env SLURM_CONF="$s/slurm.conf" slurmd -f "$s/slurm.conf"
  done
  for i in $(seq 1 120); do
    up=$(bash "$HERE/hosts.sh" exec node1 env SLURM_CONF="$s/slurm.conf" sinfo -h -N -o '%T' 2>/dev/null \
         | grep -cE '^(idle|mixed|allocated)' || true)
    if [ "$up" = "$n" ]; then
      echo "[hosts] Slurm up: node1 .. node$n; SLURM_CONF=$s/slurm.conf"
      return 0
    fi
    sleep 0.5
  done
  echo "[hosts] Slurm's nodes did not come up; the logs:" >&2
  tail -20 "$s"/log/*.log >&2 || true
  return 1
}

slurm_down() {  # the daemons, by the PIDs they wrote (the hosts' own processes go with `down`)
  local s="$DIR/slurm" f pid i
  [ -d "$s" ] || return 0
  for f in "$s"/slurmd-*.pid "$s/slurmctld.pid" "$s/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

check() {  # nothing of ours left: namespaces, links, mounts, files
  local left=""
  ls /run/netns 2>/dev/null | grep -q '^gnp-node' && left="$left namespaces"
  ip -o link show 2>/dev/null | grep -qE ': gnp-' && left="$left links"
  grep -q "$DIR" /proc/mounts && left="$left mounts"
  [ -e "$DIR" ] && left="$left files"
  [ -z "$left" ] || { echo "hosts.sh: left behind:$left" >&2; exit 1; }
}

install_tools() {
  if ! command -v ip >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1
  then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "[hosts] iproute2 and util-linux (apt)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq iproute2 util-linux >/dev/null
  fi
}

case "${1:-}" in
  install) install_tools ;;
  up) up "${2:-}" ;;
  exec) shift; on "$@" ;;
  link) link "${2:?host}" "${3:?up or down}" ;;
  kill) kill_host "${2:?host}" ;;
  down) down ;;
  check) check ;;
  slurm) case "${2:-}" in up) slurm_up ;; down) slurm_down ;; *) echo "usage: hosts.sh slurm up|down" >&2; exit 2 ;; esac ;;
  *) echo "usage: bash .ci/hosts.sh up N | exec HOST CMD... | link HOST up|down | kill HOST | slurm up|down | down |" \
       "check" >&2; exit 2 ;;
esac
