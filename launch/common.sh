# shellcheck shell=bash
# Helpers shared by the launch scripts (sourced, never run): flag parsing, input validation,
# quoting, and `run`, which prints each command and executes it unless --dry-run was given.
#
# Every check runs before the first command that creates or changes anything, so bad input
# costs nothing. $GCLOUD names the gcloud binary (default: gcloud on PATH).

# shellcheck disable=SC2034  # The globals below are read by the scripts that source this file.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where each worker keeps the source, the virtualenv and the run's log and pid.
REMOTE_DIR="\$HOME/t5x_style"
# jax[tpu] / jax[cudaNN] must match setup.py's jax pin.
JAX_PIN='>=0.12,<0.13'
DRY_RUN=false
# Flags of every script: --dry-run prints the commands instead of running them; --help.
FLAG_dry_run=false
FLAG_help=false

die() {
  echo "error: $*" >&2
  exit 2
}

usage() {
  # The script's header comment (from line 2 to the first blank line) is its help text.
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

# parse_flags "$@": --flag=value or --flag value sets FLAG_<flag> (dashes become underscores),
# for each FLAG_* the calling script declared with its default; one declared `false` is a switch
# (--flag sets it to true). Arguments after `--` go to EXTRA_ARGS unchanged.
parse_flags() {
  EXTRA_ARGS=()
  while (($#)); do
    local arg="$1" key variable
    shift
    if [[ "$arg" == "--" ]]; then
      EXTRA_ARGS=("$@")
      break
    fi
    [[ "$arg" == --?* ]] || die "unexpected argument '$arg' (flags are --name=value; arguments for python go after --)"
    key="${arg#--}"
    key="${key%%=*}"
    variable="FLAG_${key//-/_}"
    if [[ ! "$key" =~ ^[a-z][a-z0-9-]*$ ]] || ! declare -p "$variable" >/dev/null 2>&1; then
      die "unknown flag '--$key'; allowed: $(compgen -v FLAG_ | sed 's/^FLAG_/--/; s/_/-/g' | tr '\n' ' ')"
    fi
    if [[ "${!variable}" == false ]]; then
      [[ "$arg" != *=* ]] || die "--$key is a switch and takes no value (got '$arg')"
      printf -v "$variable" '%s' true
    elif [[ "$arg" == *=* ]]; then
      printf -v "$variable" '%s' "${arg#*=}"
    else
      (($#)) || die "--$key needs a value"
      printf -v "$variable" '%s' "$1"
      shift
    fi
  done
  if [[ "$FLAG_help" == true ]]; then
    usage
    exit 0
  fi
  DRY_RUN="$FLAG_dry_run"
}

# require_flags NAME...: each --NAME must have been given a non-empty value.
require_flags() {
  local name variable
  for name in "$@"; do
    variable="FLAG_${name//-/_}"
    [[ -n "${!variable:-}" ]] || die "--$name is required (see --help)"
  done
}

# quote ARG: ARG as one shell word, unquoted when that is safe, so printed commands paste back.
quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=@,+%^-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# quote_all ARGS...: the arguments quoted and joined by spaces.
quote_all() {
  local out=() arg
  for arg in "$@"; do
    out+=("$(quote "$arg")")
  done
  echo "${out[*]}"
}

# run COMMAND...: prints "+ COMMAND" and runs it, or only prints it under --dry-run.
run() {
  echo "+ $(quote_all "$@")"
  if [[ "$DRY_RUN" != true ]]; then
    "$@"
  fi
}

# Sets python_args to the command of --config=FILE[:ARG] (training) or --experiment=STUDY
# (a study at --scale), exactly one of the two, with --workdir.
select_run_command() {
  if [[ -n "$FLAG_config" && -n "$FLAG_experiment" ]] || [[ -z "$FLAG_config$FLAG_experiment" ]]; then
    die "give exactly one of --config=configs/FILE.py[:ARG] (training) or --experiment=STUDY"
  fi
  if [[ -n "$FLAG_config" ]]; then
    local config_file="${FLAG_config%%:*}"
    [[ -f "$REPO_DIR/$config_file" ]] || die "--config='$FLAG_config': no file $config_file in \
this checkout; allowed: $(cd "$REPO_DIR" && echo configs/*.py configs/experiments/*.py)"
    python_args=(-m t5x_style.train "--config=$FLAG_config" "--workdir=$FLAG_workdir")
  else
    python_args=(-m t5x_style.experiments "--name=$FLAG_experiment" "--scale=$FLAG_scale"
      "--workdir=$FLAG_workdir")
  fi
}

# need_gcloud: gcloud must exist, unless this is a dry run (which only prints).
need_gcloud() {
  GCLOUD="${GCLOUD:-gcloud}"
  [[ "$DRY_RUN" == true ]] && return 0
  command -v "$GCLOUD" >/dev/null 2>&1 || die "'$GCLOUD' not found on PATH. Install the Google \
Cloud CLI (https://cloud.google.com/sdk/docs/install), run 'gcloud auth login' and \
'gcloud config set project PROJECT', or set GCLOUD to its path; --dry-run prints the commands \
without it"
}

# The accelerator types these scripts know, by generation (Cloud TPU docs, "TPU versions").
# v4 and v5p count TensorCores (2 per chip, 4 chips per VM); v5litepod and v6e count chips
# (up to 8 on one VM, 4 per VM in multi-host slices).
KNOWN_TPU_TYPES="$(
  for n in 8 16 32 64 128 256 512 1024 2048 4096; do echo "v4-$n"; done
  for n in 1 4 8 16 32 64 128 256; do echo "v5litepod-$n"; done
  for n in 8 16 32 64 128 256 512 1024 2048 4096 8192 12288; do echo "v5p-$n"; done
  for n in 1 4 8 16 32 64 128 256; do echo "v6e-$n"; done
)"

check_tpu_type() {
  grep -qx -- "$1" <<<"$KNOWN_TPU_TYPES" || die "unknown TPU type '$1'; allowed: \
$(echo "$KNOWN_TPU_TYPES" | tr '\n' ' ')"
}

# tpu_hosts TYPE: how many TPU VMs (workers, JAX processes) a slice of TYPE has.
tpu_hosts() {
  local generation="${1%-*}" size="${1##*-}"
  case "$generation" in
    v4 | v5p) echo $(((size + 7) / 8)) ;;
    v5litepod | v6e) if ((size <= 8)); then echo 1; else echo $((size / 4)); fi ;;
  esac
}

# default_runtime TYPE: the TPU software version for JAX on that generation.
default_runtime() {
  case "${1%-*}" in
    v4) echo tpu-ubuntu2204-base ;;
    v5litepod) echo v2-alpha-tpuv5-lite ;;
    v5p) echo v2-alpha-tpuv5 ;;
    v6e) echo v2-alpha-tpuv6e ;;
  esac
}

check_zone() {
  if [[ "$1" =~ ^[a-z]+-[a-z]+[0-9]+$ ]]; then
    die "zone '$1' is a region; add the zone letter, e.g. '$1-a' (gcloud compute tpus locations list)"
  fi
  [[ "$1" =~ ^[a-z]+-[a-z]+[0-9]+-[a-z]$ ]] || die "zone '$1' is not a zone name like \
us-central2-b or europe-west4-a (region-zone letter, lower case)"
}

check_name() {
  [[ "$1" =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "--name='$1' must be lower-case \
letters, digits and dashes, start with a letter and not end with a dash (GCE resource name)"
}

# The flags every TPU script needs, present and well-formed, before any gcloud call.
check_tpu_target() {
  require_flags name zone
  check_name "${FLAG_name:-}"
  check_zone "${FLAG_zone:-}"
}

# check_workdir WORKDIR HOSTS: every process of a multi-host run must see the same workdir,
# so it has to be on GCS there.
check_workdir() {
  if (($2 > 1)) && [[ "$1" != gs://?* ]]; then
    die "--workdir='$1' is not a GCS path, but this slice has $2 hosts that must share it; \
use gs://BUCKET/PATH (create the bucket in the TPU's region: gcloud storage buckets create \
gs://BUCKET --location=REGION)"
  fi
}

# gcloud_flags: --zone and, if given, --project, for every gcloud call.
gcloud_flags() {
  GCLOUD_FLAGS=("--zone=$FLAG_zone")
  if [[ -n "$FLAG_project" ]]; then GCLOUD_FLAGS+=("--project=$FLAG_project"); fi
}

# on_workers WORKER COMMAND: runs the remote shell COMMAND on one worker or on all at once.
on_workers() {
  run "$GCLOUD" compute tpus tpu-vm ssh "${FLAG_name:?}" "${GCLOUD_FLAGS[@]}" "--worker=$1" \
    "--command=$2"
}
