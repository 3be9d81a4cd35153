#!/usr/bin/env bash
# Deletes a Cloud TPU VM (all its workers), or the queued resource that holds it.
#
#   launch/tpu_delete.sh --name=NAME --zone=ZONE [--project=PROJECT] [--queued] [--dry-run]
#
#   --queued   the TPU was created with tpu_create.sh --queued (deletes the request and its VM)
# The workdir on GCS is kept.

source "$(dirname "$0")/common.sh"

FLAG_name="" FLAG_zone="" FLAG_project="" FLAG_queued=false
parse_flags "$@"
check_tpu_target
need_gcloud
gcloud_flags

if [[ "$FLAG_queued" == true ]]; then
  run "$GCLOUD" compute tpus queued-resources delete "$FLAG_name" "${GCLOUD_FLAGS[@]}" --force --quiet
else
  run "$GCLOUD" compute tpus tpu-vm delete "$FLAG_name" "${GCLOUD_FLAGS[@]}" --quiet
fi
