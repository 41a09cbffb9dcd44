#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the end-to-end test, as root.
#   cluster.sh start STATE_DIR   installs slurm-wlm/munge when missing, writes slurm.conf, starts
#                                munged, slurmctld and slurmd, waits for the node to be idle
#   cluster.sh stop STATE_DIR    stops the daemons this script started and removes STATE_DIR
# The daemons read /etc/slurm/slurm.conf (where Debian's sbatch/squeue look); start saves an
# existing one and stop puts it back.
set -uo pipefail

cmd=${1:?usage: cluster.sh start|stop STATE_DIR}
state=${2:?usage: cluster.sh start|stop STATE_DIR}
conf=/etc/slurm/slurm.conf

die() { echo "slurm cluster: $*" >&2; exit 1; }

stop() {
  for name in slurmd slurmctld munged; do
    if [ -f "$state/$name.pid" ]; then
      pid=$(cat "$state/$name.pid" 2>/dev/null)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
  done
  if [ -f "$state/slurm.conf.saved" ]; then
    cp "$state/slurm.conf.saved" "$conf"
  elif [ -f "$state/slurm.conf.ours" ]; then
    rm -f "$conf"
  fi
  rm -rf "$state"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as root here)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null \
     || ! command -v sbatch >/dev/null; then
    echo "slurm cluster: installing slurm-wlm and munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && \
           apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1; } \
      || die "could not install slurm-wlm and munge with apt-get"
  fi
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    die "a slurmctld or slurmd is already running on this machine; stop it first"
  fi
  mkdir -p "$state"/{spool/ctld,spool/d,log,munge} || die "cannot create $state"
  chmod 700 "$state/munge"
  # munge: our own key, socket and pid file, so a system munged (if any) is left alone.
  dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$state/munge/munge.key"
  local sock="$state/munge/munge.socket"
  munged --force --key-file="$state/munge/munge.key" --socket="$sock" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" \
    --seed-file="$state/munge/seed" 2>"$state/log/munged.err" \
    || die "munged did not start: $(tail -1 "$state/log/munged.err" "$state/log/munged.log" 2>/dev/null | tr '\n' ' ')"

  local host cpus mem_mb
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  mkdir -p /etc/slurm
  if [ -f "$conf" ]; then cp "$conf" "$state/slurm.conf.saved"; fi
  cat > "$state/slurm.conf" <<CONF
ClusterName=xaitest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=10
MpiDefault=none
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  cp "$state/slurm.conf" "$conf"
  touch "$state/slurm.conf.ours"
  slurmctld -i 2>"$state/log/slurmctld.err" \
    || die "slurmctld did not start: $(tail -2 "$state/log/slurmctld.log" 2>/dev/null | tr '\n' ' ')"
  slurmd 2>"$state/log/slurmd.err" \
    || die "slurmd did not start: $(tail -2 "$state/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
  for _ in $(seq 60); do
    s=$(sinfo -h -N -o '%T' 2>/dev/null | head -1)
    case "$s" in idle|idle\*) [ "$s" = idle ] && return 0 ;; esac
    sleep 0.5
  done
  die "the node did not become idle within 30 s (state '${s:-none}'): $(tail -3 "$state/log/slurmctld.log" "$state/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) die "unknown command '$cmd' (start or stop)" ;;
esac
