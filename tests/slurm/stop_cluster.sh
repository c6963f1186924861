#!/bin/bash
# Stop what tests/slurm/start_cluster.sh started, by the PIDs in the daemons' pid files.
stop() {  # name pidfile
  local pid
  [ -s "$2" ] || return 0
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "$1 ($pid) stopped"
  fi
  rm -f "$2"
}
# Cancel what is still queued or running first: job steps outlive a stopped slurmd.
if [ -s /run/slurm/slurmctld.pid ] && scancel --partition=debug 2>/dev/null; then
  for _ in $(seq 100); do [ -z "$(squeue -h -t PD,R,CG 2>/dev/null)" ] && break; sleep 0.1; done
fi
stop slurmd /run/slurm/slurmd.pid
stop slurmctld /run/slurm/slurmctld.pid
stop munged /run/munge/munged.pid
