#!/usr/bin/env bash
# Runs the JMH benchmarks of bench/ with short settings (1 fork, 2 x 1 s warm-up, 3 x 2 s
# measurement) and writes JMH's JSON to bench/results/jmh-<device>-<UTC date>.json, <device> being
# "cpu" where nvidia-smi finds no GPU and "gpu-" and GPU 0's name otherwise (e.g. gpu-nvidia-h200):
# the file then holds the Gpu* benchmarks too.
# The JVM runs without C2's profiled loop predicates, as vit does (scripts/jvm.sh says why).
# Extra arguments go to JMH, e.g. a benchmark filter: bench/run-jmh.sh InProjection
# The Gpu* benchmarks (GPU 0) are left out, saying so, where nvidia-smi finds no GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/jvm.sh   # the one JDK finder (vit and test.sh use it too)
JAVA_HOME=$(vit_find_jdk 2>&1) || { echo "run-jmh.sh: $JAVA_HOME" >&2; exit 1; }
export JAVA_HOME
mvn -q -B -o -DskipTests package -pl bench -am >&2 || mvn -q -B -DskipTests package -pl bench -am >&2
mkdir -p bench/results
gpu=()
device=cpu
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "run-jmh.sh: no GPU (nvidia-smi): the Gpu* benchmarks are skipped" >&2
  gpu=(-e 'vit22b\.bench\.Gpu')
else
  device=gpu-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1 | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-*$//')
fi
out=bench/results/jmh-$device-$(date -u +%Y%m%dT%H%M%SZ).json
"$JAVA_HOME/bin/java" -cp "bench/target/vit22b-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*" org.openjdk.jmh.Main \
  -f 1 -wi 2 -w 1s -i 3 -r 2s \
  -jvmArgsAppend "--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:-UseProfiledLoopPredicate -Xmx4g" \
  -rf json -rff "$out" "${gpu[@]}" "$@"
echo "run-jmh.sh: wrote $out" >&2
