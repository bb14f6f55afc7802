#!/usr/bin/env bash
# Runs the test suite: installs what it needs (JDK 25 is expected under /usr/lib/jvm; Maven and
# the Fashion-MNIST data come from apt), then `mvn verify`. The CUDA tests run on the emulated
# device (built with g++), and on GPU 0 as well where one is present.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/jvm.sh
need=()
command -v mvn >/dev/null || need+=(maven)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
vit_apt_install "${need[@]}"
JAVA_HOME=$(vit_find_jdk 2>&1) || { echo "test.sh: $JAVA_HOME" >&2; exit 1; }
export JAVA_HOME
exec mvn -B -ntp verify "$@"
