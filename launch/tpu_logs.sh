#!/usr/bin/env bash
# Streams the log of the run started by tpu_run.sh (Ctrl-C stops streaming, not the run).
#
#   launch/tpu_logs.sh --name=NAME --zone=ZONE [--worker=0] [--project=PROJECT] [--dry-run]
#
#   --worker   which worker's log (default 0, the one that prints metrics); "all" interleaves
#              every worker's log, each line prefixed by gcloud with the worker's address

source "$(dirname "$0")/common.sh"

FLAG_name="" FLAG_zone="" FLAG_project="" FLAG_worker=0
parse_flags "$@"
check_tpu_target
worker="$FLAG_worker"
[[ "$worker" =~ ^([0-9]+|all)$ ]] || die "--worker='$worker' must be a worker index (0, 1, ...) or 'all'"
need_gcloud
gcloud_flags

on_workers "$worker" "tail -n +1 -F $REMOTE_DIR/run.log"
