#!/usr/bin/env bash
# Lists the extern "C" __global__ kernels of src/main/cuda with their parameter names, their
# __launch_bounds__ (an expression of the sources' macros, 0 when absent) and __cluster_dims__ (three
# expressions, 1, 1, 1 when absent), as EMU_SOURCE_KERNEL(name, "p0,p1,...", bound, cx, cy, cz) lines
# for registry.cpp, and fails when registry.cpp's
# table (its EMU_KERNEL lines) and the sources disagree in either direction.
# Usage: gen-kernel-list.sh CUDA_SRC_DIR REGISTRY_CPP OUT_INC
set -euo pipefail
src=$1 reg=$2 out=$3
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat "$src"/*.cu | perl -0777 -ne '
  while (/extern\s+"C"\s+__global__\s+void\s+((?:(?:__launch_bounds__|__cluster_dims__)\s*\([^)]*\)\s*)*)(\w+)\s*\(([^)]*)\)/g) {
    my ($attrs, $n, $p) = ($1, $2, $3);
    my $b = $attrs =~ /__launch_bounds__\s*\(([^)]*)\)/ ? $1 : "0";
    $b =~ s/,.*//s;   # __launch_bounds__(maxThreads, minBlocks): the first is the limit
    my @c = $attrs =~ /__cluster_dims__\s*\(([^)]*)\)/ ? split(/,/, $1) : ();
    push @c, "1" while @c < 3;   # __cluster_dims__(X) means (X, 1, 1)
    my @names = map { /(\w+)\s*$/ ? $1 : "?" } split /,/, $p;
    print "EMU_SOURCE_KERNEL($n, \"", join(",", @names), "\", $b, ", join(", ", map { s/^\s+|\s+$//gr } @c), ")\n";
  }' | sort > "$tmp"
src_names=$(sed 's/EMU_SOURCE_KERNEL(\([a-z_0-9A-Z]*\),.*/\1/' "$tmp" | sort)
tab_names=$(grep -v '^#define' "$reg" | grep -o 'EMU_KERNEL([A-Za-z_0-9]*)' | sed 's/EMU_KERNEL(\(.*\))/\1/' | sort)
missing=$(comm -23 <(echo "$src_names") <(echo "$tab_names"))
extra=$(comm -13 <(echo "$src_names") <(echo "$tab_names"))
if [ -n "$missing$extra" ]; then
  [ -n "$missing" ] && echo "[emu] kernels in src/main/cuda missing from registry.cpp's table: $(echo $missing)" >&2
  [ -n "$extra" ] && echo "[emu] kernels in registry.cpp's table not in src/main/cuda: $(echo $extra)" >&2
  echo "[emu] add or remove the EMU_KERNEL(...) lines in $reg" >&2
  exit 1
fi
if ! cmp -s "$tmp" "$out" 2>/dev/null; then cp "$tmp" "$out"; fi
