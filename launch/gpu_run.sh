#!/usr/bin/env bash
# Trains or runs an experiment on this machine's GPUs (one host, one process, all local GPUs).
#
#   launch/gpu_run.sh --setup [--venv=DIR] [--jax-extra=cuda12] [--dry-run]
#   launch/gpu_run.sh --workdir=DIR --config=configs/causal_decoder.py:base [--venv=DIR]
#       [--dry-run] [-- OVERRIDES]
#   launch/gpu_run.sh --workdir=DIR --experiment=arch_objective [--scale=quick] [-- ...]
#
#   --setup       create the virtualenv (Python >= 3.12) and install t5x_style with jax[cuda]
#   --venv        the virtualenv (default ~/.venvs/t5x_style-gpu)
#   --jax-extra   cuda12 (default; NVIDIA driver >= 525) or cuda13 (driver >= 580)
#   --python      the interpreter that builds the virtualenv (default python3.12)
#   OVERRIDES     passed to python unchanged, e.g. --config.model.dtype=bfloat16

source "$(dirname "$0")/common.sh"

FLAG_workdir="" FLAG_config="" FLAG_experiment="" FLAG_scale=quick
FLAG_venv="$HOME/.venvs/t5x_style-gpu" FLAG_jax_extra=cuda12 FLAG_python=python3.12 FLAG_setup=false
parse_flags "$@"
venv="$FLAG_venv"
jax_extra="$FLAG_jax_extra"
[[ "$jax_extra" =~ ^cuda1[23]$ ]] || die "--jax-extra='$jax_extra' is not allowed; allowed: cuda12, cuda13"

if [[ "$FLAG_setup" == true ]]; then
  python="$FLAG_python"
  if [[ "$DRY_RUN" != true ]]; then
    command -v "$python" >/dev/null 2>&1 || die "'$python' not found; install Python >= 3.12 \
(e.g. uv python install 3.12) or pass --python=PATH"
  fi
  run "$python" -m venv "$venv"
  run "$venv/bin/python" -m pip install --quiet -e "$REPO_DIR" "jax[$jax_extra]$JAX_PIN"
  [[ -z "$FLAG_workdir" ]] && exit 0
fi

require_flags workdir
select_run_command
if [[ "$DRY_RUN" != true ]]; then
  command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: this script is for a \
host with NVIDIA GPUs and drivers; on CPU run python -m t5x_style.train directly"
  [[ -x "$venv/bin/python" ]] || die "no virtualenv at $venv; run launch/gpu_run.sh --setup first"
fi
cd "$REPO_DIR"
run "$venv/bin/python" "${python_args[@]}" "${EXTRA_ARGS[@]}"
