#!/usr/bin/env bash
# Starts a training run or an experiment on every worker of a TPU VM at once, in the background
# (one JAX process per worker), or stops it. Follow it with tpu_logs.sh.
#
#   launch/tpu_run.sh --name=NAME --zone=ZONE --type=TYPE --workdir=gs://BUCKET/DIR \
#       --config=configs/causal_decoder.py:xl [--project=PROJECT] [--dry-run] [-- OVERRIDES]
#   launch/tpu_run.sh ... --experiment=arch_objective [--scale=tpu] [-- --arms_dir=gs://...]
#   launch/tpu_run.sh --name=NAME --zone=ZONE --stop
#
#   --type        the slice's accelerator type (as given to tpu_create.sh): decides how many
#                 hosts there are; with more than one, --workdir must be gs:// and the processes
#                 join with jax.distributed (JAX detects the pod: --config.mesh.distributed=True
#                 for training, --distributed for an experiment)
#   --config      a configs/*.py file (':arg' picks the size or arm) for python -m t5x_style.train
#   --experiment  a study for python -m t5x_style.experiments, at --scale (default tpu)
#   --stop        SIGTERM the run on every worker: training saves a checkpoint and exits
#   OVERRIDES     passed to python unchanged, e.g. --config.train.num_steps=20000

source "$(dirname "$0")/common.sh"

FLAG_name="" FLAG_zone="" FLAG_type="" FLAG_project="" FLAG_workdir=""
FLAG_config="" FLAG_experiment="" FLAG_scale=tpu FLAG_stop=false
parse_flags "$@"
check_tpu_target
pid_file="$REMOTE_DIR/run.pid"
log_file="$REMOTE_DIR/run.log"

if [[ "$FLAG_stop" == true ]]; then
  need_gcloud
  gcloud_flags
  on_workers all "if [ -f $pid_file ] && kill -TERM \"\$(cat $pid_file)\" 2>/dev/null; then \
echo \"\$(hostname): SIGTERM sent\"; else echo \"\$(hostname): no run\"; fi"
  exit 0
fi

require_flags type workdir
check_tpu_type "$FLAG_type"
hosts="$(tpu_hosts "$FLAG_type")"
check_workdir "$FLAG_workdir" "$hosts"
select_run_command
if ((hosts > 1)); then
  if [[ -n "$FLAG_config" ]]; then
    python_args+=(--config.mesh.distributed=True)
  else
    # --distributed joins the pod before the study (its arms' configs keep
    # mesh.distributed=False, so train_and_evaluate does not initialize again).
    python_args+=(--distributed)
  fi
fi
python_args+=("${EXTRA_ARGS[@]}")
need_gcloud
gcloud_flags

echo "# $FLAG_type: $hosts host(s), one process each; log on each worker: $log_file"
on_workers all "cd $REMOTE_DIR/src || exit 1; \
if [ -f $pid_file ] && kill -0 \"\$(cat $pid_file)\" 2>/dev/null; then \
echo \"\$(hostname): a run is still going (pid \$(cat $pid_file)); tpu_run.sh --stop first\" >&2; exit 1; fi; \
setsid nohup $REMOTE_DIR/venv/bin/python $(quote_all "${python_args[@]}") > $log_file 2>&1 < /dev/null & \
echo \$! > $pid_file; echo \"\$(hostname): started pid \$!\""
echo "# logs: launch/tpu_logs.sh --name=$FLAG_name --zone=$FLAG_zone"
