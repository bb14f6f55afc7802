#!/usr/bin/env bash
# The container's entrypoint: `vit` with the launcher's JVM flags (scripts/jvm.sh, copied to
# /opt/vit). Computing commands without --backend get cuda when a GPU is visible, cpu otherwise,
# and say which. Runs write under /runs (the documented volume); when /runs is a host folder
# owned by a non-root user, the command runs as that user, so the files are the host user's.
set -euo pipefail
. /opt/vit/jvm.sh
args=("$@")
case "$(vit_subcommand "$@")" in
  train|eval|probe|fewshot|predict|bench)
    given=0
    for a in "$@"; do case "$a" in --backend|--backend=*) given=1 ;; esac; done
    if [ $given = 0 ]; then
      if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
        echo "vit (container): a GPU is visible ($(nvidia-smi -L | head -n1)); using --backend cuda" >&2
        args+=(--backend cuda)
      else
        echo "vit (container): no GPU visible (docker run --gpus all ... to use one); using --backend cpu" >&2
      fi
    fi ;;
esac
# shellcheck disable=SC2046
cmd=(java $(vit_jvm_flags "$@") ${VIT_JAVA_OPTS:-} -jar /opt/vit/vit.jar "${args[@]}")
umask 0022
owner=$(stat -c %u /runs 2>/dev/null || echo 0)
if [ "$(id -u)" = 0 ] && [ "$owner" != 0 ]; then
  exec setpriv --reuid="$owner" --regid="$(stat -c %g /runs)" --clear-groups env HOME=/tmp "${cmd[@]}"
fi
exec "${cmd[@]}"
