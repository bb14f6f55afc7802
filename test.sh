#!/usr/bin/env bash
# Runs the test suite: installs what it needs (JDK 25 is expected under /usr/lib/jvm; Maven and
# the Fashion-MNIST data come from apt), then `mvn verify`. GPU tests skip without a GPU.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v mvn >/dev/null || need+=(maven)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi
for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  if [ -n "$c" ] && [ -x "$c/bin/java" ] && "$c/bin/java" -version 2>&1 | head -n1 | grep -Eq '"(2[5-9]|[3-9][0-9])'; then
    export JAVA_HOME=$c; break
  fi
done
[ -n "${JAVA_HOME:-}" ] && "$JAVA_HOME/bin/java" -version 2>&1 | head -n1 | grep -Eq '"(2[5-9]|[3-9][0-9])' \
  || { echo "test.sh: no JDK >= 25 found (JAVA_HOME, /usr/lib/jvm/*); install Temurin 25 or set JAVA_HOME" >&2; exit 1; }
exec mvn -B -ntp verify "$@"
