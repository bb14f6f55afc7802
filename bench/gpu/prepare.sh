#!/usr/bin/env bash
# Run HERE (a machine with Maven and JDK 25), from the project root: builds the CLI, the engine
# tests and the kernels fatbin, collects every jar the GPU host needs into target/gpu-jars and
# packs them with ../shared/gpu-host/pack.sh into .device/ (a jlink'd Java 25 runtime + jars).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/jvm.sh   # the one JDK finder (vit and test.sh use it too)
JAVA_HOME=$(vit_find_jdk 2>&1) || { echo "prepare.sh: $JAVA_HOME" >&2; exit 1; }
export JAVA_HOME
mvn -o -q -B -pl cli -am package -DskipTests
mvn -o -q -B -pl engine -am test-compile dependency:copy-dependencies -DincludeScope=test \
    -DoutputDirectory=target/test-lib -DexcludeGroupIds=vit22b
rm -rf target/gpu-jars && mkdir -p target/gpu-jars
cp cli/target/vit.jar cli/target/lib/*.jar target/gpu-jars/
cp engine/target/test-lib/junit-*.jar engine/target/test-lib/opentest4j-*.jar engine/target/test-lib/apiguardian-*.jar target/gpu-jars/ 2>/dev/null || true
# Only JCuda's driver library is used: drop its runtime, NVRTC and PTX-compiler natives (about
# 9 MB) so that .device/ stays under the device tool's 64 MiB.
zip -q -d target/gpu-jars/jcuda-natives-*.jar 'lib/libJNvPTXCompiler*' 'lib/libJNvrtc*' 'lib/libJCudaRuntime*'
"$JAVA_HOME/bin/jar" cf target/gpu-jars/vit22b-engine-tests.jar -C engine/target/test-classes .
unzip -l kernels/target/vit22b-kernels-*.jar 2>/dev/null | grep -q vit22b.fatbin \
  || { echo "prepare: the kernels jar holds no fatbin (nvcc missing?)" >&2; exit 1; }
pack=${PACK:-../shared/gpu-host/pack.sh}
[ -f "$pack" ] || pack=/work/shared/gpu-host/pack.sh
# pack.sh's default modules plus jdk.zipfs: GpuTestMain's package selection has JUnit open the
# jars as zip file systems; without it the scan finds no test class and only named ones run.
MODULES=${MODULES:-java.base,java.logging,java.management,jdk.unsupported,jdk.incubator.vector,jdk.zipfs} \
  bash "$pack" target/gpu-jars
