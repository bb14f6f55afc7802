#!/usr/bin/env bash
# run-all.sh's mesh stage: the sharded step with every rank on ONE GPU (DeviceMesh: own streams
# per rank, transfers as device-to-device copies ordered by CUDA events).
#   1. DeviceShardedStepTest: two sharded steps (meshes 1x2 and 2x1) equal two unsharded steps
#      on the GPU (and on the emulator, as in CI), < 1e-5 per parameter tensor;
#   2. vit mesh-train --backend cuda, traced, with overlap and with --no-overlap: prints each
#      rank's communication, exposed communication and compute time (from CUDA events);
#      the overlapped trace goes to $OUT/mesh_trace.json.
# Usage (from run-all.sh): bench/gpu/mesh-one-gpu.sh OUT JAVA_COMMAND...
# (MESH_BACKEND=cuda-emu MESH_MODEL=test-tiny MESH_BATCH=4 tries it without a GPU, on the emulator.)
set -uo pipefail
out=$1; shift
backend=${MESH_BACKEND:-cuda} model=${MESH_MODEL:-vit-b} batch=${MESH_BATCH:-16} mesh=${MESH_SHAPE:-1x2} steps=${MESH_STEPS:-2}
rc=0
"$@" vit22b.backend.cuda.GpuTestMain vit22b.mesh.device.DeviceShardedStepTest || rc=1
for mode in overlap no-overlap; do
  flag=(); trace=$out/mesh_trace.json
  [ $mode = no-overlap ] && { flag=(--no-overlap); trace=$(mktemp /tmp/mesh_trace.XXXXXX.json); }
  log=$("$@" vit22b.cli.Main mesh-train --backend "$backend" --mesh "$mesh" --model "$model" --batch "$batch" \
        --steps "$steps" --trace "$trace" "${flag[@]}" 2>&1) || rc=1
  echo "$log"
  # One line per rank for the summary: the times cover every step, the first (allocating) one included.
  echo "$log" | grep -E '^device [0-9]+: communication' | sed "s/^/mesh $mesh $model batch $batch $steps steps, $mode: /"
  [ $mode = no-overlap ] && rm -f "$trace"
done
exit $rc
