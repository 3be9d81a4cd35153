#!/usr/bin/env bash
# Installs t5x_style on every worker of a TPU VM: Python 3.12 (uv), a virtualenv, jax[tpu].
#
#   launch/tpu_setup.sh --name=NAME --zone=ZONE [--project=PROJECT]
#       [--git-url=URL [--git-ref=main]] [--dry-run]
#
#   (default)   copy this checkout's committed HEAD (git archive) to every worker
#   --git-url   clone URL at --git-ref on every worker instead (the workers need access to it)
# TPU VM images ship Python 3.10; the package needs >= 3.12, so uv fetches a standalone 3.12.
# Each worker gets ~/t5x_style/{src,venv}. Run again after changing the code.

source "$(dirname "$0")/common.sh"

FLAG_name="" FLAG_zone="" FLAG_project="" FLAG_git_url="" FLAG_git_ref=main
parse_flags "$@"
check_tpu_target
need_gcloud
gcloud_flags

src="$REMOTE_DIR/src"
venv="$REMOTE_DIR/venv"
if [[ -n "$FLAG_git_url" ]]; then
  fetch="git clone --depth=1 --branch=$(quote "$FLAG_git_ref") $(quote "$FLAG_git_url") $src"
else
  archive="${TMPDIR:-/tmp}/t5x_style-src.tar.gz"
  run git -C "$REPO_DIR" archive --format=tar.gz "--output=$archive" HEAD
  run "$GCLOUD" compute tpus tpu-vm scp "$archive" "$FLAG_name:t5x_style-src.tar.gz" \
    "${GCLOUD_FLAGS[@]}" --worker=all
  fetch="mkdir -p $src && tar -xzf \$HOME/t5x_style-src.tar.gz -C $src"
fi
install=(
  "set -e"
  "mkdir -p $REMOTE_DIR"
  "rm -rf $src $venv"
  "$fetch"
  "python3 -m pip install --user --quiet --upgrade uv"
  "\$HOME/.local/bin/uv venv --quiet --python=3.12 $venv"
  "\$HOME/.local/bin/uv pip install --quiet --python=$venv/bin/python -e $src 'jax[tpu]$JAX_PIN'"
  "$venv/bin/python -c 'import jax, t5x_style.train; print(\"t5x_style ready, jax\", jax.__version__)'"
)
joined="$(printf '%s; ' "${install[@]}")"
on_workers all "${joined%; }"
