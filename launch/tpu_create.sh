#!/usr/bin/env bash
# Creates a Cloud TPU VM (one host or a pod slice), directly or as a queued resource.
#
#   launch/tpu_create.sh --name=NAME --zone=ZONE --type=TYPE [--runtime-version=VERSION]
#       [--project=PROJECT] [--queued] [--spot] [--dry-run]
#
#   --type             accelerator type: v4-8..v4-4096, v5litepod-1..256, v5p-8..12288, v6e-1..256
#   --runtime-version  TPU software version (default per generation: v4 tpu-ubuntu2204-base,
#                      v5litepod v2-alpha-tpuv5-lite, v5p v2-alpha-tpuv5, v6e v2-alpha-tpuv6e)
#   --queued           request a queued resource (waits in the queue until capacity is free;
#                      this script polls until it is ACTIVE); delete it with tpu_delete.sh --queued
#   --spot             Spot capacity (cheaper, preemptible; training resumes from checkpoints)
#   --dry-run          print every command without running it
# Next: launch/tpu_setup.sh with the same --name/--zone.

source "$(dirname "$0")/common.sh"

FLAG_name="" FLAG_zone="" FLAG_type="" FLAG_runtime_version="" FLAG_project=""
FLAG_queued=false FLAG_spot=false
parse_flags "$@"
require_flags type
check_tpu_target
check_tpu_type "$FLAG_type"
need_gcloud
gcloud_flags
runtime="${FLAG_runtime_version:-$(default_runtime "$FLAG_type")}"
hosts="$(tpu_hosts "$FLAG_type")"
spot=()
if [[ "$FLAG_spot" == true ]]; then spot=(--spot); fi

echo "# $FLAG_type in $FLAG_zone: $hosts host(s), runtime $runtime"
if [[ "$FLAG_queued" == true ]]; then
  run "$GCLOUD" compute tpus queued-resources create "$FLAG_name" "${GCLOUD_FLAGS[@]}" \
    "--node-id=$FLAG_name" "--accelerator-type=$FLAG_type" "--runtime-version=$runtime" \
    "${spot[@]}"
  describe=("$GCLOUD" compute tpus queued-resources describe "$FLAG_name" "${GCLOUD_FLAGS[@]}"
    "--format=value(state.state)")
  echo "# polled every 30 s until the state is ACTIVE:"
  run "${describe[@]}"
  if [[ "$DRY_RUN" != true ]]; then
    while true; do
      state="$("${describe[@]}")"
      case "$state" in
        ACTIVE) break ;;
        FAILED | SUSPENDED) die "queued resource $FLAG_name is $state: $GCLOUD compute tpus \
queued-resources describe $FLAG_name --zone=$FLAG_zone says why" ;;
      esac
      echo "# $(date +%H:%M:%S) $state"
      sleep 30
    done
  fi
else
  run "$GCLOUD" compute tpus tpu-vm create "$FLAG_name" "${GCLOUD_FLAGS[@]}" \
    "--accelerator-type=$FLAG_type" "--version=$runtime" "${spot[@]}"
fi
echo "# ready: launch/tpu_setup.sh --name=$FLAG_name --zone=$FLAG_zone"
